package allreduce

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/internal/pytorch"
)

// The baselines BenchmarkAllReduce is compared with, measured in the same
// run and reported with the same figures: Gloo's ring all-reduce, the
// issue's yardstick, and the TCP traffic of a ring all-reduce without any
// of its work, the limit of every all-reduce over TCP on this machine.

// BenchmarkGloo runs PyTorch's torch.distributed all_reduce with the gloo
// backend (a ring; SUM, without our division by N) in N processes over
// 127.0.0.1, timed and reported like BenchmarkAllReduce. It needs Debian's
// python3-torch (PyTorch 1.13, the baseline) and is skipped
// without it.
func BenchmarkGloo(b *testing.B) {
	py, err := pytorch.Python()
	if err != nil {
		b.Skip(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "gloo_member.py"))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{2, 4} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			port, err := freePort()
			if err != nil {
				b.Fatal(err)
			}
			// Every rank must be running before any can finish joining.
			procs := make([]*proc, n)
			for i := range procs {
				procs[i] = startCmd(b, exec.Command(py, script, strconv.Itoa(i), strconv.Itoa(n), strconv.Itoa(port)))
			}
			for _, p := range procs {
				if _, err := p.expect("ready"); err != nil {
					b.Fatal(err)
				}
			}
			for _, s := range benchSizes {
				b.Run("S="+s.name, func(b *testing.B) { reportProcs(b, procs, s.elems) })
			}
			for _, p := range procs {
				p.send("exit")
			}
		})
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// BenchmarkTCPRing is the limit of a ring all-reduce over TCP here: N
// processes in a ring, each writing to its successor and reading from its
// predecessor the 2(N−1)/N·S bytes a ring all-reduce of S bytes moves per
// member, in reads and writes of up to tcpRingIO bytes, at once and with
// nothing else to do: no framing, no adds, no waiting on the previous
// step. Timed and reported like BenchmarkAllReduce, with S the
// all-reduce's size.
//
// The kernel's cost per byte falls as reads and writes grow: of 64 KiB,
// 256 KiB, 1 MiB and 4 MiB, 4 MiB gave the highest limit (by up to 75% at
// N=2, 16 MiB over 64 KiB), so it is the one used.
func BenchmarkTCPRing(b *testing.B) {
	for _, n := range []int{2, 4} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			procs := make([]*proc, n)
			for i := range procs {
				procs[i] = startProc(b, "tcpring")
			}
			for i, p := range procs {
				p.send("connect %d %s", n, procs[(i+1)%n].addr)
			}
			for _, p := range procs {
				if _, err := p.expect("ok"); err != nil {
					b.Fatal(err)
				}
			}
			for _, s := range benchSizes {
				b.Run("S="+s.name, func(b *testing.B) { reportProcs(b, procs, s.elems) })
			}
		})
	}
}

const tcpRingIO = 4 << 20

// runTCPRing is a member process of BenchmarkTCPRing. It obeys:
//
//	connect N ADDR         connect to the successor, accept the predecessor → ok
//	run ELEMS WARMUP RUNS  time RUNS exchanges of the bytes a ring of N moves per
//	                       member for ELEMS float32 → result CPUNS NS,NS,...
func runTCPRing(in io.Reader, out io.Writer) int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		reply(out, "err %v", err)
		return 1
	}
	defer lis.Close()
	reply(out, "addr %s", lis.Addr())
	var (
		n          int
		next, prev net.Conn
	)
	defer func() {
		for _, c := range []net.Conn{next, prev} {
			if c != nil {
				c.Close()
			}
		}
	}()
	send, recv := make([]byte, tcpRingIO), make([]byte, tcpRingIO)
	exchange := func(bytes int) error {
		var g errgroup.Group
		g.Go(func() error {
			for left := bytes; left > 0; {
				k, err := next.Write(send[:min(left, len(send))])
				if err != nil {
					return err
				}
				left -= k
			}
			return nil
		})
		for left := bytes; left > 0; {
			k, err := prev.Read(recv[:min(left, len(recv))])
			if err != nil {
				return err
			}
			left -= k
		}
		return g.Wait()
	}
	for f := range commands(in) {
		switch f[0] {
		case "connect":
			n, _ = strconv.Atoi(f[1])
			accepted := make(chan error, 1)
			go func() {
				var err error
				prev, err = lis.Accept()
				accepted <- err
			}()
			next, err = net.Dial("tcp", f[2])
			if err == nil {
				err = <-accepted
			}
			if err != nil {
				reply(out, "err %v", err)
				return 1
			}
			reply(out, "ok")
		case "run":
			elems, _ := strconv.Atoi(f[1])
			warmup, _ := strconv.Atoi(f[2])
			runs, _ := strconv.Atoi(f[3])
			bytes := 4 * elems * 2 * (n - 1) / n
			times, cpu, err := timeCalls(func() error { return exchange(bytes) }, warmup, runs)
			if err != nil {
				reply(out, "err %v", err)
				return 1
			}
			replyResult(out, times, cpu)
		case "exit":
			return 0
		}
	}
	return 0
}
