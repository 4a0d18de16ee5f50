package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/ringtrain/ringtrain/internal/secure"
)

// Lifetimes of what Init makes: long enough not to surprise a cluster in
// its first year, short enough that a lost key does not last a decade.
const (
	CALife   = 5 * 365 * 24 * time.Hour
	LeafLife = 365 * 24 * time.Hour
)

// Authority is a CA: its certificate and key.
type Authority struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewAuthority makes a self-signed CA valid from now for life.
func NewAuthority(name string, now time.Time, life time.Duration) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ringtrain"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(life),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// Leaf says what a certificate is for.
type Leaf struct {
	// Name is the common name: a worker's ID, or the role's name.
	Name string
	// Role is the organizational unit (secure.RoleWorker, ...).
	Role string
	// Hosts are the DNS names and IP addresses a server is reached at.
	Hosts     []string
	NotBefore time.Time
	NotAfter  time.Time
}

// Issue returns a new key and a certificate for it signed by a, both PEM.
// Every certificate serves both ends of mutual TLS.
func (a *Authority) Issue(l Leaf) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key for %s: %w", l.Name, err)
	}
	certPEM, err = a.sign(l, &key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("key for %s: %w", l.Name, err)
	}
	return certPEM, pemBlock("EC PRIVATE KEY", kder), nil
}

// SignRequest returns the certificate, PEM, of the key in csr (DER, its
// signature checked) for l; l.Name must be the request's common name.
func (a *Authority) SignRequest(csrDER []byte, l Leaf) ([]byte, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if csr.Subject.CommonName != l.Name {
		return nil, fmt.Errorf("certificate request for %q, not %q", csr.Subject.CommonName, l.Name)
	}
	return a.sign(l, csr.PublicKey)
}

// NewRequest returns a new key, PEM, and a certificate request for it,
// DER, whose common name is name.
func NewRequest(name string) (keyPEM, csrDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key for %s: %w", name, err)
	}
	csrDER, err = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request for %s: %w", name, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("key for %s: %w", name, err)
	}
	return pemBlock("EC PRIVATE KEY", kder), csrDER, nil
}

func (a *Authority) sign(l Leaf, pub any) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: l.Name, OrganizationalUnit: []string{l.Role}, Organization: []string{"ringtrain"}},
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range l.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, pub, a.Key)
	if err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", l.Name, err)
	}
	return pemBlock("CERTIFICATE", der), nil
}

// CertPEM returns the CA's certificate, PEM.
func (a *Authority) CertPEM() []byte { return pemBlock("CERTIFICATE", a.Cert.Raw) }

// KeyPEM returns the CA's key, PEM.
func (a *Authority) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(a.Key)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

// Options say what Init makes.
type Options struct {
	// Workers is how many worker certificates (worker-1 ... worker-N).
	Workers int
	// Hosts are the names and addresses, beyond localhost, at which the
	// coordinator and etcd are reached.
	Hosts []string
	// Now is when the certificates start (default time.Now()).
	Now time.Time
}

// DefaultHosts are in every server certificate: the loopback names, and
// the service names of the compose and Kubernetes deployments.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1", "coordinator", "etcd"}

// ErrExists is returned by Init when dir already holds one of the files it
// would write: it never overwrites a cluster's keys.
var ErrExists = errors.New("certs: file exists")

// Init writes into dir (made if missing) a CA (ca.crt, ca.key), a
// certificate and key for the coordinator, etcd, opts.Workers workers
// (worker-1 ...) and a client, and the job API's tokens: tokens (one
// "ROLE TOKEN" line each for admin and read, the coordinator's
// --token-file) and admin.token and read.token (the token alone, for
// clients), and join.token, with which a worker without a certificate
// asks the coordinator for one (coordinator serve --join-token-file). It
// returns the paths written. Keys and tokens are readable by their owner
// only.
func Init(dir string, opts Options) ([]string, error) {
	if opts.Workers < 0 {
		return nil, fmt.Errorf("certs: %d workers", opts.Workers)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	files := map[string][]byte{}
	order := []string{"ca.crt", "ca.key"}
	ca, err := NewAuthority("ringtrain CA", now, CALife)
	if err != nil {
		return nil, err
	}
	files["ca.crt"] = ca.CertPEM()
	if files["ca.key"], err = ca.KeyPEM(); err != nil {
		return nil, err
	}
	hosts := append(append([]string(nil), DefaultHosts...), opts.Hosts...)
	leaves := []Leaf{
		{Name: "coordinator", Role: secure.RoleCoordinator, Hosts: hosts},
		{Name: "etcd", Role: secure.RoleEtcd, Hosts: hosts},
		{Name: "client", Role: secure.RoleClient},
	}
	for i := 1; i <= opts.Workers; i++ {
		leaves = append(leaves, Leaf{Name: fmt.Sprintf("worker-%d", i), Role: secure.RoleWorker, Hosts: []string{"localhost", "127.0.0.1", "::1"}})
	}
	for _, l := range leaves {
		l.NotBefore, l.NotAfter = now.Add(-time.Minute), now.Add(LeafLife)
		c, k, err := ca.Issue(l)
		if err != nil {
			return nil, err
		}
		files[l.Name+".crt"], files[l.Name+".key"] = c, k
		order = append(order, l.Name+".crt", l.Name+".key")
	}
	admin, read := NewToken(), NewToken()
	files["tokens"] = []byte("admin " + admin + "\nread " + read + "\n")
	files["admin.token"] = []byte(admin + "\n")
	files["read.token"] = []byte(read + "\n")
	files["join.token"] = []byte(NewToken() + "\n")
	order = append(order, "tokens", "admin.token", "read.token", "join.token")

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	for _, name := range order {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return nil, fmt.Errorf("%w: %s (remove the directory's files to make new ones)", ErrExists, filepath.Join(dir, name))
		}
	}
	var written []string
	for _, name := range order {
		mode := os.FileMode(0o600)
		if filepath.Ext(name) == ".crt" {
			mode = 0o644
		}
		p := filepath.Join(dir, name)
		// O_EXCL: a file that appeared since the check is not overwritten.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err == nil {
			_, err = f.Write(files[name])
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return written, fmt.Errorf("certs: write %s: %w", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}

// NewToken returns a random bearer token: 32 bytes, hex.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// LoadAuthority reads a CA's certificate and key, PEM files Init wrote.
func LoadAuthority(certFile, keyFile string) (*Authority, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", certFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || !pair.Leaf.IsCA {
		return nil, fmt.Errorf("load CA %s: not an ECDSA certificate authority", certFile)
	}
	return &Authority{Cert: pair.Leaf, Key: key}, nil
}

// WorkerFiles are what a worker needs to join a cluster Init made: the CA
// to verify the coordinator by, and the join token.
var WorkerFiles = []string{"ca.crt", "join.token"}

// Share copies the named files of dir into to (made if missing), with
// their modes: a directory that holds no more than a party needs, for a
// volume mounted into its containers. A file already there with the same
// content is left; one with other content is not overwritten (ErrExists).
func Share(dir, to string, names ...string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		p := filepath.Join(to, n)
		if old, err := os.ReadFile(p); err == nil {
			if bytes.Equal(old, b) {
				continue
			}
			return fmt.Errorf("%w: %s holds something else", ErrExists, p)
		}
		if err := os.WriteFile(p, b, st.Mode().Perm()); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
	}
	return nil
}
