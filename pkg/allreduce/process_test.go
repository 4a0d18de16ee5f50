package allreduce

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Multi-process tests and benchmarks run ring members as separate OS
// processes: the test binary re-executed with helperEnv set runs
// TestHelperProcess, which obeys commands, one per line, on stdin and
// answers on stdout in lines that start with replyPrefix (the testing
// package may print other lines).
const (
	helperEnv   = "RINGTRAIN_ALLREDUCE_HELPER"
	replyPrefix = "@@ "
)

// TestHelperProcess is a member process; run directly, it does nothing.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "":
		t.Skip("only runs as a member process of other tests")
	case "member-tcp", "member-tcp-tls", "member-grpc":
		os.Exit(runMember(strings.TrimPrefix(os.Getenv(helperEnv), "member-"), os.Stdin, os.Stdout))
	case "sink":
		os.Exit(runSink(os.Stdout))
	case "tcpring":
		os.Exit(runTCPRing(os.Stdin, os.Stdout))
	case "links":
		os.Exit(runLinks(os.Stdin, os.Stdout))
	default:
		t.Fatalf("unknown helper role %q", os.Getenv(helperEnv))
	}
}

func reply(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, replyPrefix+format+"\n", args...)
}

// runMember serves a ring member over the transport kind and obeys:
//
//	ring JOB GEN RANK TIMEOUT CHUNKBYTES ADDR,ADDR,...   form a ring      → ok
//	run ELEMS WARMUP RUNS WEIGHT  time RUNS weighted calls after WARMUP
//	                              → result CPUNS NS,NS,...
//	loop ELEMS               call until the ring fails    → done I ... err MSG
//	exit
func runMember(kind string, in io.Reader, out io.Writer) int {
	node, addr, stop, err := Servers[kind]("127.0.0.1:0")
	if err != nil {
		reply(out, "err %v", err)
		return 1
	}
	defer stop()
	reply(out, "addr %s", addr)
	var ring *Ring
	defer func() {
		if ring != nil {
			ring.Close()
		}
	}()
	for f := range commands(in) {
		switch f[0] {
		case "ring":
			gen, _ := strconv.ParseUint(f[2], 10, 64)
			rank, _ := strconv.Atoi(f[3])
			timeout, _ := time.ParseDuration(f[4])
			chunk, _ := strconv.Atoi(f[5])
			if ring != nil {
				ring.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			m := Membership{Job: f[1], Generation: gen, Rank: rank, Addrs: strings.Split(f[6], ",")}
			ring, err = NewRing(ctx, node, m, WithTimeout(timeout), WithChunkBytes(chunk), WithLogger(quiet))
			cancel()
			if err != nil {
				reply(out, "err %v", err)
				continue
			}
			reply(out, "ok")
		case "run":
			elems, _ := strconv.Atoi(f[1])
			warmup, _ := strconv.Atoi(f[2])
			runs, _ := strconv.Atoi(f[3])
			weight, _ := strconv.ParseFloat(f[4], 64)
			buf := make([]float32, elems)
			for i := range buf {
				buf[i] = float32(i % 1000)
			}
			call := func() error { return AllReduceWeighted(context.Background(), ring, buf, weight) }
			times, cpu, err := timeCalls(call, warmup, runs)
			if err != nil {
				reply(out, "err %v", err)
				continue
			}
			replyResult(out, times, cpu)
		case "loop":
			elems, _ := strconv.Atoi(f[1])
			buf := make([]float32, elems)
			for i := 0; ; i++ {
				if err := ring.AllReduce(context.Background(), buf); err != nil {
					reply(out, "err %v", err)
					break
				}
				reply(out, "done %d", i)
			}
		case "exit":
			return 0
		}
	}
	return 0
}

// commands yields the fields of each non-empty line of in.
func commands(in io.Reader) iter.Seq[[]string] {
	return func(yield func([]string) bool) {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 0 && !yield(f) {
				return
			}
		}
	}
}

// timeCalls times runs calls of call, after warmup untimed ones, and
// returns their times and the CPU time (user and system) the process spent
// per call.
func timeCalls(call func() error, warmup, runs int) ([]time.Duration, time.Duration, error) {
	times := make([]time.Duration, 0, runs)
	var cpu0 time.Duration
	for i := range warmup + runs {
		if i == warmup {
			cpu0 = cpuTime()
		}
		t0 := time.Now()
		if err := call(); err != nil {
			return nil, 0, err
		}
		if i >= warmup {
			times = append(times, time.Since(t0))
		}
	}
	return times, (cpuTime() - cpu0) / time.Duration(runs), nil
}

// replyResult answers a run command: result CPUNS NS,NS,...
func replyResult(out io.Writer, times []time.Duration, cpu time.Duration) {
	ns := make([]string, len(times))
	for i, d := range times {
		ns[i] = strconv.FormatInt(d.Nanoseconds(), 10)
	}
	reply(out, "result %d %s", cpu.Nanoseconds(), strings.Join(ns, ","))
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runSink accepts one TCP connection on 127.0.0.1 and, for each transfer,
// reads an 8-byte length and that many bytes, and acknowledges with a byte.
func runSink(out io.Writer) int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		reply(out, "err %v", err)
		return 1
	}
	defer lis.Close()
	reply(out, "addr %s", lis.Addr())
	c, err := lis.Accept()
	if err != nil {
		return 1
	}
	defer c.Close()
	buf := make([]byte, tcpRingIO)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return 0
		}
		n := int64(0)
		for i := range hdr {
			n |= int64(hdr[i]) << (8 * i)
		}
		for n > 0 {
			k, err := c.Read(buf[:min(int64(len(buf)), n)])
			if err != nil {
				return 1
			}
			n -= int64(k)
		}
		if _, err := c.Write(hdr[:1]); err != nil {
			return 1
		}
	}
}

// proc is a member process seen from the test.
type proc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

// startProc starts a member process in role and waits for its address.
func startProc(tb testing.TB, role string) *proc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	p := startCmd(tb, cmd)
	a, err := p.expect("addr")
	if err != nil {
		tb.Fatalf("start %s process: %v", role, err)
	}
	p.addr = a
	return p
}

// startCmd starts a process that obeys commands on stdin and replies on
// stdout; it is stopped when the test ends.
func startCmd(tb testing.TB, cmd *exec.Cmd) *proc {
	tb.Helper()
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", cmd.Path, err)
	}
	p := &proc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	p.out.Buffer(nil, 16<<20)
	tb.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return p
}

func (p *proc) send(format string, args ...any) {
	fmt.Fprintf(p.in, format+"\n", args...)
}

// expect reads replies until one with the given word and returns the rest
// of it; an "err" reply is returned as an error.
func (p *proc) expect(word string) (string, error) {
	for p.out.Scan() {
		line, ok := strings.CutPrefix(p.out.Text(), replyPrefix)
		if !ok {
			continue
		}
		w, rest, _ := strings.Cut(line, " ")
		switch w {
		case word:
			return rest, nil
		case "err":
			return "", fmt.Errorf("member process: %s", rest)
		}
	}
	return "", fmt.Errorf("member process ended before %q: %v", word, p.out.Err())
}

// formProcs forms one ring over member processes.
func formProcs(procs []*proc, job string, gen uint64, timeout time.Duration, chunkBytes int) error {
	addrs := make([]string, len(procs))
	for i, p := range procs {
		addrs[i] = p.addr
	}
	for i, p := range procs {
		p.send("ring %s %d %d %v %d %s", job, gen, i, timeout, chunkBytes, strings.Join(addrs, ","))
	}
	for _, p := range procs {
		if _, err := p.expect("ok"); err != nil {
			return err
		}
	}
	return nil
}

// medianOf returns the median of ds.
func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
