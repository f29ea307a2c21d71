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
// failure here leaves at most unreferenced, verified blobs behind.
func (s *Store) writeImage(ctx context.Context, img v1.Image) (*v1.Descriptor, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read layers: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.jobs)
	for _, l := range layers {
		g.Go(func() error {
			d, err := l.Digest()
			if err != nil {
				return fmt.Errorf("layer digest: %w", err)
			}
			if err := s.writeBlob(gctx, d, l.Compressed); err != nil {
				return fmt.Errorf("layer %s: %w", d, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := s.writeBlob(ctx, m.Config.Digest, bytesOpener(rawCfg)); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}

	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return nil, fmt.Errorf("describe manifest: %w", err)
	}
	if err := s.writeBlob(ctx, desc.Digest, bytesOpener(rawManifest)); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	// The stored descriptor must describe only the manifest; drop whatever
	// the source carried (annotations of a remote index, URLs...).
	out := v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}
	if cf, err := img.ConfigFile(); err == nil && cf.OS != "" {
		out.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	}
	return &out, nil
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
func (s *Store) writeBlob(ctx context.Context, want v1.Hash, open func() (io.ReadCloser, error)) (err error) {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("unsupported digest algorithm %q (only sha256 is supported)", want.Algorithm)
	}
	final := s.blobPath(want)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
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
	if _, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, rc}); err != nil {
		return fmt.Errorf("download: %w", err)
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
	return nil
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
