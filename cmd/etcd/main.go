package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	if filepath.Base(os.Args[0]) == "etcdctl" {
		os.Exit(etcdctl(os.Args[1:]))
	}
	etcdmain.Main(os.Args)
}

// etcdctl runs the subset of etcdctl this binary implements and returns
// the exit code.
func etcdctl(args []string) int {
	endpoints := "http://127.0.0.1:2379"
	var (
		cmd  []string
		tlsi transport.TLSInfo
	)
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--endpoints="):
			endpoints = strings.TrimPrefix(a, "--endpoints=")
		case strings.HasPrefix(a, "--cacert="):
			tlsi.TrustedCAFile = strings.TrimPrefix(a, "--cacert=")
		case strings.HasPrefix(a, "--cert="):
			tlsi.CertFile = strings.TrimPrefix(a, "--cert=")
		case strings.HasPrefix(a, "--key="):
			tlsi.KeyFile = strings.TrimPrefix(a, "--key=")
		default:
			cmd = append(cmd, a)
		}
	}
	if strings.Join(cmd, " ") != "endpoint health" {
		fmt.Fprintln(os.Stderr, "etcdctl: this build implements only `etcdctl endpoint health [--endpoints=URL,...] [--cacert=FILE --cert=FILE --key=FILE]`")
		return 2
	}
	client := http.DefaultClient
	if !tlsi.Empty() || tlsi.TrustedCAFile != "" {
		cfg, err := tlsi.ClientConfig()
		if err != nil {
			fmt.Fprintf(os.Stderr, "etcdctl: TLS: %v\n", err)
			return 2
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	code := 0
	for _, ep := range strings.Split(endpoints, ",") {
		if err := health(client, ep); err != nil {
			fmt.Fprintf(os.Stderr, "%s is unhealthy: %v\n", ep, err)
			code = 1
			continue
		}
		fmt.Printf("%s is healthy\n", ep)
	}
	return code
}

// health asks endpoint's /health whether the member is healthy: it has a
// leader and its raft is making progress.
func health(client *http.Client, endpoint string) error {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return fmt.Errorf("read /health: %w", err)
	}
	var h struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("/health answered %s: %q", resp.Status, body)
	}
	if resp.StatusCode != http.StatusOK || h.Health != "true" {
		return fmt.Errorf("/health: %s %s", resp.Status, h.Reason)
	}
	return nil
}
