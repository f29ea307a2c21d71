package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Rootfs returns the path of the unpacked root filesystem of img, unpacking it
// on first use. The tree is shared by every pod of the image and must be
// treated as read-only (gVisor puts a private overlay on top of it).
//
// Unpacking happens in a temporary directory next to the final one, which is
// renamed into place only when complete, so a crash never leaves a partial
// tree under the final name; concurrent callers, in this or other processes,
// unpack once.
func (s *Store) Rootfs(img *Image) (string, error) {
	if img == nil || img.ID.Hex == "" {
		return "", errors.New("rootfs: no image given; get one from Lookup or Pull")
	}
	final := filepath.Join(s.rootfsDir(), img.ID.Hex)
	if fi, err := os.Lstat(final); err == nil && fi.IsDir() {
		return final, nil
	}
	unlock, err := lockFile(final + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if fi, err := os.Lstat(final); err == nil && fi.IsDir() {
		return final, nil // another caller finished while we waited
	}
	// Under the lock nobody else unpacks this image, so any temporary tree for
	// it is the leftover of a crash.
	tmpPrefix := ".tmp-" + img.ID.Hex + "-"
	if leftovers, _ := filepath.Glob(filepath.Join(s.rootfsDir(), tmpPrefix+"*")); len(leftovers) > 0 {
		for _, l := range leftovers {
			_ = RemoveTree(l)
		}
	}
	tmp, err := os.MkdirTemp(s.rootfsDir(), tmpPrefix)
	if err != nil {
		return "", fmt.Errorf("unpack %s: %w", img.Ref, err)
	}
	if err := s.unpackInto(tmp, img); err != nil {
		_ = RemoveTree(tmp)
		return "", fmt.Errorf("unpack %s: %w", img.Ref, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = RemoveTree(tmp)
		return "", fmt.Errorf("unpack %s: %w", img.Ref, err)
	}
	return final, nil
}

// unpackInto applies the layers of img, bottom first, to the empty directory dir.
func (s *Store) unpackInto(dir string, img *Image) error {
	m, err := s.manifest(img.Digest)
	if err != nil {
		return err
	}
	if m.Config.Digest != img.ID {
		return fmt.Errorf("manifest %s names config %s, not %s: the store entry is inconsistent; pull the image again", img.Digest, m.Config.Digest, img.ID)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	u := newUnpacker(root)
	for _, desc := range m.Layers {
		if err := s.applyBlob(u, desc); err != nil {
			return err
		}
	}
	if err := u.finish(); err != nil {
		return err
	}
	if u.skipped > 0 {
		s.log.Info("skipped device nodes and fifos while unpacking (rootless podbox cannot create them; gVisor provides /dev)",
			"image", img.Ref, "count", u.skipped)
	}
	// MkdirTemp made the directory 0700; the image's "/" is conventionally 0755.
	return os.Chmod(dir, 0o755)
}

// applyBlob applies the stored layer blob described by desc.
func (s *Store) applyBlob(u *unpacker, desc v1.Descriptor) error {
	if desc.MediaType == types.DockerForeignLayer || desc.MediaType == types.OCIRestrictedLayer {
		return fmt.Errorf("layer %s: foreign layers (media type %s) are Windows-only and cannot be unpacked", desc.Digest, desc.MediaType)
	}
	l, err := partial.CompressedToLayer(&storedLayer{s: s, desc: desc})
	if err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("layer %s: decompress: %w", desc.Digest, err)
	}
	defer rc.Close()
	if err := u.apply(desc.Digest, rc); err != nil {
		return err
	}
	// Drain so that a decompression or digest error at the very end is seen.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	return rc.Close()
}

// storedLayer is a compressed layer blob of the store; partial turns it into a
// v1.Layer that detects gzip or zstd and decompresses.
type storedLayer struct {
	s    *Store
	desc v1.Descriptor
}

func (l *storedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *storedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.s.blobPath(l.desc.Digest))
	if err != nil {
		return nil, fmt.Errorf("open layer blob: %w (the store is damaged; pull the image again)", err)
	}
	return f, nil
}
