package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// clock is a settable clock for Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, dir string, c *clock) *Store {
	t.Helper()
	s, err := Open(dir, Options{User: "alice", Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshot is the content of every file of the store (nil if missing).
func snapshot(dir string) map[string][]byte {
	files := map[string][]byte{}
	for _, f := range []string{CACert, CAKey, ServerCert, ServerKey, ClientCert, ClientKey} {
		files[f], _ = os.ReadFile(filepath.Join(dir, f))
	}
	return files
}

// changed lists the files whose content differs between two snapshots.
func changed(a, b map[string][]byte) []string {
	var out []string
	for _, f := range []string{CACert, CAKey, ServerCert, ServerKey, ClientCert, ClientKey} {
		if !bytes.Equal(a[f], b[f]) {
			out = append(out, f)
		}
	}
	return out
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "https")
	if err := os.Mkdir(dir, 0o755); err != nil { // as an older podbox or a umask might leave it
		t.Fatal(err)
	}
	s := open(t, dir, &clock{time.Now()})
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v (%v), want 0700", fi.Mode(), err)
	}
	for _, f := range []string{CAKey, ServerKey, ClientKey} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v (%v), want 0600", f, fi.Mode(), err)
		}
	}

	cred, err := ReadClient(dir)
	if err != nil {
		t.Fatal(err)
	}
	client, err := tls.X509KeyPair(cred.Cert, cred.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := client.Leaf.Subject; got.CommonName != "alice" || len(got.Organization) != 1 || got.Organization[0] != ClientGroup {
		t.Errorf("client subject %v, want CN=alice O=%s", got, ClientGroup)
	}
	if _, err := client.Leaf.Verify(x509.VerifyOptions{Roots: s.ClientCAs(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against the CA: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(cred.CA) {
		t.Fatal("ReadClient's CA is not PEM")
	}
	server, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := server.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if got := server.Leaf.NotAfter.Sub(server.Leaf.NotBefore); got < ServerValidity {
		t.Errorf("server certificate lives %s, want %s", got, ServerValidity)
	}
}

func TestOpenReusesValidCertificates(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	open(t, dir, c)
	before := snapshot(dir)
	c.t = c.t.Add(ServerValidity - RenewBefore - time.Hour) // everything still comfortably valid
	open(t, dir, c)
	if ch := changed(before, snapshot(dir)); len(ch) > 0 {
		t.Errorf("a second Open rewrote %v", ch)
	}
}

func TestOpenRenewsDueServerCertificateOnly(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	open(t, dir, c)
	before := snapshot(dir)
	c.t = c.t.Add(ServerValidity - RenewBefore + time.Hour)
	s := open(t, dir, c)
	if ch := changed(before, snapshot(dir)); !slices.Equal(ch, []string{ServerCert, ServerKey}) {
		t.Errorf("Open with the server certificate due rewrote %v, want only the server's pair", ch)
	}
	server, _ := s.GetCertificate(nil)
	if !server.Leaf.NotAfter.After(c.t.Add(ServerValidity - time.Hour)) {
		t.Errorf("renewed server certificate expires %s", server.Leaf.NotAfter)
	}
}

func TestOpenRenewsEverythingWithTheCA(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	open(t, dir, c)
	before := snapshot(dir)
	c.t = c.t.Add(CAValidity - RenewBefore + time.Hour)
	open(t, dir, c)
	if ch := changed(before, snapshot(dir)); len(ch) != 6 {
		t.Errorf("Open with the CA due rewrote %v, want every file", ch)
	}
	if _, err := ReadClient(dir); err != nil {
		t.Error(err)
	}
}

func TestOpenRepairsPartialPairs(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	open(t, dir, c)
	before := snapshot(dir)
	// A crash after writing a new client key, before its certificate.
	if err := os.WriteFile(filepath.Join(dir, ClientKey), before[ServerKey], 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir, c)
	if ch := changed(before, snapshot(dir)); !slices.Equal(ch, []string{ClientCert, ClientKey}) {
		t.Errorf("Open after a torn client pair rewrote %v, want only the client's pair", ch)
	}
	if _, err := ReadClient(dir); err != nil {
		t.Error(err)
	}
	// A lost CA key: a new CA, and new certificates signed by it.
	if err := os.Remove(filepath.Join(dir, CAKey)); err != nil {
		t.Fatal(err)
	}
	before = snapshot(dir)
	open(t, dir, c)
	if ch := changed(before, snapshot(dir)); len(ch) != 6 {
		t.Errorf("Open after losing the CA key rewrote %v, want every file", ch)
	}
}

func TestGetCertificateRenewsWhileServing(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Now()}
	s := open(t, dir, c)
	first, _ := s.GetCertificate(nil)
	c.t = c.t.Add(ServerValidity - RenewBefore + time.Minute)
	second, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || !second.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Fatalf("GetCertificate served the due certificate (expires %s)", second.Leaf.NotAfter)
	}
	if third, _ := s.GetCertificate(nil); third != second {
		t.Errorf("GetCertificate issued again a certificate that was not due")
	}
	// The renewed pair is on disk: the next supervisor serves it.
	again := open(t, dir, c)
	if got, _ := again.GetCertificate(nil); !bytes.Equal(got.Certificate[0], second.Certificate[0]) {
		t.Errorf("the renewed server certificate was not written")
	}
}

func TestOpenNeedsAUser(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{}); err == nil {
		t.Error("Open without a user name succeeded")
	}
}
