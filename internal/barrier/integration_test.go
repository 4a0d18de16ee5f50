package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/internal/barrier"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/membership"
)

// TestEpochs plays the epoch protocol as the coordinator and workers will:
// the job waits for two workers; a third joins between epochs and is in the
// next ring; one killed mid-epoch fails that epoch for everyone, and the
// others redo it under a new generation.
func TestEpochs(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const job, minWorkers = "job", 2
	w := startWorkers(ctx, t)

	// The coordinator waits for enough workers.
	ready := make(chan []string, 1)
	var g errgroup.Group
	g.Go(func() error {
		errEnough := errors.New("enough workers")
		err := membership.Watch(ctx, w.cli, func(s membership.Snapshot) error {
			if len(s.Members) < minWorkers {
				return nil
			}
			ready <- memberIDs(s.Members)
			return errEnough
		})
		if errors.Is(err, errEnough) {
			return nil
		}
		return err
	})
	w.join(ctx, t, "w0")
	w.join(ctx, t, "w1")
	if err := g.Wait(); err != nil {
		t.Fatalf("waiting for workers: %v", err)
	}
	ring, gen := <-ready, 0

	// At each barrier the coordinator reads the live membership and starts
	// a new generation when it changed.
	reorder := func() {
		t.Helper()
		ms, _, err := membership.List(ctx, w.cli)
		if err != nil {
			t.Fatal(err)
		}
		if next := memberIDs(ms); !slices.Equal(next, ring) {
			ring, gen = next, gen+1
		}
	}

	if err := epoch(ctx, w, job, 0, gen, ring, ""); err != nil {
		t.Fatalf("epoch 0 on %v: %v", ring, err)
	}
	w.join(ctx, t, "w2")
	reorder()
	if want := []string{"w0", "w1", "w2"}; !slices.Equal(ring, want) || gen != 1 {
		t.Fatalf("ring after a join: got %v generation %d want %v generation 1", ring, gen, want)
	}
	if err := epoch(ctx, w, job, 1, gen, ring, ""); err != nil {
		t.Fatalf("epoch 1 on %v: %v", ring, err)
	}

	start := time.Now()
	err := epoch(ctx, w, job, 2, gen, ring, "w1")
	var lost *barrier.LostError
	if !errors.As(err, &lost) || !slices.Equal(lost.Members, []string{"w1"}) {
		t.Fatalf("epoch 2 with w1 killed: got %v want w1 lost", err)
	}
	t.Logf("epoch 2 failed after %v: %v", time.Since(start), err)
	reorder()
	if want := []string{"w0", "w2"}; !slices.Equal(ring, want) || gen != 2 {
		t.Fatalf("ring after a death: got %v generation %d want %v generation 2", ring, gen, want)
	}
	if err := epoch(ctx, w, job, 2, gen, ring, ""); err != nil {
		t.Fatalf("epoch 2 redone on %v: %v", ring, err)
	}
}

// epoch runs one epoch on ring under generation gen. Every worker enters
// with a checksum of the parameters it starts from, checks they are all the
// same, and leaves with its new ones, while the coordinator waits for the
// leave. The worker named dead enters, then dies.
func epoch(ctx context.Context, w *workers, job string, e, gen int, ring []string, dead string) error {
	prefix := etcdkeys.Barrier(job, e, uint64(gen))
	end := make(chan error, 1)
	go func() {
		sums, err := barrier.New(w.cli, prefix, ring).Wait(ctx, etcdkeys.PhaseLeave)
		if err == nil {
			err = same(sums, fmt.Sprint("params-", e+1))
		}
		end <- err
	}()

	var g errgroup.Group
	for _, id := range ring {
		g.Go(func() error {
			b := barrier.New(w.clients[id], prefix, ring)
			sums, err := b.Enter(ctx, w.regs[id], fmt.Sprint("params-", e))
			if err == nil {
				err = same(sums, fmt.Sprint("params-", e))
			}
			if err != nil {
				return fmt.Errorf("%s entering: %w", id, err)
			}
			if id == dead {
				w.kill(id)
				return nil
			}
			sums, err = b.Leave(ctx, w.regs[id], fmt.Sprint("params-", e+1))
			if err == nil {
				err = same(sums, fmt.Sprint("params-", e+1))
			}
			if err != nil {
				return fmt.Errorf("%s leaving: %w", id, err)
			}
			return nil
		})
	}
	return errors.Join(g.Wait(), <-end)
}

// same checks every member brought the same checksum.
func same(sums map[string]string, want string) error {
	for id, sum := range sums {
		if sum != want {
			return fmt.Errorf("%s has parameters %s, want %s", id, sum, want)
		}
	}
	return nil
}

func memberIDs(ms []membership.Worker) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
