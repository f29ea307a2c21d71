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
// error or timeout is Failure with the error text.
type HTTPHandler struct {
	// URL to get.
	URL *url.URL
	// Headers to send. User-Agent (kube-probe/<version>) and Accept (*/*)
	// are added unless present; an Accept given empty is dropped, a
	// User-Agent given empty is not sent; Host overrides the request host.
	Headers http.Header
	// Timeout of the whole exchange, headers included.
	Timeout time.Duration
	// Dial opens connections; nil means DefaultDial.
	Dial DialFunc
}

// Probe sends one request (following same-host redirects).
func (h *HTTPHandler) Probe(ctx context.Context) Outcome {
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
		return Outcome{Result: Failure, Err: err}
	}
	req.Header = probeHeaders(h.Headers)
	req.Host = req.Header.Get("Host")

	resp, err := client.Do(req)
	if err != nil {
		// Transport errors and timeouts are failures, not probe errors, so
		// that they count towards the failure threshold.
		return Outcome{Result: Failure, Output: err.Error()}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if err != nil {
		return Outcome{Result: Failure, Err: err}
	}
	body := string(b)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Outcome{Result: Success, Output: body}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Outcome{Result: Warning, Output: "Probe terminated redirects, Response body: " + body}
	default:
		// The body is left out on purpose: the kubelet keeps response
		// bodies out of failure events (kubernetes issue 99425).
		return Outcome{Result: Failure, Output: fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)}
	}
}

// probeHeaders copies the user's headers and adds the kubelet's defaults.
func probeHeaders(user http.Header) http.Header {
	hdr := user.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr.Set("User-Agent", UserAgent)
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
