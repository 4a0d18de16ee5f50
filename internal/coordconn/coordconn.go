// Package coordconn dials the coordinator: one address, or several
// (a coordinator and its standbys), of which calls go to the one leading.
//
// It does not elect anything: the coordinators do that among themselves in
// etcd, and only the leader reports SERVING to gRPC health checks, which is
// what a connection to several addresses picks by.
package coordconn

import (
	"errors"
	"strings"

	"google.golang.org/grpc"
	_ "google.golang.org/grpc/health" // client-side health checking, which serviceConfig turns on
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// serviceConfig spreads calls over the addresses that pass their health
// check: with coordinators, the one leader.
const serviceConfig = `{"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}`

// ErrNoAddress is returned by Dial for an empty address list.
var ErrNoAddress = errors.New("coordconn: no coordinator address")

// Dial returns a connection to the coordinator at addrs, comma-separated.
// With one address it is a plain connection. With several, each call goes
// to whichever of them reports SERVING to health checks, the leader; while
// none does (a standby taking over), calls fail with Unavailable.
func Dial(addrs string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	var list []string
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			list = append(list, a)
		}
	}
	switch len(list) {
	case 0:
		return nil, ErrNoAddress
	case 1:
		return grpc.NewClient(list[0], opts...)
	}
	r := manual.NewBuilderWithScheme("ringtrain-coordinators")
	var state resolver.State
	for _, a := range list {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	return grpc.NewClient(r.Scheme()+":///coordinator",
		append([]grpc.DialOption{grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(serviceConfig)}, opts...)...)
}
