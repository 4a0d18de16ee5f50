package coordinator

import (
	"bufio"
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ringtrain/ringtrain/internal/secure"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

// Role is what a job API token may do.
type Role string

const (
	// RoleAdmin may do everything: submit, cancel, download models.
	RoleAdmin Role = "admin"
	// RoleRead may only look: jobs, status, watch, workers.
	RoleRead Role = "read"
)

// readMethods are the job API calls a read token may make; every other job
// API call needs an admin token.
var readMethods = map[string]bool{
	ringtrainv1.JobService_ListJobs_FullMethodName:      true,
	ringtrainv1.JobService_GetJob_FullMethodName:        true,
	ringtrainv1.JobService_WatchJob_FullMethodName:      true,
	ringtrainv1.JobService_ListWorkers_FullMethodName:   true,
	ringtrainv1.JobService_GetJobHistory_FullMethodName: true,
}

// Tokens are the job API's bearer tokens and their roles.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	role  Role
	token []byte
}

// LoadTokens reads a token file: one "ROLE TOKEN" per line, roles admin and
// read; blank lines and lines starting with # are skipped.
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	t, err := ParseTokens(f)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return t, nil
}

// ParseTokens reads tokens in LoadTokens's format. Errors name the line,
// never the token.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want ROLE TOKEN, got %d fields", n, len(f))
		}
		role := Role(f[0])
		if role != RoleAdmin && role != RoleRead {
			return nil, fmt.Errorf("line %d: role %q: want admin or read", n, f[0])
		}
		if len(f[1]) < 16 {
			return nil, fmt.Errorf("line %d: token of %d characters: want at least 16", n, len(f[1]))
		}
		t.entries = append(t.entries, tokenEntry{role: role, token: []byte(f[1])})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("no tokens")
	}
	return t, nil
}

// role returns the role of token, comparing in constant time against every
// entry so that the time taken says nothing of which one matched.
func (t *Tokens) role(token string) (Role, bool) {
	var found Role
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(e.token, []byte(token)) == 1 {
			found = e.role
		}
	}
	return found, found != ""
}

// authorize decides whether the call to method, with ctx's metadata and
// TLS identity, may go on. Over TLS, the worker API is for workers'
// certificates only; with tokens, the job API needs a token of a role that
// allows method.
func authorize(ctx context.Context, method string, tokens *Tokens) error {
	switch {
	case strings.HasPrefix(method, "/"+ringtrainv1.WorkerService_ServiceDesc.ServiceName+"/"):
		if p, ok := secure.Identity(ctx); ok && p.Role != secure.RoleWorker {
			return status.Errorf(codes.PermissionDenied, "the worker API is for workers' certificates; %q is a %s's", p.Name, p.Role)
		}
		return nil
	case strings.HasPrefix(method, "/"+ringtrainv1.JobService_ServiceDesc.ServiceName+"/"):
		if tokens == nil {
			return nil
		}
		tok, err := bearer(ctx)
		if err != nil {
			return err
		}
		role, ok := tokens.role(tok)
		switch {
		case !ok:
			return status.Error(codes.Unauthenticated, "the job API token is not one this coordinator knows")
		case role == RoleRead && !readMethods[method]:
			return status.Errorf(codes.PermissionDenied, "a read token cannot call %s: it needs an admin token", method[strings.LastIndex(method, "/")+1:])
		}
	}
	return nil
}

// bearer returns the call's bearer token.
func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "the job API needs a token: give --token or $RINGTRAIN_TOKEN")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return "", status.Error(codes.Unauthenticated, "authorization metadata is not a Bearer token")
	}
	return tok, nil
}

// callerIs checks that a worker API call about worker id comes from that
// worker's certificate, when the call came over TLS.
func callerIs(ctx context.Context, id string) error {
	if p, ok := secure.Identity(ctx); ok && p.Name != id {
		return status.Errorf(codes.PermissionDenied, "worker %q cannot speak for worker %q", p.Name, id)
	}
	return nil
}

func authUnary(tokens *Tokens) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := authorize(ctx, info.FullMethod, tokens); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func authStream(tokens *Tokens) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := authorize(ss.Context(), info.FullMethod, tokens); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
