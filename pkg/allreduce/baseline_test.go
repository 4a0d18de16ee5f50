package allreduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringtrain/ringtrain/internal/pytorch"
)

// The baselines BenchmarkAllReduce is compared with, measured in the same
// run and reported with the same figures: Gloo's ring all-reduce, the
// issue's yardstick; the TCP traffic of a ring all-reduce without any of
// its work, the limit of every all-reduce over TCP on this machine; and
// the same traffic through our gRPC links, the limit of every all-reduce
// over them.

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
	for _, n := range benchRings() {
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
	for _, n := range benchRings() {
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

// BenchmarkGRPCLinks is the limit of a ring all-reduce over our gRPC links
// here: the ring of BenchmarkAllReduce, formed the same way, with the same
// chunks, but each member sends its successor the 2(N−1)/N·S bytes of an
// all-reduce at once, without waiting for a previous step, and copies
// every chunk it receives into place without adding it. What it costs
// beyond BenchmarkTCPRing is gRPC-Go's (HTTP/2 framing, its copies and
// flow control) and the links'; what BenchmarkAllReduce costs beyond it is
// the algorithm's: the adds, and each step waiting for the one before.
// Timed and reported like BenchmarkAllReduce, with S the all-reduce's size.
func BenchmarkGRPCLinks(b *testing.B) {
	for _, n := range benchRings() {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			procs := make([]*proc, n)
			addrs := make([]string, n)
			for i := range procs {
				procs[i] = startProc(b, "links")
				addrs[i] = procs[i].addr
			}
			for i, p := range procs {
				p.send("connect %d %s", i, strings.Join(addrs, ","))
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

// runLinks is a member process of BenchmarkGRPCLinks. It obeys:
//
//	connect RANK ADDR,ADDR,...  open the links of a ring over them → ok
//	run ELEMS WARMUP RUNS       time RUNS exchanges of the values a ring
//	                            moves per member for ELEMS float32
//	                            → result CPUNS NS,NS,...
func runLinks(in io.Reader, out io.Writer) int {
	node, addr, stop, err := Servers["grpc"]("127.0.0.1:0")
	if err != nil {
		reply(out, "err %v", err)
		return 1
	}
	defer stop()
	reply(out, "addr %s", addr)
	var (
		m          Membership
		prev, next Link
		call       uint64
	)
	defer func() {
		for _, l := range []Link{prev, next} {
			if l != nil {
				l.Close()
			}
		}
	}()
	chunk := DefaultChunkBytes / Float32.Size()
	exchange := func(send []float32, sink *copySink) error {
		c := call
		call++
		var g errgroup.Group
		g.Go(func() error {
			var f Frame
			for lo := 0; lo < len(send); lo += chunk {
				hi := min(lo+chunk, len(send))
				f = Frame{Kind: KindData, Job: m.Job, Generation: m.Generation, Call: c,
					Offset: lo, Total: len(send), Precision: Float32, Data: Values{F32: send[lo:hi]}}
				if err := next.Send(&f); err != nil {
					return err
				}
			}
			if !next.Settle(nil) {
				return errors.New("links: send did not settle")
			}
			return nil
		})
		sink.call, sink.got = c, 0
		var f Frame
		for sink.got < len(sink.dst) {
			if err := prev.Recv(&f, sink); err != nil {
				return err
			}
		}
		return g.Wait()
	}
	for f := range commands(in) {
		switch f[0] {
		case "connect":
			rank, _ := strconv.Atoi(f[1])
			m = Membership{Job: "links", Generation: 1, Rank: rank, Addrs: strings.Split(f[2], ",")}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			prev, next, err = node.Connect(ctx, m)
			cancel()
			if err != nil {
				reply(out, "err %v", err)
				return 1
			}
			reply(out, "ok")
		case "run":
			elems, _ := strconv.Atoi(f[1])
			warmup, _ := strconv.Atoi(f[2])
			runs, _ := strconv.Atoi(f[3])
			n := m.Size()
			moved := elems * 2 * (n - 1) / n
			send, sink := make([]float32, moved), &copySink{dst: make([]float32, moved)}
			times, cpu, err := timeCalls(func() error { return exchange(send, sink) }, warmup, runs)
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

// copySink is the Sink of runLinks: it copies each chunk of one exchange
// into dst, in order.
type copySink struct {
	dst  []float32
	call uint64
	got  int
}

// Place implements Sink.
func (s *copySink) Place(f *Frame, n int) (Values, Op, error) {
	if f.Call != s.call || f.Offset != s.got || f.Total != len(s.dst) || n > len(s.dst)-s.got {
		return Values{}, Op{}, fmt.Errorf("%w: chunk of call %d at [%d,%d) of %d, want call %d at %d of %d",
			ErrProtocol, f.Call, f.Offset, f.Offset+n, f.Total, s.call, s.got, len(s.dst))
	}
	s.got += n
	return Values{F32: s.dst[f.Offset : f.Offset+n]}, Op{}, nil
}
