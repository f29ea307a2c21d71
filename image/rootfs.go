package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	// Shared GC lock first (the order every path takes), so that GC neither
	// deletes the blobs being unpacked nor mistakes the temporary tree for a
	// leftover.
	unlockGC, err := s.lockGC(false)
	if err != nil {
		return "", err
	}
	defer unlockGC()
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
	// The marker records what a complete tree holds, for Verify. It is
	// written before the rename: a marker without a tree is harmless, a tree
	// without a marker would look damaged.
	census, err := countTree(tmp)
	if err == nil {
		err = writeMarker(final+markerSuffix, census)
	}
	if err != nil {
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
	budget := s.maxImageSize
	for _, desc := range m.Layers {
		n, err := s.applyBlob(u, desc, min(s.maxLayerSize, budget), budget < s.maxLayerSize)
		if err != nil {
			return err
		}
		budget -= n
	}
	if err := u.finish(); err != nil {
		return err
	}
	if u.unowned > 0 {
		s.log.Warn("files of the image owned by other users belong to you instead, because no subordinate IDs are mapped",
			"image", img.Ref, "count", u.unowned)
	}
	if u.skipped > 0 {
		s.log.Info("skipped device nodes and fifos while unpacking (rootless podbox cannot create them; gVisor provides /dev)",
			"image", img.Ref, "count", u.skipped)
	}
	// MkdirTemp made the directory 0700; the image's "/" is conventionally 0755.
	return os.Chmod(dir, 0o755)
}

// applyBlob applies the stored layer blob described by desc, reading at most
// limit uncompressed bytes (imageLimit says whether the limit is the image's
// remaining budget rather than the per-layer one, for the message). It returns
// how many it read.
func (s *Store) applyBlob(u *unpacker, desc v1.Descriptor, limit int64, imageLimit bool) (int64, error) {
	if desc.MediaType == types.DockerForeignLayer || desc.MediaType == types.OCIRestrictedLayer {
		return 0, fmt.Errorf("layer %s: foreign layers (media type %s) are Windows-only and cannot be unpacked", desc.Digest, desc.MediaType)
	}
	l, err := partial.CompressedToLayer(&storedLayer{s: s, desc: desc})
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("layer %s: decompress: %w", desc.Digest, err)
	}
	defer rc.Close()
	br := &boundedReader{r: rc, left: limit}
	fail := func(err error) (int64, error) {
		if errors.Is(err, errTooLarge) {
			what := "the per-layer limit"
			if imageLimit {
				what = "what is left of the per-image limit"
			}
			return br.n, fmt.Errorf("layer %s (%d bytes compressed) expands to more than %d bytes, %s; refusing it as a likely decompression bomb (see image.WithMaxUnpackedSize)",
				desc.Digest, desc.Size, limit, what)
		}
		return br.n, err
	}
	if err := u.apply(desc.Digest, br); err != nil {
		return fail(err)
	}
	// Drain so that a decompression or digest error at the very end is seen.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fail(fmt.Errorf("layer %s: %w", desc.Digest, err))
	}
	return br.n, rc.Close()
}

// errTooLarge marks a layer that expands beyond its bound.
var errTooLarge = errors.New("layer too large when uncompressed")

// boundedReader fails with errTooLarge once more than left bytes were read.
type boundedReader struct {
	r    io.Reader
	left int64
	n    int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Allow reading exactly the limit: only a byte beyond it is an error.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.left -= int64(n)
	return n, err
}

// markerSuffix names the file beside rootfs/<hex> that records what the
// complete tree holds.
const markerSuffix = ".done"

// treeCensus is what a complete unpacked tree holds.
type treeCensus struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// countTree counts the entries below dir and the bytes of its regular files.
func countTree(dir string) (treeCensus, error) {
	var c treeCensus
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		c.Entries++
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			c.Bytes += fi.Size()
		}
		return nil
	})
	return c, err
}

func writeMarker(path string, c treeCensus) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, raw)
}

func readMarker(path string) (treeCensus, error) {
	var c treeCensus
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(raw, &c)
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
