package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"podbox.dev/podbox/pki"
	"podbox.dev/podbox/pki/pkitest"
)

// serveHTTPS serves pods on loopback HTTPS with the certificates of a new
// store and returns its URL and the client's credentials.
func serveHTTPS(t *testing.T, pods ...*corev1.Pod) (string, pki.Client) {
	t.Helper()
	dir := t.TempDir()
	store, err := pki.Open(dir, pki.Options{User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pki.ReadClient(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(newFakePods(pods...), Version{Podbox: "test", GVisor: "release-0"})
	done := make(chan error, 1)
	go func() {
		done <- s.ServeHTTPS(t.Context(), l, &tls.Config{GetCertificate: store.GetCertificate}, store.ClientCAs())
	}()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("ServeHTTPS: %v", err)
		}
	})
	return "https://" + l.Addr().String(), cred
}

func TestHTTPSServesTheUsersClient(t *testing.T) {
	url, cred := serveHTTPS(t, testPod("default", "web", corev1.PodRunning, nil))
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{
		CAData: cred.CA, CertData: cred.Cert, KeyData: cred.Key,
	}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "web" {
		t.Errorf("pods over HTTPS: %+v", list.Items)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Platform == "" || v.GoVersion == "" {
		t.Errorf("/version over HTTPS: %+v", v)
	}
}

// TestHTTPSRefusesOthers: no certificate, or one of another CA, gets 401
// with a Status, as from kube-apiserver; nothing of the pods is sent.
func TestHTTPSRefusesOthers(t *testing.T) {
	url, cred := serveHTTPS(t, testPod("default", "web", corev1.PodRunning, nil))
	other := pkitest.Client(t, "mallory")
	otherPair, err := tls.X509KeyPair(other.Cert, other.Key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cred.CA)
	for name, certs := range map[string][]tls.Certificate{
		"no certificate":             nil,
		"another user's certificate": {otherPair},
	} {
		t.Run(name, func(t *testing.T) {
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
			resp, err := c.Get(url + "/api/v1/namespaces/default/pods")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var st metav1.Status
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusUnauthorized || st.Kind != "Status" || st.Reason != metav1.StatusReasonUnauthorized || st.Code != 401 {
				t.Errorf("answer %d %+v, want 401 and an Unauthorized Status", resp.StatusCode, st)
			}
		})
	}
	// Through client-go, as kubectl reports it.
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{CAData: cred.CA}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("client-go without a certificate: %v, want Unauthorized", err)
	}
}

// TestHTTPSServerIsVerified: a client that trusts another CA (another
// user's kubeconfig) refuses the server at the handshake.
func TestHTTPSServerIsVerified(t *testing.T) {
	url, _ := serveHTTPS(t)
	other := pkitest.Client(t, "mallory")
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: url, TLSClientConfig: rest.TLSClientConfig{
		CAData: other.CA, CertData: other.Cert, KeyData: other.Key,
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("client trusting another CA: %v, want x509.UnknownAuthorityError", err)
	}
}

func TestHTTPSNeedsTLS12(t *testing.T) {
	url, cred := serveHTTPS(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cred.CA)
	conn, err := tls.Dial("tcp", url[len("https://"):], &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
}
