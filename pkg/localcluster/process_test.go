package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ringtrain/ringtrain/internal/coordconn"
	"github.com/ringtrain/ringtrain/internal/etcdkeys"
	"github.com/ringtrain/ringtrain/internal/membership"
	"github.com/ringtrain/ringtrain/pkg/coordinator"
	"github.com/ringtrain/ringtrain/pkg/embedetcd"
	"github.com/ringtrain/ringtrain/pkg/etcdlog"
	"github.com/ringtrain/ringtrain/pkg/worker"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// workerProcessEnv, set to "COORDINATOR ETCD-ENDPOINTS ID TTL", makes the
// test binary a worker process (see TestMain) that runs until it is killed;
// coordinatorProcessEnv, set to "LISTEN ETCD-ENDPOINTS DATA-DIR", a
// coordinator process; etcdProcessEnv, set to "NAME DIR CLIENT-URL
// PEER-URL CLUSTER", an etcd member.
const (
	workerProcessEnv      = "RINGTRAIN_LOCALCLUSTER_WORKER"
	coordinatorProcessEnv = "RINGTRAIN_LOCALCLUSTER_COORDINATOR"
	etcdProcessEnv        = "RINGTRAIN_LOCALCLUSTER_ETCD"
)

// runEtcdProcess is the body of an etcd member process.
func runEtcdProcess(args string) int {
	f := strings.Fields(args)
	if len(f) != 5 {
		fmt.Fprintf(os.Stderr, "%s=%q: want NAME DIR CLIENT-URL PEER-URL CLUSTER\n", etcdProcessEnv, args)
		return 2
	}
	// Default raft timing, not Fast's: members share two busy cores with
	// the job, and a 100 ms election timeout would elect leaders at random.
	s, err := embedetcd.Start(context.Background(), embedetcd.Config{Name: f[0], Dir: f[1], ClientURL: f[2], PeerURL: f[3], Cluster: f[4],
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd process:", err)
		return 1
	}
	defer s.Close()
	if err := <-s.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "etcd process:", err)
		return 1
	}
	return 0
}

// etcdCluster is a cluster of etcd member processes.
type etcdCluster struct {
	envs      []string   // each member's process environment
	members   []*process // nil while a member is down
	endpoints []string
}

// startEtcdCluster starts a cluster of n etcd member processes, killed
// when the test ends.
func startEtcdCluster(t *testing.T, n int) *etcdCluster {
	t.Helper()
	c := &etcdCluster{members: make([]*process, n)}
	var peers []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("etcd-%d=http://%s", i, freeAddr(t)))
		c.endpoints = append(c.endpoints, "http://"+freeAddr(t))
	}
	for i := range n {
		name, peer, _ := strings.Cut(peers[i], "=")
		c.envs = append(c.envs, fmt.Sprintf("%s=%s %s %s %s %s", etcdProcessEnv, name, filepath.Join(t.TempDir(), name),
			c.endpoints[i], peer, strings.Join(peers, ",")))
		c.members[i] = startProcess(t, c.envs[i])
	}
	return c
}

// runCoordinatorProcess is the body of a coordinator process.
func runCoordinatorProcess(args string) int {
	f := strings.Fields(args)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want LISTEN ETCD DATA-DIR\n", coordinatorProcessEnv, args)
		return 2
	}
	err := func() error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(f[1], ","), DialTimeout: 5 * time.Second, Logger: etcdlog.New(quiet())})
		if err != nil {
			return err
		}
		defer cli.Close()
		lis, err := net.Listen("tcp", f[0])
		if err != nil {
			return err
		}
		return coordinator.Serve(context.Background(), lis, coordinator.Config{DataDir: f[2], Etcd: cli, Logger: quiet(),
			StallTimeout: 30 * time.Second, Advertise: f[0], LeaderTTL: standbyTTL})
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "coordinator process:", err)
		return 1
	}
	return 0
}

// runWorkerProcess is the body of a worker process.
func runWorkerProcess(args string) int {
	f := strings.Fields(args)
	if len(f) != 4 {
		fmt.Fprintf(os.Stderr, "%s=%q: want COORDINATOR ETCD ID TTL\n", workerProcessEnv, args)
		return 2
	}
	ttl, err := time.ParseDuration(f[3])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", workerProcessEnv, args, err)
		return 2
	}
	err = func() error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(f[1], ","), DialTimeout: 5 * time.Second, Logger: etcdlog.New(quiet())})
		if err != nil {
			return err
		}
		defer cli.Close()
		conn, err := coordconn.Dial(f[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return worker.Serve(context.Background(), ln, worker.Config{ID: f[2], Advertise: ln.Addr().String(),
			Etcd: cli, Coordinator: conn, Logger: quiet(), RingTimeout: 3 * time.Second, TTL: ttl})
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker process:", err)
		return 1
	}
	return 0
}

var errJoined = errors.New("joined")

// standbyTTL is the leadership lease of coordinator processes: how soon a
// standby takes over.
const standbyTTL = 2 * time.Second

// deadTTL is the lease of a worker process that is killed: long enough
// that waiting for it shows.
const deadTTL = time.Minute

// process is a child process: the test binary, made a worker or a
// coordinator by its environment (see TestMain).
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // once exited is closed
}

// startProcess starts the test binary with env added to its environment,
// and kills it when the test ends.
func startProcess(t *testing.T, env string) *process {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(self, "-test.run=^$"), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// startWorkerProcess starts worker id as a process of the coordinator at
// coord and etcd at endpoints, with the given lease TTL, and waits until
// the cluster has members members.
func startWorkerProcess(t *testing.T, coord string, endpoints []string, id string, ttl time.Duration, members int) *process {
	t.Helper()
	p := startProcess(t, fmt.Sprintf("%s=%s %s %s %s", workerProcessEnv, coord, strings.Join(endpoints, ","), id, ttl))
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = membership.Watch(ctx, cli, func(snap membership.Snapshot) error {
		if len(snap.Members) == members {
			return errJoined
		}
		return nil
	})
	if !errors.Is(err, errJoined) {
		t.Fatalf("worker process %s did not join: %v", id, err)
	}
	return p
}

// signal sends sig to the process, failing the test if it cannot.
func (p *process) signal(t *testing.T, sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Errorf("signal %v: %v", sig, err)
	}
}

// TestWorkerProcessKilled runs one of three workers as its own OS process
// and SIGKILLs it mid-epoch: no goodbye, no lease revoked, its sockets
// reset by the kernel. The others' all-reduce fails naming it, the
// coordinator evicts it and redoes the epoch on the two left, and the job
// completes. The killed worker's lease lasts a minute, so a job that
// waited for it to expire would not end in time.
func TestWorkerProcessKilled(t *testing.T) {
	c := start(t, 2)
	// The job needs only two workers, to go on after the kill, but starts
	// once all three are there.
	proc := startWorkerProcess(t, c.CoordinatorAddr(), c.EtcdEndpoints(), "proc-1", deadTTL, 3)
	// Epochs long enough (~30 ms) that a kill lands inside one.
	spec := strings.Replace(string(job("8")), "samples: 600", "samples: 6000", 1)
	var killed time.Time
	last, events := run(t, c, []byte(spec), 2, func(ev *ringtrainv1.JobEvent) {
		if e := ev.GetEpoch(); e != nil && e.GetEpoch() == 2 && killed.IsZero() {
			// Into the next epoch, so that the worker dies mid-epoch.
			time.Sleep(10 * time.Millisecond)
			killed = time.Now()
			proc.signal(t, syscall.SIGKILL)
		}
	})
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED || last.GetEpoch() != 8 {
		t.Fatalf("job ended %s after %d epochs: %s", last.GetState(), last.GetEpoch(), last.GetError())
	}
	took := time.Since(killed)
	if took > deadTTL/2 {
		t.Errorf("the job ended %v after the kill: it waited for the dead worker's lease (%v)", took, deadTTL)
	}
	t.Logf("the job ended %v after the kill, its last 6 epochs included", took.Round(time.Millisecond))
	<-proc.exited
	if proc.waitErr == nil || !strings.Contains(proc.waitErr.Error(), "killed") {
		t.Errorf("worker process ended with %v, want killed", proc.waitErr)
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

// TestWorkerProcessStopped SIGSTOPs a worker process mid-epoch: the others'
// all-reduce times out naming it, the coordinator evicts it (its lease
// would last a minute) and the job goes on without it. Woken with SIGCONT
// inside the job, the worker finds its registration gone and registers
// again, under a new lease; it cannot take part in the ring it stalled,
// whose generation is over, and the job completes.
func TestWorkerProcessStopped(t *testing.T) {
	c := start(t, 2)
	proc := startWorkerProcess(t, c.CoordinatorAddr(), c.EtcdEndpoints(), "proc-1", deadTTL, 3)
	key := etcdkeys.Worker("proc-1")
	get, err := c.Etcd().Get(context.Background(), key)
	if err != nil || len(get.Kvs) != 1 {
		t.Fatalf("proc-1 registration: %v, %d keys", err, len(get.Kvs))
	}
	first := get.Kvs[0].CreateRevision
	spec := strings.Replace(string(job("40")), "samples: 600", "samples: 6000", 1)
	var stopped, woken time.Time
	last, events := run(t, c, []byte(spec), 2, func(ev *ringtrainv1.JobEvent) {
		e := ev.GetEpoch()
		switch {
		case e != nil && e.GetEpoch() == 2 && stopped.IsZero():
			time.Sleep(10 * time.Millisecond)
			stopped = time.Now()
			proc.signal(t, syscall.SIGSTOP)
		case strings.Contains(ev.GetMessage(), "evicted proc-1") && woken.IsZero():
			woken = time.Now()
			proc.signal(t, syscall.SIGCONT)
		}
	})
	if last.GetState() != ringtrainv1.JobState_JOB_STATE_SUCCEEDED || last.GetEpoch() != 40 {
		t.Fatalf("job ended %s after %d epochs: %s", last.GetState(), last.GetEpoch(), last.GetError())
	}
	if woken.IsZero() {
		t.Fatal("the stopped worker was never evicted")
	}
	if took := woken.Sub(stopped); took > deadTTL/2 {
		t.Errorf("evicted %v after SIGSTOP: it waited for the lease (%v)", took, deadTTL)
	}
	t.Logf("evicted %v after SIGSTOP; the job ended %v after it", woken.Sub(stopped).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	// Awake, it registers again under a new lease.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = membership.Watch(ctx, c.Etcd(), func(snap membership.Snapshot) error {
		if slices.ContainsFunc(snap.Members, func(m membership.Worker) bool { return m.ID == "proc-1" }) {
			return errJoined
		}
		return nil
	})
	if !errors.Is(err, errJoined) {
		t.Fatalf("proc-1 did not register again after SIGCONT: %v", err)
	}
	if get, err = c.Etcd().Get(context.Background(), key); err != nil || len(get.Kvs) != 1 || get.Kvs[0].CreateRevision == first {
		t.Errorf("proc-1 is registered as before its eviction (%v)", err)
	}
	for _, ev := range events {
		if m := ev.GetMessage(); m != "" {
			t.Log(m)
		}
	}
}
