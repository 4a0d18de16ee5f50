// Package rpcserver builds the gRPC servers ringtrain's processes run, so
// that every one of them carries the standard health service (for
// healthcheck subcommands, grpc-health-probe and load balancers) and server
// reflection (for grpcurl), and serves until stopped with one error
// convention. It registers no service of ringtrain's own.
package rpcserver
