package image

import (
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// pullWriter follows the blobs of one pull: it forwards progress to the
// caller's callback and measures how long the pull did nothing but wait for
// blobs that other pulls were downloading. A nil *pullWriter does nothing.
type pullWriter struct {
	progress func(Progress)

	mu       sync.Mutex
	nWaiting int // blobs blocked on another writer's lock
	nActive  int // blobs this pull is downloading
	since    time.Time
	total    time.Duration
}

// account adds the time since the last change if, during it, the pull was
// only waiting. Callers hold mu.
func (w *pullWriter) account() {
	now := time.Now()
	if w.nWaiting > 0 && w.nActive == 0 && !w.since.IsZero() {
		w.total += now.Sub(w.since)
	}
	w.since = now
}

func (w *pullWriter) waited() time.Duration {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.account()
	return w.total
}

// blob returns the tracker of one blob; layer is its 1-based position, 0 for
// the config, and size its compressed size (-1 if unknown).
func (w *pullWriter) blob(d v1.Hash, layer int, size int64) *blobProgress {
	if w == nil {
		return nil
	}
	return &blobProgress{w: w, p: Progress{Digest: d, Layer: layer, Total: size}}
}

// blobProgress is the progress of one blob. Its Write counts downloaded bytes.
type blobProgress struct {
	w      *pullWriter
	p      Progress
	active bool
	last   time.Time
}

func (b *blobProgress) emit() {
	if b.w.progress != nil {
		b.w.progress(b.p)
	}
}

func (b *blobProgress) state(st ProgressState, err error) {
	if b == nil {
		return
	}
	b.w.mu.Lock()
	b.w.account()
	switch {
	case st == ProgressDownloading && !b.active:
		b.active = true
		b.w.nActive++
	case st != ProgressDownloading && st != ProgressWaiting && b.active:
		b.active = false
		b.w.nActive--
	}
	b.w.mu.Unlock()
	b.p.State, b.p.Err = st, err
	if st == ProgressDone || st == ProgressExists {
		if b.p.Total >= 0 {
			b.p.Current = b.p.Total
		}
	}
	b.emit()
}

// waiting marks the blob as blocked on another writer until the returned
// function is called.
func (b *blobProgress) waiting() func() {
	if b == nil {
		return func() {}
	}
	b.w.mu.Lock()
	b.w.account()
	b.w.nWaiting++
	b.w.mu.Unlock()
	return func() {
		b.w.mu.Lock()
		b.w.account()
		b.w.nWaiting--
		b.w.mu.Unlock()
	}
}

// Write counts downloaded bytes, reporting at most every 50 ms so that a
// fast local registry does not drown the callback.
func (b *blobProgress) Write(p []byte) (int, error) {
	b.p.Current += int64(len(p))
	if now := time.Now(); now.Sub(b.last) >= 50*time.Millisecond {
		b.last = now
		b.emit()
	}
	return len(p), nil
}
