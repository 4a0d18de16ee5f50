package forming

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

func none(*Inbox[string, int]) error { return nil }

// TestOpenRefuses: an inbox cannot be opened twice, for an older
// generation, or once the table is closed.
func TestOpenRefuses(t *testing.T) {
	tab := New[string, int](time.Second)
	if _, err := tab.Open(Key{"j", 5, 0}, 2, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Open(Key{"j", 5, 0}, 2, ""); err == nil {
		t.Error("the same inbox twice: opened, want an error")
	}
	if _, err := tab.Open(Key{"j", 4, 1}, 2, ""); !errors.Is(err, allreduce.ErrGeneration) {
		t.Errorf("an older generation: got %v, want ErrGeneration", err)
	}
	if _, err := tab.Open(Key{"other", 1, 0}, 2, ""); err != nil {
		t.Errorf("another job's older generation: %v", err)
	}
	tab.Close()
	if _, err := tab.Open(Key{"j", 6, 0}, 2, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("closed: got %v, want ErrClosed", err)
	}
}

// TestClaim: a claim waits for its inbox, takes it once, and refuses what
// no predecessor of the ring would ask, with the status the call returns.
func TestClaim(t *testing.T) {
	tab := New[string, int](200 * time.Millisecond)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := tab.Claim(ctx, "j", 2, 0, 1, 2, func(ib *Inbox[string, int]) error { ib.Extra = 7; return nil })
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // the claim waits for the inbox
	ib, err := tab.Open(Key{"j", 2, 1}, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || ib.Extra != 7 || !ib.Claimed {
		t.Fatalf("claim: %v, extra %d, claimed %v", err, ib.Extra, ib.Claimed)
	}
	for _, tc := range []struct {
		name           string
		gen            uint64
		from, to, size uint32
		want           codes.Code
	}{
		{"again", 2, 0, 1, 2, codes.AlreadyExists},
		{"stale", 1, 0, 1, 2, codes.FailedPrecondition},
		{"other size", 2, 0, 1, 3, codes.InvalidArgument},
		{"not the predecessor", 2, 1, 1, 2, codes.InvalidArgument},
		{"never formed", 3, 0, 1, 2, codes.DeadlineExceeded},
	} {
		_, err := tab.Claim(ctx, "j", tc.gen, tc.from, tc.to, tc.size, none)
		if status.Code(err) != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
}

// TestDeliver: a link reaches a waiting ring once; one delivered into an
// inbox nobody takes comes back from Remove, and a removed inbox takes no
// link.
func TestDeliver(t *testing.T) {
	tab := New[string, int](time.Second)
	key := Key{"j", 1, 0}
	ib, _ := tab.Open(key, 2, "")
	if !tab.Deliver(ib, "a") {
		t.Fatal("deliver into an open inbox: refused")
	}
	if l, err := tab.Wait(context.Background(), ib); err != nil || l != "a" {
		t.Fatalf("wait: got %q, %v", l, err)
	}
	tab.Deliver(ib, "b")
	if l, ok := tab.Remove(key); !ok || l != "b" {
		t.Errorf("remove: got %q, %v; want the link nobody took", l, ok)
	}
	if tab.Deliver(ib, "c") {
		t.Error("deliver into a removed inbox: accepted")
	}
}
