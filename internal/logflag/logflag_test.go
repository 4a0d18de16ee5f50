package logflag

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		format  string
		verbose bool
		check   func(string) bool
		fails   bool
	}{
		{"json", false, func(out string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(out), &m) == nil && m["msg"] == "hello" && m["worker"] == "w1"
		}, false},
		{"text", false, func(out string) bool { return strings.Contains(out, "msg=hello worker=w1") }, false},
		{"", true, func(out string) bool { return strings.Contains(out, "level=DEBUG") }, false},
		{"xml", false, nil, true},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		log, err := New(&b, tc.format, tc.verbose)
		if tc.fails != (err != nil) {
			t.Errorf("format %q: got error %v, want one: %v", tc.format, err, tc.fails)
			continue
		}
		if err != nil {
			continue
		}
		if tc.verbose {
			log.Debug("hello", "worker", "w1")
		} else {
			log.Info("hello", "worker", "w1")
		}
		if !tc.check(b.String()) {
			t.Errorf("format %q: wrote %q", tc.format, b.String())
		}
	}
}
