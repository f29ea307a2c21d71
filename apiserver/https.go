package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ServeHTTPS serves the API with TLS on l until ctx ends, to the one user
// whose client certificate the CA in clientCAs signed (kubectl and every
// other Kubernetes client, through `podbox kubeconfig`). tlsConfig supplies
// the server's certificate; TLS 1.2 is the least version accepted.
//
// A request without a certificate, or with one from another CA (another
// local user's podbox, say), gets 401 Unauthorized with a Status, as
// kube-apiserver answers an unauthenticated request: the client certificate
// is requested in the handshake but verified for each request
// (authenticated), because a handshake refused for want of a certificate
// reaches clients as a bare TLS alert instead of an error they can explain.
// The handshake still proves that the client holds the certificate's key.
func (s *Server) ServeHTTPS(ctx context.Context, l net.Listener, tlsConfig *tls.Config, clientCAs *x509.CertPool) error {
	cfg := tlsConfig.Clone()
	cfg.MinVersion = tls.VersionTLS12
	cfg.ClientAuth = tls.RequestClientCert
	srv := &http.Server{
		Handler:           authenticated(clientCAs, s),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
	}
	// ServeTLS offers HTTP/2 and HTTP/1.1 (ALPN); exec, attach and
	// port-forward upgrade HTTP/1.1 connections, which is what client-go's
	// SPDY and WebSocket dialers ask for.
	return serveUntil(ctx, srv, func() error { return srv.ServeTLS(l, "", "") })
}

// authenticated passes on the requests whose client certificate verifies
// against clientCAs for client authentication and answers all others 401.
func authenticated(clientCAs *x509.CertPool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := verifyClient(r.TLS, clientCAs); err != nil {
			writeError(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// verifyClient checks the certificate chain the client presented.
func verifyClient(cs *tls.ConnectionState, clientCAs *x509.CertPool) error {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	// No intermediates: podbox's CA signs client certificates itself.
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:     clientCAs,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}
