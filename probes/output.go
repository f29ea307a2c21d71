package probes

import (
	"bytes"
	"sync"
)

// MaxOutput caps what is kept of exec probe and hook output and of HTTP
// response bodies, as the kubelet does (10 KiB, pkg/probe/exec and
// pkg/probe/http): enough for a message, bounded for events and for the
// supervisor's memory, whatever a container prints.
const MaxOutput = 10 * 1024

// CappedBuffer keeps the first max bytes written to it and discards the
// rest. Unlike an io.LimitWriter it never fails a write: the copier feeding
// it from a process's output pipe keeps draining, so a process that prints
// without end neither grows the supervisor nor blocks on a full pipe (a
// postStart hook has no timeout to end it). The process's own timeout, if
// any, still ends it. Safe for concurrent writes (stdout and stderr).
type CappedBuffer struct {
	mu        sync.Mutex
	buf       []byte
	max       int
	discarded int64
}

// NewCappedBuffer returns a buffer keeping at most max bytes.
func NewCappedBuffer(max int) *CappedBuffer { return &CappedBuffer{max: max} }

// Write keeps what fits under the cap and reports all of p written.
func (b *CappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(len(p), b.max-len(b.buf))
	b.buf = append(b.buf, p[:keep]...)
	b.discarded += int64(len(p) - keep)
	return len(p), nil
}

// Bytes returns a copy of what was kept (at most max bytes): a copier
// abandoned after a timeout may still be writing.
func (b *CappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

// Discarded is how many bytes were dropped past the cap.
func (b *CappedBuffer) Discarded() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.discarded
}
