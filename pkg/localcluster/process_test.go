package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ringtrain/ringtrain/pkg/membership"
	"github.com/ringtrain/ringtrain/pkg/worker"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// workerProcessEnv, set to "COORDINATOR ETCD-ENDPOINTS ID", makes the test
// binary a worker process (see TestMain) that runs until it is killed.
const workerProcessEnv = "RINGTRAIN_LOCALCLUSTER_WORKER"

// runWorkerProcess is the body of a worker process.
func runWorkerProcess(args string) int {
	f := strings.Fields(args)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want COORDINATOR ETCD ID\n", workerProcessEnv, args)
		return 2
	}
	err := func() error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(f[1], ","), DialTimeout: 5 * time.Second})
		if err != nil {
			return err
		}
		defer cli.Close()
		conn, err := grpc.NewClient(f[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return worker.Serve(context.Background(), ln, worker.Config{ID: f[2], Advertise: ln.Addr().String(),
			Etcd: cli, Coordinator: conn, Logger: quiet(), RingTimeout: 3 * time.Second, TTL: 2 * time.Second})
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker process:", err)
		return 1
	}
	return 0
}

var errJoined = errors.New("joined")

// TestWorkerProcessKilled runs one of three workers as its own OS process
// and SIGKILLs it mid-epoch: no goodbye, no lease revoked, its sockets
// reset by the kernel. The others' all-reduce fails, the coordinator
// redoes the epoch on the two left once the lease expires, and the job
// completes.
func TestWorkerProcessKilled(t *testing.T) {
	c := start(t, 2)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s proc-1", workerProcessEnv, c.CoordinatorAddr(), strings.Join(c.EtcdEndpoints(), ",")))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// The job needs only two workers, to go on after the kill, but starts
	// once all three are there.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = membership.Watch(ctx, c.Etcd(), func(snap membership.Snapshot) error {
		if len(snap.Members) == 3 {
			return errJoined
		}
		return nil
	})
	if !errors.Is(err, errJoined) {
		t.Fatalf("worker process did not join: %v", err)
	}
	// Epochs long enough (~30 ms) that a kill lands inside one.
	spec := strings.Replace(string(job("8")), "samples: 600", "samples: 6000", 1)
	killing := false
	last, events := run(t, c, []byte(spec), 2, func(ev *ringtrainv1.JobEvent) {
		if e := ev.GetEpoch(); e != nil && e.GetEpoch() == 2 && !killing {
			killing = true
			go func() {
				time.Sleep(10 * time.Millisecond)
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Error(err)
				}
			}()
		}
	})
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED || last.GetEpoch() != 8 {
		t.Fatalf("job ended %s after %d epochs: %s", last.GetState(), last.GetEpoch(), last.GetError())
	}
	<-exited
	if waitErr == nil || !strings.Contains(waitErr.Error(), "killed") {
		t.Errorf("worker process ended with %v, want killed", waitErr)
	}
	var redone, sizes []string
	for _, ev := range events {
		if m := ev.GetMessage(); strings.Contains(m, "redoing it from the last checkpoint") {
			redone = append(redone, m)
		}
		if e := ev.GetEpoch(); e != nil {
			sizes = append(sizes, fmt.Sprint(e.GetWorkers()))
		}
	}
	t.Logf("epochs ran on %s workers; redone: %q", strings.Join(sizes, ","), redone)
	if len(redone) == 0 {
		t.Error("no epoch was redone after the worker process was killed")
	}
	if sizes[0] != "3" || sizes[len(sizes)-1] != "2" {
		t.Errorf("ring sizes by epoch %v: want 3 first, 2 last", sizes)
	}
}
