package localcluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ringtrain/ringtrain/internal/coordconn"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/etcdtest"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// chaosEnv returns the integer in environment variable name, or def.
func chaosEnv(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}

// TestChaos injects a seeded schedule of faults into a job on a cluster of
// processes: three etcd members, two coordinators (a leader and a standby)
// sharing etcd and a data directory, and three workers given both
// coordinators' addresses. At random moments of random epochs it SIGKILLs
// the leading coordinator (starting a new standby in its place), SIGKILLs a
// worker (starting a replacement), SIGSTOPs a worker past the ring timeout
// and wakes it, or SIGKILLs an etcd member and starts it again 3 s later.
// The first four faults are the four kinds in a seeded order. The job must
// complete with the parameters and the saved model of an undisturbed run,
// and no epoch may wait longer than the coordinators' stall timeout.
//
// RINGTRAIN_CHAOS_FAULTS sets the number of faults (4 by default, as CI
// runs it; `make chaos` runs 24) and RINGTRAIN_CHAOS_SEED the schedule.
// The counts it logs are what docs/benchmarks.md records.
func TestChaos(t *testing.T) {
	faults := chaosEnv(t, "RINGTRAIN_CHAOS_FAULTS", 4)
	seed := chaosEnv(t, "RINGTRAIN_CHAOS_SEED", 1)
	epochs := 3*faults + 4
	spec := []byte(strings.Replace(strings.Replace(blobsJob, "EPOCHS", strconv.Itoa(epochs), 1), "samples: 600", "samples: 6000", 1))

	want := undisturbed(t, spec, 3)

	etcd := startEtcdCluster(t, 3)
	endpoints := etcd.endpoints
	cli := etcdtest.Client(t, endpoints)
	dataDir := t.TempDir()
	addrs := []string{freeAddr(t), freeAddr(t)}
	both := strings.Join(addrs, ",")
	coordinators := map[string]*process{}
	startCoordinator := func(addr string) {
		coordinators[addr] = startProcess(t, fmt.Sprintf("%s=%s %s %s", coordinatorProcessEnv, addr, strings.Join(endpoints, ","), dataDir))
	}
	for _, a := range addrs {
		startCoordinator(a)
	}
	var workers []*process
	next := 0
	addWorker := func() {
		next++
		workers = append(workers, startProcess(t, fmt.Sprintf("%s=%s %s chaos-%d %s", workerProcessEnv, both, strings.Join(endpoints, ","), next, 10*time.Second)))
	}
	for range 3 {
		addWorker()
	}

	// A job that does not end fails the test with what it last saw, before
	// the test binary's own timeout would kill it without.
	deadline := time.Now().Add(15 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	conn, err := coordconn.Dial(both, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	jobs := ringtrainv1.NewJobServiceClient(conn)
	j, err := jobs.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: spec, MinWorkers: 1}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}

	leader := func() string {
		resp, err := cli.Get(ctx, etcdkeys.CoordinatorElection, clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 {
			return ""
		}
		return string(resp.Kvs[0].Value)
	}
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	kinds := []string{"coordinator killed", "worker killed", "worker stopped", "etcd member killed"}
	first := rnd.Perm(len(kinds)) // each kind once, then any
	counts := map[string]int{}
	// worst is the longest wait for an epoch that a fault of each kind
	// (or a killed etcd member's restart) came in; lastFault the kind of
	// the fault in the current epoch.
	worst, lastFault := map[string]time.Duration{}, ""
	injected := 0
	var (
		last     *ringtrainv1.Job
		etcdDown = -1 // the member killed, until it is started again
		downAt   time.Time
	)
	seen, lastProgress, longest := int32(-1), time.Now(), time.Duration(0)
	for last == nil || !final(last.GetState()) {
		if ctx.Err() != nil {
			t.Fatalf("the job did not end; last seen %v", last)
		}
		time.Sleep(20 * time.Millisecond)
		if etcdDown >= 0 && time.Since(downAt) > 3*time.Second {
			etcd.members[etcdDown] = startProcess(t, etcd.envs[etcdDown])
			etcdDown = -1
			if lastFault == "" {
				lastFault = "etcd member restarted"
			}
		}
		got, err := jobs.GetJob(ctx, &ringtrainv1.GetJobRequest{JobId: j.GetId()})
		if err != nil {
			continue // a coordinator is taking over
		}
		last = got
		if ep := got.GetCheckpointEpoch(); ep != seen {
			seen = ep
			wait := time.Since(lastProgress)
			longest = max(longest, wait)
			if lastFault != "" {
				worst[lastFault] = max(worst[lastFault], wait.Round(time.Millisecond))
				lastFault = ""
			}
			lastProgress = time.Now()
			// One fault every few epochs, at a random moment of the epoch,
			// while enough epochs are left to run after it.
			if injected < faults && ep >= 1 && int(ep) < epochs-2 && rnd.IntN(2) == 0 {
				time.Sleep(time.Duration(rnd.IntN(60)) * time.Millisecond)
				kind := rnd.IntN(len(kinds))
				if injected < len(kinds) {
					kind = first[injected]
				}
				if kind == 3 && etcdDown >= 0 {
					kind = rnd.IntN(3) // one member down at a time keeps a quorum
				}
				switch kind {
				case 0:
					addr := leader()
					p, ok := coordinators[addr]
					if !ok {
						continue
					}
					p.signal(t, syscall.SIGKILL)
					<-p.exited
					startCoordinator(addr)
				case 1:
					i := rnd.IntN(len(workers))
					workers[i].signal(t, syscall.SIGKILL)
					<-workers[i].exited
					workers = append(workers[:i], workers[i+1:]...)
					addWorker()
				case 2:
					p := workers[rnd.IntN(len(workers))]
					p.signal(t, syscall.SIGSTOP)
					time.AfterFunc(4*time.Second, func() { p.cmd.Process.Signal(syscall.SIGCONT) })
				case 3:
					etcdDown, downAt = rnd.IntN(len(etcd.members)), time.Now()
					p := etcd.members[etcdDown]
					p.signal(t, syscall.SIGKILL)
					<-p.exited
				}
				counts[kinds[kind]]++
				lastFault = kinds[kind]
				t.Logf("epoch %d: %s", ep+1, kinds[kind])
				injected++
			}
		}
	}
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED || last.GetCheckpointEpoch() != int32(epochs) {
		t.Fatalf("job ended %s with the checkpoint after epoch %d: %s", last.GetState(), last.GetCheckpointEpoch(), last.GetError())
	}
	d := want.differs(t, outcomeIn(t, dataDir, last), 1e-4)
	t.Logf("chaos seed %d: %d faults injected %v; job %s after %d epochs; parameters within %.2g of the undisturbed run's; longest wait for an epoch %v; by the fault in it %v",
		seed, injected, counts, last.GetState(), last.GetCheckpointEpoch(), d, longest.Round(time.Millisecond), worst)
	if injected < faults {
		t.Errorf("%d faults injected, want %d", injected, faults)
	}
	if longest > 30*time.Second {
		t.Errorf("an epoch waited %v, longer than the stall timeout", longest)
	}
}
