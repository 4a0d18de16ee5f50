package allreduce_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"sync"

	"google.golang.org/grpc"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
)

// Three members average their buffers over an in-memory network, as the
// algorithm tests do.
func ExampleNewRing() {
	net := allreduce.NewNetwork(1)
	addrs := []string{"a", "b", "c"}
	bufs := [][]float32{{1, 10}, {2, 20}, {6, 60}}
	var wg sync.WaitGroup
	for rank := range addrs {
		wg.Go(func() {
			m := allreduce.Membership{Job: "example", Generation: 1, Rank: rank, Addrs: addrs}
			ring, err := allreduce.NewRing(context.Background(), net, m)
			if err != nil {
				log.Fatal(err)
			}
			defer ring.Close()
			if err := ring.AllReduce(context.Background(), bufs[rank]); err != nil {
				log.Fatal(err)
			}
		})
	}
	wg.Wait()
	fmt.Println(bufs)
	// Output: [[3 30] [3 30] [3 30]]
}

// Each worker process serves a Node on its gRPC server and forms a ring
// through it; here two "processes" share one, with weights 1 and 3.
func ExampleNode() {
	var addrs []string
	var nodes []*allreduce.Node
	for range 2 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		srv := grpc.NewServer(allreduce.ServerOptions()...)
		node := allreduce.NewNode()
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
			if err := ring.AllReduceWeighted(context.Background(), bufs[rank], weights[rank]); err != nil {
				log.Fatal(err)
			}
		})
	}
	wg.Wait()
	fmt.Println(bufs)
	// Output: [[4 7] [4 7]]
}
