package tcpnet_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/tcpnet"
)

// Each worker process serves a Transport's rendezvous on its gRPC server,
// with a data listener beside it, and forms a ring through it; here two
// "processes" share one, with weights 1 and 3.
func ExampleTransport() {
	var addrs []string
	var nodes []*tcpnet.Transport
	for range 2 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		data, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		srv := grpc.NewServer()
		node := tcpnet.New(data, "")
		node.Register(srv)
		go srv.Serve(lis)
		defer srv.Stop()
		defer node.Close()
		addrs = append(addrs, lis.Addr().String())
		nodes = append(nodes, node)
	}
	bufs := [][]float32{{1, 1}, {5, 9}}
	weights := []float64{1, 3}
	var wg sync.WaitGroup
	for rank, node := range nodes {
		wg.Go(func() {
			m := allreduce.Membership{Job: "example", Generation: 1, Rank: rank, Addrs: addrs}
			ring, err := allreduce.NewRing(context.Background(), node, m)
			if err != nil {
				log.Fatal(err)
			}
			defer ring.Close()
			if err := allreduce.AllReduceWeighted(context.Background(), ring, bufs[rank], weights[rank]); err != nil {
				log.Fatal(err)
			}
		})
	}
	wg.Wait()
	fmt.Println(bufs)
	// Output: [[4 7] [4 7]]
}
