/*
Package embedetcd runs an etcd server inside the process: a single-node
etcd, the coordinator's one-machine default and the etcd of every test,
or, given Config.Name and Config.Cluster, one member of a cluster (the
fault tests run three, as processes, and kill one). It does not manage a
cluster's membership: members are fixed when the cluster is first started.

Start one in a data directory and connect to it:

	package main

	import (
		"context"
		"log"
		"os"
		"os/signal"

		"github.com/ringtrain/ringtrain/pkg/embedetcd"
	)

	func main() {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		s, err := embedetcd.Start(ctx, embedetcd.Config{
			Dir:       "data/etcd",
			ClientURL: "http://0.0.0.0:2379", // workers on other machines join here
		})
		if err != nil {
			log.Fatal(err)
		}
		defer s.Close()
		log.Printf("etcd serving on %v", s.Endpoints())

		cli, err := s.NewClient()
		if err != nil {
			log.Fatal(err)
		}
		defer cli.Close() // before s.Close, or open watches delay it
		if _, err := cli.Put(ctx, "hello", "world"); err != nil {
			log.Fatal(err)
		}
		select {
		case err := <-s.Err():
			log.Print(err)
		case <-ctx.Done():
		}
	}

etcd's own logs go to the Config's slog.Logger, warnings and errors only;
etcdlog.New gives clients of an external etcd the same quiet logger. The
metrics etcd registers on Prometheus' default registry allow several servers
in one process, as tests start; ringtrain registers its own metrics on its
own registry.

Tests start one with internal/etcdtest.Start: a Fast server on a free
port in the test's temporary directory, stopped when the test ends.
*/
package embedetcd
