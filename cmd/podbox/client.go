package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport/websocket"

	"podbox.dev/podbox/daemon"
	"podbox.dev/podbox/dirs"
)

// client is what the commands need from the supervisor. Commands take the
// narrow interfaces of coreclient.go rather than a whole client so that their
// logic runs in tests against k8s.io/client-go/kubernetes/fake without a
// server.
type client struct {
	// pods is the typed pod API (coreAPI, or CoreV1 of a fake clientset).
	pods podsGetter
	// events is the typed event API.
	events eventsGetter
	// configMaps and secrets are the typed ConfigMap and Secret APIs.
	configMaps configMapsGetter
	secrets    secretsGetter
	// claims is the typed PersistentVolumeClaim API.
	claims claimsGetter
	// config reaches the supervisor; exec needs it to open its websocket.
	config *rest.Config
	// rest builds sub-resource URLs (pods/NAME/exec).
	rest rest.Interface
}

// connect returns a client for the supervisor. It is a variable so tests can
// hand the commands a fake clientset instead of starting a supervisor.
var connect = newClient

// newClient makes sure the supervisor of the calling user runs (starting it in
// the background the first time) and returns a client speaking to it over its
// unix socket.
func newClient(ctx context.Context) (*client, error) {
	d, err := dirs.FromEnv()
	if err != nil {
		return nil, err
	}
	if err := daemon.Ensure(ctx, d); err != nil {
		return nil, err
	}
	cfg := restConfig(d.Socket())
	// The core/v1 client alone: the supervisor serves nothing else, and a
	// whole clientset would build a REST client for every API group of
	// Kubernetes on every command.
	rc, err := newCoreREST(cfg)
	if err != nil {
		return nil, err
	}
	core := coreAPI{rest: rc}
	return &client{pods: core, events: core, configMaps: core, secrets: core, claims: core, config: cfg, rest: rc}, nil
}

// restConfig is a client-go configuration for the supervisor's socket. The
// host name is never resolved: every connection (API calls, exec, attach,
// logs, port-forward) is dialled to the socket by dirs.DialSocket, which first
// proves that the socket's 0700 directory (the access control: there is no
// token or certificate) and the process serving it belong to the user.
func restConfig(sock string) *rest.Config {
	return &rest.Config{
		Host: "http://podbox",
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dirs.DialSocket(ctx, sock)
		},
		ContentConfig: rest.ContentConfig{
			// Requests are JSON, as the supervisor reads them; answers
			// may be protobuf, which it sends for pods and pod lists:
			// decoding it takes a fraction of the CPU of JSON.
			ContentType:        "application/json",
			AcceptContentTypes: "application/vnd.kubernetes.protobuf,application/json",
		},
		UserAgent: "podbox",
		// The supervisor is local and answers immediately; client-go's
		// default of 5 queries per second would slow down delete --wait
		// polling and large applies for no benefit.
		QPS:   1000,
		Burst: 1000,
		// Server warnings (Warning headers) print as kubectl prints them.
		WarningHandler: rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{Deduplicate: true}),
	}
}

// webSocketConfig returns a copy of cfg whose websocket upgrades are dialled
// to the unix socket. client-go's websocket transport (used by exec) ignores
// rest.Config.Dial and always dials TCP to the host in the URL, so the
// upgrade round tripper it builds is replaced here, through WrapTransport,
// by one that dials the socket; client-go's stream protocol implementation on
// top of the connection is used unchanged.
func webSocketConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		holder, ok := rt.(*websocket.RoundTripper)
		if !ok || cfg.Dial == nil {
			return rt
		}
		return &unixUpgrader{holder: holder, dial: cfg.Dial}
	}
	return c
}

// unixUpgrader performs the websocket handshake over a custom dialer and hands
// the connection to client-go's websocket.RoundTripper, which is where the
// stream executor looks for it.
type unixUpgrader struct {
	holder *websocket.RoundTripper
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

// RoundTrip implements http.RoundTripper by upgrading req to a websocket.
func (u *unixUpgrader) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	// client-go passes the sub-protocols it offers as a header; the websocket
	// library wants them on the dialer and sets the header itself.
	header := req.Header.Clone()
	protocols := header.Values("Sec-WebSocket-Protocol")
	header.Del("Sec-WebSocket-Protocol")
	var offered []string
	for _, p := range protocols {
		for _, one := range strings.Split(p, ",") {
			offered = append(offered, strings.TrimSpace(one))
		}
	}

	u2 := *req.URL
	switch u2.Scheme {
	case "http":
		u2.Scheme = "ws"
	case "https":
		u2.Scheme = "wss"
	}
	dialer := gwebsocket.Dialer{
		NetDialContext: u.dial,
		Subprotocols:   offered,
		// One frame carries a channel byte plus a buffer of data.
		ReadBufferSize:  u.holder.DataBufferSize() + 1024,
		WriteBufferSize: u.holder.DataBufferSize() + 1024,
	}
	conn, resp, err := dialer.DialContext(req.Context(), u2.String(), header)
	if err != nil {
		if errors.Is(err, gwebsocket.ErrBadHandshake) && resp != nil {
			// Returned as is rather than as client-go's
			// UpgradeFailureError, which only matters for falling back
			// to SPDY (the supervisor has none) and would hide the
			// API error from the kubectl-style error printing.
			return nil, handshakeError(resp, err)
		}
		return nil, err
	}
	if !slices.Contains(offered, conn.Subprotocol()) {
		conn.Close()
		return nil, fmt.Errorf("the podbox supervisor chose stream protocol %q; podbox speaks %s",
			conn.Subprotocol(), strings.Join(offered, ", "))
	}
	u.holder.Conn = conn
	return resp, nil
}

// handshakeError turns a refused upgrade into the API error it carries (a 404
// for a missing pod, a 400 for a bad container), so it is reported like every
// other server error.
func handshakeError(resp *http.Response, err error) error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var status metav1.Status
	if obj, _, derr := coreScheme().codecs.UniversalDeserializer().Decode(body, nil, &status); derr == nil {
		if s, ok := obj.(*metav1.Status); ok && s.Status == metav1.StatusFailure {
			return &apierrors.StatusError{ErrStatus: *s}
		}
	}
	if msg := strings.TrimSpace(string(body)); msg != "" {
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	return fmt.Errorf("%w (%s)", err, resp.Status)
}
