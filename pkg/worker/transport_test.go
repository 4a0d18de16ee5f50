package worker

import "testing"

func TestNextPort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[::]:7071", "[::]:7072"},
		{"127.0.0.1:1", "127.0.0.1:2"},
		{"host:65535", ""},
		{"host:http", ""},
		{"no-port", ""},
	} {
		got, err := NextPort(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("NextPort(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRingTransportFlag(t *testing.T) {
	var rt RingTransport
	if rt.String() != "tcp" {
		t.Errorf("zero value: got %q, want tcp", rt.String())
	}
	for _, tc := range []struct {
		in   string
		want RingTransport
		ok   bool
	}{{"tcp", TCP, true}, {"grpc", GRPC, true}, {"udp", "", false}, {"", "", false}} {
		rt = ""
		err := rt.Set(tc.in)
		if (err == nil) != tc.ok || rt != tc.want {
			t.Errorf("Set(%q): got %q, %v; want %q, ok %v", tc.in, rt, err, tc.want, tc.ok)
		}
	}
}
