package allreduce_test

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/ringtrain/ringtrain/pkg/allreduce"
	"github.com/ringtrain/ringtrain/pkg/allreduce/memnet"
)

// Three members average their buffers over an in-memory network, as the
// algorithm tests do.
func ExampleNewRing() {
	net := memnet.NewNetwork(1)
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
