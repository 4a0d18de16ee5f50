package main

import (
	"strings"
	"testing"
)

// TestFlagsRefused: values the worker would change or ignore without a
// word are refused before it starts, each naming its flag.
func TestFlagsRefused(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--threads", "-3"}, "--threads: -3"},
		{[]string{"--threads", "0"}, "--threads: 0"},
		{[]string{"--bucket-bytes", "-5"}, "--bucket-bytes: -5"},
		{[]string{"--ring-timeout", "0s"}, "--ring-timeout: 0s"},
		{[]string{"--ttl", "100ms"}, "--ttl: 100ms, want at least 2s"},
		{[]string{"--ring-advertise", "worker-3"}, "--ring-advertise: address worker-3: missing port"},
		{[]string{"--ring-advertise", "worker-3:http"}, `--ring-advertise: port "http" is not a port number`},
	}
	for _, tc := range tests {
		cmd := newRoot()
		cmd.SetArgs(append(tc.args, "--insecure"))
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
}
