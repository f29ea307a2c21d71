package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// maxRedirects is how many same-host redirects a probe follows before
// giving up, as Go's and the kubelet's clients do.
const maxRedirects = 10

// HTTPHandler GETs URL: a 2xx status is Success, a 3xx Warning (a redirect
// not followed: counts as success, with a ProbeWarning event), anything
// else Failure "HTTP probe failed with statuscode: <code>"; a transport
// error or timeout is Failure with the error text. Lifecycle hooks send the
// same GET (Get), as the kubelet's handler runner builds its request with
// the probe's builder and follows redirects by the probe's rule.
type HTTPHandler struct {
	// URL to get.
	URL *url.URL
	// Headers to send. User-Agent (UserAgent, kube-probe/<version>, unless
	// the field below says otherwise) and Accept (*/*) are added unless present;
	// an Accept given empty is dropped, a User-Agent given empty is not
	// sent; Host overrides the request host.
	Headers http.Header
	// UserAgent replaces the default User-Agent when set (hooks send
	// LifecycleUserAgent).
	UserAgent string
	// Timeout of the whole exchange, headers included; 0 is none (hooks,
	// bounded by their context instead).
	Timeout time.Duration
	// Dial opens connections; nil means DefaultDial.
	Dial DialFunc
}

// Probe sends one request (following same-host redirects).
func (h *HTTPHandler) Probe(ctx context.Context) Outcome {
	status, b, err := h.Get(ctx)
	switch {
	case err != nil && status == 0:
		// Transport errors and timeouts are failures, not probe errors, so
		// that they count towards the failure threshold.
		return Outcome{Result: Failure, Output: err.Error()}
	case err != nil:
		return Outcome{Result: Failure, Err: err}
	}
	body := string(b)
	switch {
	case status >= 200 && status < 300:
		return Outcome{Result: Success, Output: body}
	case status >= 300 && status < 400:
		return Outcome{Result: Warning, Output: "Probe terminated redirects, Response body: " + body}
	default:
		// The body is left out on purpose: the kubelet keeps response
		// bodies out of failure events (kubernetes issue 99425).
		return Outcome{Result: Failure, Output: fmt.Sprintf("HTTP probe failed with statuscode: %d", status)}
	}
}

// Get sends the GET, following redirects to the first request's host name
// only (sameHostRedirects), and returns the final status and at most
// MaxOutput bytes of its body. err with status 0 is a transport error, a
// timeout or too many redirects: no response. err with a status is a
// failure to read the body of the response that arrived.
func (h *HTTPHandler) Get(ctx context.Context) (status int, body []byte, err error) {
	dial := h.Dial
	if dial == nil {
		dial = DefaultDial
	}
	transport := &http.Transport{
		// Probes target pod IPs with whatever certificate the app has; the
		// kubelet does not verify it, and neither does podbox.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet semantics
		DisableKeepAlives: true,
		// A compressed body would make the 10 KiB cap and messages differ.
		DisableCompression: true,
		Proxy:              nil,
		DialContext:        func(ctx context.Context, network, addr string) (net.Conn, error) { return dial(ctx, network, addr) },
		ForceAttemptHTTP2:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: h.Timeout, CheckRedirect: sameHostRedirects}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header = probeHeaders(h.Headers, h.UserAgent)
	req.Host = req.Header.Get("Host")

	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	// Read what is kept and no more: the rest is left unread, and the
	// connection (no keep-alive) is closed with it.
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxOutput))
	return resp.StatusCode, b, err
}

// probeHeaders copies the user's headers and adds the kubelet's defaults:
// agent (UserAgent if empty) and Accept.
func probeHeaders(user http.Header, agent string) http.Header {
	hdr := user.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if agent == "" {
		agent = UserAgent
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr.Set("User-Agent", agent)
	}
	if _, ok := hdr["Accept"]; !ok {
		hdr.Set("Accept", "*/*")
	} else if hdr.Get("Accept") == "" {
		hdr.Del("Accept")
	}
	return hdr
}

// sameHostRedirects follows a redirect only to the host name of the first
// request (any port): a probe must not wander off to another host. A
// redirect elsewhere hands back the 3xx itself, which becomes a Warning.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		// Surfaces from client.Do as an error, hence a Failure, as in the
		// kubelet's source (the website's "success" claim is not what runs).
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
