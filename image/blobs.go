package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"golang.org/x/sync/errgroup"
)

// writeImage copies every blob of img into the store and returns the
// descriptor of its manifest. Nothing refers to the blobs until commit, so a
// failure here leaves at most unreferenced, verified blobs behind. w, which may
// be nil, receives progress and accounts waiting.
//
// fetch, if not nil, opens blobs instead of img's layers: pulls fetch them
// directly, so that each is hashed once (here) rather than also by ggcr.
func (s *Store) writeImage(ctx context.Context, img v1.Image, w *pullWriter, fetch func(v1.Hash) func() (io.ReadCloser, error)) (*v1.Descriptor, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if err := s.checkManifest(m); err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read layers: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.jobs)
	for i, l := range layers {
		g.Go(func() error {
			d, err := l.Digest()
			if err != nil {
				return fmt.Errorf("layer digest: %w", err)
			}
			// A layer not described by the manifest (which no source
			// yields) is bounded by the per-layer limit instead.
			size := int64(-1)
			if i < len(m.Layers) && m.Layers[i].Digest == d {
				size = m.Layers[i].Size
			}
			open := l.Compressed
			if fetch != nil {
				open = fetch(d)
			}
			bound := size
			if bound < 0 {
				bound = s.maxLayerSize
			}
			if err := s.writeBlob(gctx, d, bound, open, w.blob(d, i+1, size)); err != nil {
				return fmt.Errorf("layer %s: %w", d, err)
			}
			return nil
		})
	}
	// The config is fetched only if the store lacks it, so that concurrent
	// pulls of one image fetch it once too.
	g.Go(func() error {
		open := func() (io.ReadCloser, error) {
			raw, err := img.RawConfigFile()
			if err != nil {
				return nil, err
			}
			return io.NopCloser(bytes.NewReader(raw)), nil
		}
		if fetch != nil {
			open = fetch(m.Config.Digest)
		}
		if err := s.writeBlob(gctx, m.Config.Digest, m.Config.Size, open, w.blob(m.Config.Digest, 0, m.Config.Size)); err != nil {
			return fmt.Errorf("config %s: %w", m.Config.Digest, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return nil, fmt.Errorf("describe manifest: %w", err)
	}
	if err := s.writeBlob(ctx, desc.Digest, int64(len(rawManifest)), bytesOpener(rawManifest), nil); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	// The stored descriptor must describe only the manifest; drop whatever
	// the source carried (annotations of a remote index, URLs...).
	out := v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}
	if raw, err := os.ReadFile(s.blobPath(m.Config.Digest)); err == nil {
		if cf, err := v1.ParseConfigFile(bytes.NewReader(raw)); err == nil && cf.OS != "" {
			out.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		}
	}
	return &out, nil
}

// checkManifest refuses, before anything is downloaded, an image whose
// manifest declares more layers or a larger config than any real image.
func (s *Store) checkManifest(m *v1.Manifest) error {
	if len(m.Layers) > s.maxImageLayers {
		return limitError("the manifest lists %d layers, more than %d (Docker builds stop at 127)", len(m.Layers), s.maxImageLayers)
	}
	if m.Config.Size > maxConfigSize || m.Config.Size < 0 {
		return limitError("config %s: the manifest declares %d bytes, more than %d (real configs take a few KiB)", m.Config.Digest, m.Config.Size, maxConfigSize)
	}
	return nil
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// errDigestMismatch marks content whose digest is not the one asked for.
var errDigestMismatch = errors.New("content does not match its digest")

// writeBlob stores the content returned by open under its digest want. The
// content is written to a temporary file, hashed while written and renamed to
// its final name only if the hash matches, so a corrupt or truncated download
// never appears under the final name. An existing final name is trusted,
// since only verified content is ever renamed there.
//
// At most size bytes are read (the size the manifest declares for the blob):
// a source that sends more is cut off there, not read until it stops.
//
// A per-blob flock makes concurrent writers of one blob, in this or other
// processes, take turns: the first downloads, the others wait and then find
// the blob stored, so each blob is fetched once. p (may be nil) hears about it.
func (s *Store) writeBlob(ctx context.Context, want v1.Hash, size int64, open func() (io.ReadCloser, error), p *blobProgress) (err error) {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("unsupported digest algorithm %q (only sha256 is supported)", want.Algorithm)
	}
	final := s.blobPath(want)
	if _, err := os.Stat(final); err == nil {
		p.state(ProgressExists, nil)
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := s.lockBlob(ctx, want, p)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		p.state(ProgressExists, nil) // another writer stored it while we waited
		return nil
	}
	defer func() {
		if err != nil {
			p.state(ProgressFailed, err)
		}
	}()
	p.state(ProgressDownloading, nil)
	rc, err := open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Dir(final), ".tmp-"+want.Hex+"-*")
	if err != nil {
		return fmt.Errorf("create temporary blob: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	var dst io.Writer = io.MultiWriter(f, h)
	if p != nil {
		dst = io.MultiWriter(f, h, p)
	}
	// A large buffer: fewer, larger writes make pulls from fast registries
	// noticeably faster than io.Copy's 32 KiB.
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(dst, io.LimitReader(ctxReader{ctx, rc}, size+1), buf)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if n > size {
		return fmt.Errorf("the source sent more than the %d bytes the image's manifest declares for this blob; stopped reading it (a faulty or hostile registry)", size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("%w: got sha256:%s; the source served corrupted data, try again", errDigestMismatch, got)
	}
	if err := rc.Close(); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	p.state(ProgressDone, nil)
	return nil
}

// lockBlob takes the per-blob lock of h. If another writer holds it, the wait
// is reported as ProgressWaiting and accounted as waiting time of the pull.
func (s *Store) lockBlob(ctx context.Context, h v1.Hash, p *blobProgress) (func(), error) {
	path := filepath.Join(s.locksDir(), h.Hex+".lock")
	unlock, ok, err := tryLockFile(path)
	if err != nil || ok {
		return unlock, err
	}
	p.state(ProgressWaiting, nil)
	done := p.waiting()
	defer done()
	return lockFileCtx(ctx, path)
}

// ctxReader stops a long copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
