package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// retryTransport is the HTTP transport under ggcr for pulls. It exists because
// ggcr's own retries ignore Retry-After and restart an interrupted blob from
// byte 0:
//
//   - a 429 or 5xx answer to a GET or HEAD is retried with exponential back-off,
//     waiting at least what the server's Retry-After asks for;
//   - a network error before any answer is retried the same way;
//   - a 200 blob response whose body breaks off is resumed with a closed
//     Range request (bytes=N-M, because ggcr's registry and some others refuse
//     the open-ended form with 416), and the caller sees one unbroken body.
//
// ggcr's retry layer is switched off (see pullRemoteOptions) so that the two do
// not multiply each other's attempts.
type retryTransport struct {
	base http.RoundTripper
	// attempts is how many times one request is tried in all (≥ 1).
	attempts int
	// backoff is the first wait; each further wait doubles, up to maxBackoff.
	backoff, maxBackoff time.Duration
	// maxRetryAfter caps what a server may ask us to wait, so a hostile or
	// confused registry cannot stall a pod start for hours.
	maxRetryAfter time.Duration
	// sleep waits for d or until ctx ends; tests replace it to run instantly
	// and to record the waits.
	sleep func(ctx context.Context, d time.Duration) error
	// fetched counts body bytes of blob responses, for PullResult and for
	// proving that a second pull transfers nothing.
	fetched atomic.Int64
}

func newRetryTransport(base http.RoundTripper) *retryTransport {
	return &retryTransport{
		base:          base,
		attempts:      6,
		backoff:       500 * time.Millisecond,
		maxBackoff:    30 * time.Second,
		maxRetryAfter: 2 * time.Minute,
		sleep:         sleepCtx,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// defaultBaseTransport is ggcr's default transport with more idle connections
// per host, so that parallel layer downloads reuse their connections.
func defaultBaseTransport() http.RoundTripper {
	t, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		return remote.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}

// retryable reports whether a status is worth asking again: rate limiting and
// server-side trouble, never a client error such as 401 or 404.
func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout ||
		(code >= 500 && code != http.StatusNotImplemented && code != http.StatusHTTPVersionNotSupported)
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	// A request with a body can be sent again only if it can be rewound.
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		idempotent = false
	}
	if !idempotent {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	wait := t.backoff
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := t.base.RoundTrip(r)
		last := attempt >= t.attempts
		switch {
		case err != nil:
			if last || ctx.Err() != nil || !transientError(err) {
				return nil, err
			}
		case retryable(resp.StatusCode) && !last:
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = max(wait, min(ra, t.maxRetryAfter))
			}
			// Drain a little so the connection can be reused, then let go.
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			resp.Body.Close()
		default:
			if resp.StatusCode == http.StatusOK && req.Method == http.MethodGet && isBlobPath(req.URL.Path) {
				resp.Body = t.resumable(req, resp)
			}
			return resp, nil
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(wait*2, t.maxBackoff)
	}
}

// transientError reports whether a failed request may succeed if sent again:
// a reset or dropped connection or a timeout, not a refused connection, a
// TLS mismatch (ggcr probes https before http) or an unknown host.
func transientError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isBlobPath reports whether p is a registry blob URL (/v2/<name>/blobs/<digest>).
// Redirected blob downloads (to a CDN) are not recognised and so are not
// resumed, which only costs a restart by ggcr.
func isBlobPath(p string) bool {
	i := strings.LastIndex(p, "/blobs/")
	return strings.HasPrefix(p, "/v2/") && i > 0 && strings.Contains(p[i:], ":")
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// resumable wraps the body of a 200 blob response. Resuming needs to know
// where the blob ends (a closed range), so without a Content-Length the body
// is only counted.
func (t *retryTransport) resumable(req *http.Request, resp *http.Response) io.ReadCloser {
	return &resumingBody{t: t, req: req, body: resp.Body, size: resp.ContentLength, etag: resp.Header.Get("ETag")}
}

// resumingBody is a blob body that reconnects with Range requests when the
// connection breaks, so the reader sees the whole blob once.
type resumingBody struct {
	t       *retryTransport
	req     *http.Request
	body    io.ReadCloser
	size    int64 // -1 when unknown
	etag    string
	off     int64
	resumes int
	closed  bool
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := b.body.Read(p)
		b.off += int64(n)
		b.t.fetched.Add(int64(n))
		if err == nil || (err == io.EOF && (b.size < 0 || b.off >= b.size)) {
			return n, err
		}
		// The body ended early (EOF before Content-Length is an unexpected
		// EOF too) or the connection failed: try to continue where it stopped.
		if n > 0 {
			return n, nil // deliver what we have; the next Read resumes
		}
		if rerr := b.resume(err); rerr != nil {
			return 0, rerr
		}
	}
}

// resume replaces the broken body with the rest of the blob.
func (b *resumingBody) resume(cause error) error {
	ctx := b.req.Context()
	if b.size < 0 || b.closed || ctx.Err() != nil || b.resumes >= b.t.attempts {
		return cause
	}
	b.body.Close()
	wait := b.t.backoff
	for {
		b.resumes++
		r := b.req.Clone(ctx)
		r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", b.off, b.size-1))
		if b.etag != "" {
			// Never splice two different objects together.
			r.Header.Set("If-Range", b.etag)
		}
		resp, err := b.t.base.RoundTrip(r)
		if err == nil {
			if resp.StatusCode == http.StatusPartialContent && contentRangeStarts(resp.Header.Get("Content-Range"), b.off, b.size) {
				b.body = resp.Body
				return nil
			}
			resp.Body.Close()
			if !retryable(resp.StatusCode) {
				return fmt.Errorf("%w (resuming at byte %d: the registry answered %s instead of the requested range)", cause, b.off, resp.Status)
			}
		}
		if b.resumes >= b.t.attempts {
			return fmt.Errorf("%w (gave up resuming at byte %d after %d attempts)", cause, b.off, b.resumes)
		}
		if err := b.t.sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(wait*2, b.t.maxBackoff)
	}
}

// contentRangeStarts checks "bytes off-(size-1)/size" (the total may be "*").
func contentRangeStarts(v string, off, size int64) bool {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return false
	}
	span, total, _ := strings.Cut(rest, "/")
	first, lastStr, ok := strings.Cut(span, "-")
	if !ok {
		return false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	end, err2 := strconv.ParseInt(lastStr, 10, 64)
	if err1 != nil || err2 != nil || start != off || end != size-1 {
		return false
	}
	return total == "*" || total == strconv.FormatInt(size, 10)
}

func (b *resumingBody) Close() error {
	b.closed = true
	return b.body.Close()
}

// errNoRetry is ggcr's retry predicate for our pulls: retrying is done below,
// by retryTransport.
func errNoRetry(error) bool { return false }
