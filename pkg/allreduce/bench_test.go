package allreduce

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchSizes are the buffers of BenchmarkAllReduce: the gradient of the
// 784-256-128-10 MLP, round sizes, and a tiny one whose time is nearly all
// latency, which pins down α when docs/allreduce.md fits its cost model.
var benchSizes = []struct {
	name  string
	elems int
}{
	{"4KiB", 1 << 10},
	{"mlp", 784*256 + 256 + 256*128 + 128 + 128*10 + 10}, // 235,146
	{"1MiB", 1 << 18},
	{"4MiB", 1 << 20},
	{"16MiB", 1 << 22},
}

// benchRings are the ring sizes of the process benchmarks: 2 and 4, and 8
// on machines with 16 cores or more, where 8 members and their peers' send
// goroutines each have a core and the figures still mean something.
func benchRings() []int {
	if runtime.NumCPU() >= 16 {
		return []int{2, 4, 8}
	}
	return []int{2, 4}
}

const (
	benchWarmup  = 10
	benchMinRuns = 30
)

// BenchmarkAllReduce runs rings of N member processes, each its own OS
// process on 127.0.0.1 with the default transport (tcpnet: data over TCP,
// set up over gRPC), and reports the median time of a call
// over max(b.N, 30) calls after 10 untimed ones. Every member times its own
// calls; the figure is the slowest member's median. Run it with
// -benchtime 1x: more iterations only add calls to the median.
//
// algbw is S/t and busbw is algbw·2(N−1)/N (the nccl-tests convention), in
// 10⁹ bytes per second; cpu-ms/op is the CPU time, user and system, that a
// member process spends per call, which other work on the machine disturbs
// less than the elapsed time.
func BenchmarkAllReduce(b *testing.B) { benchAllReduce(b, "tcp") }

// BenchmarkAllReduceGRPC is BenchmarkAllReduce over the gRPC fallback
// transport, the data on the gRPC links themselves.
func BenchmarkAllReduceGRPC(b *testing.B) { benchAllReduce(b, "grpc") }

// BenchmarkAllReduceTLS is BenchmarkAllReduce with every data connection
// over TLS 1.3 (mutual, ECDSA P-256): what encryption costs.
func BenchmarkAllReduceTLS(b *testing.B) { benchAllReduce(b, "tcp-tls") }

func benchAllReduce(b *testing.B, kind string) {
	for _, n := range benchRings() {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			procs := make([]*proc, n)
			for i := range procs {
				procs[i] = startProc(b, "member-"+kind)
			}
			if err := formProcs(procs, "bench", 1, 30*time.Second, DefaultChunkBytes); err != nil {
				b.Fatal(err)
			}
			for _, s := range benchSizes {
				b.Run("S="+s.name, func(b *testing.B) {
					reportProcs(b, procs, s.elems)
				})
			}
			// Training weighs each member by its micro-batch, so its calls
			// are weighted: member i weighs its buffer by 64+i.
			b.Run("S=mlp-weighted", func(b *testing.B) {
				reportWeighted(b, procs, benchSizes[1].elems, func(i int) float64 { return float64(64 + i) })
			})
		})
	}
}

// reportProcs times calls on elems float32 values in member processes of
// a ring of len(procs) and reports the figures of BenchmarkAllReduce.
func reportProcs(b *testing.B, procs []*proc, elems int) {
	reportWeighted(b, procs, elems, func(int) float64 { return 1 })
}

// reportWeighted is reportProcs with member i weighing its buffer by
// weight(i).
func reportWeighted(b *testing.B, procs []*proc, elems int, weight func(i int) float64) {
	t, cpu, err := timeProcs(procs, elems, max(b.N, benchMinRuns), weight)
	if err != nil {
		b.Fatal(err)
	}
	n := float64(len(procs))
	algbw := float64(4*elems) / t.Seconds() / 1e9
	b.ReportMetric(float64(t.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(t.Nanoseconds())/1e6, "ms/op-median")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e6, "cpu-ms/op")
	b.ReportMetric(algbw, "algbw-GB/s")
	b.ReportMetric(algbw*2*(n-1)/n, "busbw-GB/s")
}

// timeProcs has every member process time runs calls on elems elements,
// member i weighing its buffer by weight(i) (members other than ours
// ignore weights), and returns the largest of their medians and the mean
// CPU time a member process spent per call.
func timeProcs(procs []*proc, elems, runs int, weight func(i int) float64) (slowest, cpu time.Duration, err error) {
	for i, p := range procs {
		p.send("run %d %d %d %g", elems, benchWarmup, runs, weight(i))
	}
	for _, p := range procs {
		line, err := p.expect("result")
		if err != nil {
			return 0, 0, err
		}
		var times []time.Duration
		for i, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' }) {
			ns, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return 0, 0, err
			}
			if i == 0 {
				cpu += time.Duration(ns) / time.Duration(len(procs))
				continue
			}
			times = append(times, time.Duration(ns))
		}
		slowest = max(slowest, medianOf(times))
	}
	return slowest, cpu, nil
}

// BenchmarkLoopbackTCP measures the limit that the ring's links work
// against: one TCP stream over 127.0.0.1 from this process to a sink in
// another process, 256 MiB at a time in writes and reads of tcpRingIO
// bytes (the size that costs the kernel least; see BenchmarkTCPRing),
// median of max(b.N, 5) transfers after one untimed, in 10⁹ bytes per
// second.
func BenchmarkLoopbackTCP(b *testing.B) {
	sink := startProc(b, "sink")
	c, err := net.Dial("tcp", sink.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const size = 256 << 20
	buf := make([]byte, tcpRingIO)
	transfer := func() (time.Duration, error) {
		t0 := time.Now()
		var hdr [8]byte
		for i := range hdr {
			hdr[i] = byte(uint64(size) >> (8 * i))
		}
		if _, err := c.Write(hdr[:]); err != nil {
			return 0, err
		}
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return 0, err
			}
		}
		if _, err := c.Read(hdr[:1]); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	var times []time.Duration
	for i := range max(b.N, 5) + 1 {
		d, err := transfer()
		if err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			times = append(times, d)
		}
	}
	t := medianOf(times)
	b.ReportMetric(float64(t.Nanoseconds()), "ns/op")
	b.ReportMetric(size/t.Seconds()/1e9, "GB/s")
}
