// Package pki keeps the certificates of podbox's HTTPS endpoint for one
// user: a certificate authority of the user's own, the server's certificate
// (for 127.0.0.1, ::1 and localhost) and one client certificate, which is the
// only credential the endpoint accepts (docs/security.md).
//
// Everything lives in one directory of mode 0700; keys are 0600, and every
// file is written durably (dirs.WriteFile). Nothing is issued again while it
// is valid: the client certificate and the CA are embedded in the kubeconfigs
// the user has exported, which a new one would void. A pair that is missing,
// unreadable, whose certificate does not match its key, is not signed by the
// CA or expires within RenewBefore is issued again, and a new CA re-issues
// both others; so a crash between writing a key and its certificate is
// repaired by the next Open.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"podbox.dev/podbox/dirs"
)

// Lifetimes, as kubeadm has them for its CA (10 years) and serving
// certificates (1 year). The client certificate lives as long as the CA:
// renewing it would void every exported kubeconfig. The server's is renewed
// while the supervisor runs (GetCertificate), invisibly to clients, which
// trust the CA.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	ServerValidity = 365 * 24 * time.Hour
	ClientValidity = CAValidity
	// RenewBefore is how long before its expiry a certificate is replaced.
	RenewBefore = 30 * 24 * time.Hour
	// backdate covers clocks that differ a little between processes or
	// after a suspend: a certificate is valid from an hour before issue.
	backdate = time.Hour
)

// Files in the directory: each certificate beside its key, in PEM.
const (
	CACert     = "ca.crt"
	CAKey      = "ca.key"
	ServerCert = "server.crt"
	ServerKey  = "server.key"
	ClientCert = "client.crt"
	ClientKey  = "client.key"
)

// ClientGroup is the client certificate's organization, which Kubernetes'
// x509 authenticator reads as the user's group: the group of cluster admins,
// as k3s and kubeadm's super-admin.conf have it. The one user owns everything.
const ClientGroup = "system:masters"

// serverIPs and serverDNS are the names the server certificate is valid for:
// the loopback addresses the endpoint can be reached at.
var (
	serverIPs = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	serverDNS = []string{"localhost"}
)

// Options are the settings of Open.
type Options struct {
	// User is the client certificate's common name: the user's login name.
	User string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Log receives a line for every certificate issued (none if nil).
	Log *slog.Logger
}

// Store is the certificate directory of one user, opened by the supervisor.
type Store struct {
	dir  string
	now  func() time.Time
	log  *slog.Logger
	ca   *tls.Certificate
	pool *x509.CertPool

	mu     sync.Mutex
	server *tls.Certificate
}

// Open creates the directory and whatever of the CA, server and client
// certificates is missing or due (see the package documentation), and
// returns the store.
func Open(dir string, o Options) (*Store, error) {
	if o.User == "" {
		return nil, errors.New("pki: no user name for the client certificate")
	}
	s := &Store{dir: dir, now: o.Now, log: o.Log}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	// MkdirAll leaves an existing directory's mode alone.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	renewed, err := s.openCA()
	if err != nil {
		return nil, err
	}
	if s.server, err = s.ensure(ServerCert, ServerKey, renewed, serverTemplate()); err != nil {
		return nil, err
	}
	if _, err := s.ensure(ClientCert, ClientKey, renewed, clientTemplate(o.User)); err != nil {
		return nil, err
	}
	return s, nil
}

// openCA loads the CA, or issues a new one (and says so) when it is missing
// or due.
func (s *Store) openCA() (renewed bool, err error) {
	ca, err := s.load(CACert, CAKey)
	problem := s.problem(ca, err, caTemplate())
	if problem == "" {
		s.setCA(ca)
		return false, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Info("creating the HTTPS endpoint's certificate authority and certificates", "dir", s.dir)
	} else {
		s.log.Warn("issuing a new certificate authority for the HTTPS endpoint; kubeconfigs exported before need `podbox kubeconfig` again",
			"dir", s.dir, "why", problem)
	}
	if ca, err = s.issue(CACert, CAKey, caTemplate()); err != nil {
		return false, err
	}
	s.setCA(ca)
	return true, nil
}

func (s *Store) setCA(ca *tls.Certificate) {
	s.ca = ca
	s.pool = x509.NewCertPool()
	s.pool.AddCert(ca.Leaf)
}

// ensure returns the pair in certFile and keyFile, issuing it again from
// template when force is set or when it has a problem.
func (s *Store) ensure(certFile, keyFile string, force bool, template *x509.Certificate) (*tls.Certificate, error) {
	if !force {
		c, err := s.load(certFile, keyFile)
		problem := s.problem(c, err, template)
		if problem == "" {
			return c, nil
		}
		s.log.Info("issuing a certificate for the HTTPS endpoint", "file", filepath.Join(s.dir, certFile), "why", problem)
	}
	return s.issue(certFile, keyFile, template)
}

// problem says why the pair c (loaded with loadErr) must be issued again
// from template, or is "" when it can stay: it is there and readable, its
// certificate matches its key, is signed by the CA (or is the CA), is not
// due, and has template's subject and names (a certificate of an older layout
// is replaced).
func (s *Store) problem(c *tls.Certificate, loadErr error, template *x509.Certificate) string {
	switch {
	case errors.Is(loadErr, fs.ErrNotExist):
		return "none yet"
	case loadErr != nil:
		return loadErr.Error()
	case !s.fresh(c.Leaf):
		return "it expires " + c.Leaf.NotAfter.Format(time.RFC3339)
	case template.IsCA && !c.Leaf.IsCA:
		return "it is not a CA"
	case !template.IsCA && c.Leaf.CheckSignatureFrom(s.ca.Leaf) != nil:
		return "it is not signed by the CA"
	case c.Leaf.Subject.String() != template.Subject.String() ||
		!slices.Equal(c.Leaf.DNSNames, template.DNSNames) ||
		!slices.EqualFunc(c.Leaf.IPAddresses, template.IPAddresses, net.IP.Equal):
		return "it names another subject or other addresses"
	}
	return ""
}

// fresh reports whether c is valid now and for longer than RenewBefore.
func (s *Store) fresh(c *x509.Certificate) bool {
	return s.now().Add(RenewBefore).Before(c.NotAfter)
}

// GetCertificate is the server's certificate, for tls.Config: the one on
// disk, renewed when it is due, so a supervisor that runs for a year keeps
// serving. When renewal fails the old one is served while it is valid.
func (s *Store) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh(s.server.Leaf) {
		return s.server, nil
	}
	c, err := s.issue(ServerCert, ServerKey, serverTemplate())
	if err != nil {
		if s.now().Before(s.server.Leaf.NotAfter) {
			s.log.Error("renewing the HTTPS endpoint's certificate failed; serving the old one until it expires", "err", err)
			return s.server, nil
		}
		return nil, err
	}
	s.log.Info("renewed the HTTPS endpoint's certificate", "expires", c.Leaf.NotAfter)
	s.server = c
	return c, nil
}

// ClientCAs is the pool that verifies client certificates: the user's CA.
func (s *Store) ClientCAs() *x509.CertPool { return s.pool }

// load reads one pair and checks that the certificate matches the key.
func (s *Store) load(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(filepath.Join(s.dir, certFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(s.dir, keyFile))
	if err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	return &c, nil // X509KeyPair fills in c.Leaf
}

// issue makes a new key and a certificate from template, signed by the CA
// (or by itself, for the CA), writes both (the key first: a crash in between
// leaves a pair that does not match, which the next Open replaces) and
// returns the pair.
func (s *Store) issue(certFile, keyFile string, template *x509.Certificate) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	template.NotBefore = s.now().Add(-backdate)
	template.NotAfter = s.now().Add(validity(template))
	parent, parentKey := template, crypto.Signer(key)
	if !template.IsCA {
		parent, parentKey = s.ca.Leaf, s.ca.PrivateKey.(crypto.Signer)
		// Nothing outlives the CA that vouches for it.
		template.NotAfter = minTime(template.NotAfter, parent.NotAfter)
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", certFile, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := dirs.WriteFile(filepath.Join(s.dir, keyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := dirs.WriteFile(filepath.Join(s.dir, certFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	return &c, err
}

// validity is how long a certificate made from template lives.
func validity(template *x509.Certificate) time.Duration {
	switch {
	case template.IsCA:
		return CAValidity
	case slices.Contains(template.ExtKeyUsage, x509.ExtKeyUsageServerAuth):
		return ServerValidity
	default:
		return ClientValidity
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func caTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: "podbox-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
}

func serverTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "podbox"},
		DNSNames:    serverDNS,
		IPAddresses: serverIPs,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

func clientTemplate(user string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: []string{ClientGroup}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// Client is what a client needs to reach the endpoint, in PEM: the CA that
// vouches for the server, and the client certificate and its key.
type Client struct {
	CA, Cert, Key []byte
}

// ReadClient reads the client's credentials from dir (written by the
// supervisor's Open), checking that the certificate matches its key.
func ReadClient(dir string) (Client, error) {
	var c Client
	var err error
	if c.CA, err = os.ReadFile(filepath.Join(dir, CACert)); err != nil {
		return c, err
	}
	if c.Cert, err = os.ReadFile(filepath.Join(dir, ClientCert)); err != nil {
		return c, err
	}
	if c.Key, err = os.ReadFile(filepath.Join(dir, ClientKey)); err != nil {
		return c, err
	}
	if _, err := tls.X509KeyPair(c.Cert, c.Key); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, ClientCert), err)
	}
	return c, nil
}
