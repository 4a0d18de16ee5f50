package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoServer: the worker binary has an etcd client, not an etcd
// server, and no test code.
func TestLinksNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "go.etcd.io/etcd/server/") || dep == "testing" {
			t.Errorf("the worker links %s", dep)
		}
	}
}
