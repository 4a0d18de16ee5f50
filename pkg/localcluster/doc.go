// Package localcluster starts a whole ringtrain cluster inside one process:
// an embedded etcd, a coordinator and N workers, each with its own gRPC
// server on loopback, talking exactly as they would across machines. It is
// how `coordinator run --workers N` trains on one machine, and how the
// end-to-end tests exercise the real protocol.
//
//	c, err := localcluster.Start(ctx, localcluster.Config{Dir: dir, Workers: 2})
//	if err != nil { ... }
//	defer c.Close()
//	conn, _ := grpc.NewClient(c.CoordinatorAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
//	jobs := ringtrainv1.NewJobServiceClient(conn)
//
// Workers can be added and stopped while a job runs, to exercise scaling
// and failure. The package adds no behaviour of its own.
package localcluster
