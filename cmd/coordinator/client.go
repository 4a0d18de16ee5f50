package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ringtrain/ringtrain/internal/coordconn"
	"github.com/ringtrain/ringtrain/internal/secure"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// defaultCoordinator is where the cluster commands look for the coordinator
// when neither --coordinator nor RINGTRAIN_COORDINATOR says: serve's
// default listening port on this machine.
const defaultCoordinator = "localhost:7070"

// clusterFlags are the flags the cluster commands share.
type clusterFlags struct {
	addr    string
	timeout time.Duration
	output  string
	token   string
	tls     secure.Flags
}

// addClusterFlags registers --coordinator on cmd, --timeout when it makes
// unary calls (streams run until they end or Ctrl-C), and --output when a
// script would want its result as JSON.
func addClusterFlags(cmd *cobra.Command, unary, output bool) *clusterFlags {
	f := &clusterFlags{}
	addr := os.Getenv("RINGTRAIN_COORDINATOR")
	if addr == "" {
		addr = defaultCoordinator
	}
	cmd.Flags().StringVar(&f.addr, "coordinator", addr, "coordinator gRPC address (several, comma-separated, for a coordinator and its standbys); $RINGTRAIN_COORDINATOR sets the default")
	if unary {
		cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for each answer from the coordinator")
	}
	if output {
		cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
	}
	cmd.Flags().StringVar(&f.token, "token", os.Getenv("RINGTRAIN_TOKEN"), "job API bearer token, where the coordinator has a --token-file; @FILE reads it from FILE (env RINGTRAIN_TOKEN, which keeps it out of ps)")
	f.tls.Register(cmd.Flags())
	return f
}

// connect checks the flags and returns a client of the coordinator's job
// API with its connection, which the caller closes.
func (f *clusterFlags) connect() (ringtrainv1.JobServiceClient, *grpc.ClientConn, error) {
	if f.output != "" && f.output != "text" && f.output != "json" {
		return nil, nil, fmt.Errorf("--output: %q is not text or json", f.output)
	}
	// The servers warn of --insecure; a client says nothing, every time.
	tlsCfg, err := f.tls.LoadClient(slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	token, err := readToken(f.token)
	if err != nil {
		return nil, nil, err
	}
	opts := []grpc.DialOption{tlsCfg.DialOption()}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken{token: token, overTLS: tlsCfg != nil}))
	}
	conn, err := dial(f.addr, opts...)
	if err != nil {
		return nil, nil, err
	}
	return ringtrainv1.NewJobServiceClient(conn), conn, nil
}

// readToken returns the token --token gives: itself, or the content of
// the file @FILE names.
func readToken(v string) (string, error) {
	path, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--token: %s is empty", path)
	}
	return tok, nil
}

// bearerToken puts the job API token on every call.
type bearerToken struct {
	token   string
	overTLS bool
}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only with --insecure, where the user
// has said that the network is trusted.
func (b bearerToken) RequireTransportSecurity() bool { return b.overTLS }

func (f *clusterFlags) json() bool { return f.output == "json" }

// unary bounds one request by --timeout.
func (f *clusterFlags) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

// dial returns a connection to the coordinator at addr (several,
// comma-separated: calls go to the leader among them) with opts, which
// give its credentials. It connects on the first call; a call that fails
// because addr cannot be reached says so, naming addr, whichever code made
// the call.
func dial(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	conn, err := coordconn.Dial(addr, append(opts,
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return unreachable(addr, cc, invoker(ctx, method, req, reply, cc, opts...))
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, unreachable(addr, cc, err)
			}
			return &addrStream{ClientStream: s, addr: addr, cc: cc}, nil
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("coordinator %s: %w", addr, err)
	}
	return conn, nil
}

// unreachable names addr in err, keeping its code, when the call failed
// while the connection was not up: the coordinator was not reached, as
// opposed to a coordinator that answered UNAVAILABLE itself.
func unreachable(addr string, cc *grpc.ClientConn, err error) error {
	st, ok := status.FromError(err)
	if !ok || (st.Code() != codes.Unavailable && st.Code() != codes.DeadlineExceeded) || cc.GetState() == connectivity.Ready {
		return err
	}
	return status.Errorf(st.Code(), "coordinator %s unreachable: %s", addr, st.Message())
}

// addrStream is a client stream whose receive errors name the coordinator
// when the connection to it is lost.
type addrStream struct {
	grpc.ClientStream
	addr string
	cc   *grpc.ClientConn
}

func (s *addrStream) RecvMsg(m any) error {
	return unreachable(s.addr, s.cc, s.ClientStream.RecvMsg(m))
}

// describe turns a failed call into an error for a person: what was being
// done and the coordinator's own words (an invalid spec's message names the
// field), without gRPC's "rpc error: code = ... desc =" framing. job is the
// job the call was about, if any.
func describe(err error, what, job string) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	if st.Code() == codes.NotFound && job != "" {
		return fmt.Errorf("job %s not found", job)
	}
	return fmt.Errorf("%s: %s", what, st.Message())
}

// submitFile submits the job spec at path to c as written: the coordinator
// parses and validates it, and refuses it naming the offending field.
func submitFile(ctx context.Context, c ringtrainv1.JobServiceClient, path string, minWorkers int32) (*ringtrainv1.Job, error) {
	spec, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job spec: %w", err)
	}
	j, err := c.SubmitJob(ctx, &ringtrainv1.SubmitJobRequest{Spec: spec, MinWorkers: minWorkers})
	if err != nil {
		return nil, describe(err, "submit "+path, "")
	}
	return j, nil
}

// jsonFormat writes proto field names and zero values, so that a script
// sees every field under the name coordinator.proto gives it.
var jsonFormat = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// printJSON writes m to w as one line of JSON.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := jsonFormat.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s as JSON: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
