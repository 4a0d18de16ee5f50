package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInit: every certificate is signed by the CA, names its role and
// hosts, and lasts LeafLife; keys are private; a second Init into the same
// directory overwrites nothing.
func TestInit(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := Init(dir, Options{Workers: 2, Hosts: []string{"trainer.example.com", "10.0.0.7"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadAuthority(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		name, cn, ou string
		host         string // a host it must be valid for; "" for none
	}{
		{"coordinator", "coordinator", "coordinator", "trainer.example.com"},
		{"etcd", "etcd", "etcd", "10.0.0.7"},
		{"worker-1", "worker-1", "worker", "127.0.0.1"},
		{"worker-2", "worker-2", "worker", ""},
		{"client", "client", "client", ""},
	}
	for _, tc := range tests {
		b, err := os.ReadFile(filepath.Join(dir, tc.name+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.host, CurrentTime: now.Add(time.Hour), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if c.Subject.CommonName != tc.cn || len(c.Subject.OrganizationalUnit) != 1 || c.Subject.OrganizationalUnit[0] != tc.ou {
			t.Errorf("%s: subject %v want CN %s OU %s", tc.name, c.Subject, tc.cn, tc.ou)
		}
		if got := c.NotAfter.Sub(now); got != LeafLife {
			t.Errorf("%s: valid for %v want %v", tc.name, got, LeafLife)
		}
		st, err := os.Stat(filepath.Join(dir, tc.name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s.key: mode %v want 0600", tc.name, st.Mode().Perm())
		}
	}

	before, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("second Init: got %v want ErrExists", err)
	}
	after, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("second Init changed ca.key (%v)", err)
	}
}
