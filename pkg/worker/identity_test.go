package worker

import (
	"errors"
	"testing"

	"github.com/ringtrain/ringtrain/internal/certs"
	"github.com/ringtrain/ringtrain/internal/secure"
)

// TestIdentity: a worker runs only under the ID its certificate names, and
// only with a worker's certificate.
func TestIdentity(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	load := func(name string) *secure.Config {
		c, err := secure.LoadNamed(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		id, cert string
		refused  bool
	}{
		{"worker-1", "worker-1", false},
		{"worker-2", "worker-1", true},
		{"client", "client", true}, // a client's certificate is not a worker's
	}
	for _, tc := range tests {
		_, err := New(Config{ID: tc.id, TLS: load(tc.cert)})
		if got := errors.Is(err, ErrIdentity); got != tc.refused {
			t.Errorf("worker %s with %s's certificate: got %v, want ErrIdentity %v", tc.id, tc.cert, err, tc.refused)
		}
	}
}
