package netaddr

import (
	"net"
	"testing"
)

func TestAdvertise(t *testing.T) {
	tests := []struct {
		bound    string
		keep     bool
		wantPort string
	}{
		{"127.0.0.1:7071", true, "7071"},
		{"10.1.2.3:80", true, "80"},
		{"[::]:7071", false, "7071"},
		{"0.0.0.0:9000", false, "9000"},
	}
	for _, tc := range tests {
		got, err := Advertise(tc.bound)
		if err != nil {
			t.Logf("%s: %v (host has no non-loopback IPv4)", tc.bound, err)
			continue
		}
		host, port, _ := net.SplitHostPort(got)
		if port != tc.wantPort {
			t.Errorf("%s: got port %s want %s", tc.bound, port, tc.wantPort)
		}
		if tc.keep && got != tc.bound {
			t.Errorf("%s: got %s, want it kept", tc.bound, got)
		}
		if ip := net.ParseIP(host); !tc.keep && (ip == nil || ip.IsUnspecified() || ip.IsLoopback()) {
			t.Errorf("%s: advertised %s, want a reachable host IP", tc.bound, got)
		}
	}
	if _, err := Advertise("nonsense"); err == nil {
		t.Error("Advertise(nonsense): want error")
	}
}
