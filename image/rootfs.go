package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// chainLayer is one layer of an image with what identifies the file system
// it produces together with the layers below it.
type chainLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash // digest of the uncompressed tar stream, from the config
	chain  v1.Hash // OCI chain ID: this layer applied to the layers below
}

// emptyChain keys the snapshot of an image without layers: the digest of
// nothing, which is also the chain ID of a single empty tar stream, an
// equally empty tree.
var emptyChain = v1.Hash{Algorithm: "sha256", Hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}

// chainID computes the OCI chain ID of diffID applied on top of the chain
// parent (the zero Hash for a bottom layer).
func chainID(parent, diffID v1.Hash) v1.Hash {
	if parent.Hex == "" {
		return diffID
	}
	sum := sha256.Sum256([]byte(parent.String() + " " + diffID.String()))
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// chainOf reads the manifest with digest manifest and its config, and
// returns the config digest and the image's layers with their chain IDs.
func (s *Store) chainOf(manifest v1.Hash) (v1.Hash, []chainLayer, error) {
	m, err := s.manifest(manifest)
	if err != nil {
		return v1.Hash{}, nil, err
	}
	if err := s.checkManifest(m); err != nil {
		return v1.Hash{}, nil, err
	}
	raw, err := os.ReadFile(s.blobPath(m.Config.Digest))
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("read config blob: %w (the store is damaged; pull the image again)", err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("parse config %s: %w", m.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return v1.Hash{}, nil, fmt.Errorf("manifest %s has %d layers but its config lists %d diff IDs: the image is malformed", manifest, len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	out := make([]chainLayer, len(m.Layers))
	var parent v1.Hash
	for i, d := range m.Layers {
		diff := cf.RootFS.DiffIDs[i]
		if diff.Algorithm != "sha256" || len(diff.Hex) != 64 {
			return v1.Hash{}, nil, fmt.Errorf("config %s: diff ID %q of layer %d is not a sha256 digest", m.Config.Digest, diff, i+1)
		}
		parent = chainID(parent, diff)
		out[i] = chainLayer{desc: d, diffID: diff, chain: parent}
	}
	return m.Config.Digest, out, nil
}

// topChain is the chain ID of the snapshot that is the image's root
// filesystem.
func topChain(layers []chainLayer) v1.Hash {
	if len(layers) == 0 {
		return emptyChain
	}
	return layers[len(layers)-1].chain
}

func (s *Store) snapshotPath(chain v1.Hash) string {
	return filepath.Join(s.snapshotsDir(), chain.Hex)
}

func isDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// Rootfs returns the path of the unpacked root filesystem of img, unpacking
// what is missing on first use. The tree is shared by every pod of the image,
// and its files with every image that has the same lower layers, so it must
// be treated as read-only (gVisor puts a private overlay on top of it).
//
// Each chain of layers is unpacked once into a snapshot: the snapshot of
// layer N is the snapshot of layer N-1 re-created with hard links (no file
// data is copied) with layer N applied on top; the image's root filesystem is
// the snapshot of its top layer. A snapshot is built in a temporary directory
// that is renamed into place only when complete, so a crash never leaves a
// partial tree under the final name; concurrent callers, in this or other
// processes, build each snapshot once.
func (s *Store) Rootfs(img *Image) (string, error) {
	if img == nil || img.ID.Hex == "" {
		return "", errors.New("rootfs: no image given; get one from Lookup or Pull")
	}
	id, layers, err := s.chainOf(img.Digest)
	if err != nil {
		return "", fmt.Errorf("unpack %s: %w", img.Ref, err)
	}
	if id != img.ID {
		return "", fmt.Errorf("unpack %s: manifest %s names config %s, not %s: the store entry is inconsistent; pull the image again", img.Ref, img.Digest, id, img.ID)
	}
	top := topChain(layers)
	final := s.snapshotPath(top)
	if isDir(final) && s.rootfsLinked(img.ID, top) {
		return final, nil
	}
	// Shared GC lock first (the order every path takes), so that GC neither
	// deletes the blobs and lower snapshots being used nor mistakes the
	// temporary trees for leftovers.
	unlockGC, err := s.lockGC(false)
	if err != nil {
		return "", err
	}
	defer unlockGC()
	if len(layers) == 0 {
		err = s.buildSnapshot(img, nil, 0)
	} else {
		// Only what is above the highest existing snapshot is unpacked.
		start := 0
		for i := len(layers) - 1; i >= 0; i-- {
			if isDir(s.snapshotPath(layers[i].chain)) {
				start = i + 1
				break
			}
		}
		for i := start; i < len(layers) && err == nil; i++ {
			err = s.buildSnapshot(img, layers, i)
		}
	}
	if err != nil {
		return "", fmt.Errorf("unpack %s: %w", img.Ref, err)
	}
	if err := s.linkRootfs(img.ID, top); err != nil {
		return "", fmt.Errorf("unpack %s: %w", img.Ref, err)
	}
	return final, nil
}

// rootfsLinkTarget is what rootfs/<config-hex> points to.
func rootfsLinkTarget(chain v1.Hash) string {
	return filepath.Join("..", "snapshots", chain.Hex)
}

// rootfsLinked reports whether rootfs/<id> already points to the snapshot.
func (s *Store) rootfsLinked(id, chain v1.Hash) bool {
	t, err := os.Readlink(filepath.Join(s.rootfsDir(), id.Hex))
	return err == nil && t == rootfsLinkTarget(chain)
}

// linkRootfs makes rootfs/<id> a symbolic link to the image's snapshot, so
// that one can see which images are unpacked and where. It is informational:
// nothing in podbox resolves it. The caller holds the shared GC lock.
func (s *Store) linkRootfs(id, chain v1.Hash) error {
	p := filepath.Join(s.rootfsDir(), id.Hex)
	if s.rootfsLinked(id, chain) {
		return nil
	}
	if isDir(p) {
		return nil // a tree of an older podbox, which GC collects
	}
	tmp := filepath.Join(s.rootfsDir(), fmt.Sprintf(".tmp-link-%s-%d", id.Hex, rand.Uint64()))
	if err := os.Symlink(rootfsLinkTarget(chain), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// buildSnapshot makes the snapshot of layers[i] (of the empty chain when
// layers is empty), whose lower snapshot, if any, exists. The caller holds the
// shared GC lock.
func (s *Store) buildSnapshot(img *Image, layers []chainLayer, i int) error {
	key := emptyChain
	if len(layers) > 0 {
		key = layers[i].chain
	}
	final := s.snapshotPath(key)
	unlock, err := lockFile(final + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if isDir(final) {
		return nil // another caller finished while we waited
	}
	// Under the lock nobody else builds this snapshot, so any temporary tree
	// for it is the leftover of a crash.
	tmpPrefix := ".tmp-" + key.Hex + "-"
	if leftovers, _ := filepath.Glob(filepath.Join(s.snapshotsDir(), tmpPrefix+"*")); len(leftovers) > 0 {
		for _, l := range leftovers {
			_ = RemoveTree(l)
		}
	}
	tmp, err := os.MkdirTemp(s.snapshotsDir(), tmpPrefix)
	if err != nil {
		return err
	}
	census, err := s.fillSnapshot(tmp, img, layers, i)
	if err == nil {
		// The marker records what the complete tree holds, for Verify. It
		// is written before the rename: a marker without a tree is
		// harmless, a tree without a marker would look damaged.
		err = writeMarker(final+markerSuffix, census)
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = RemoveTree(tmp)
		return err
	}
	return nil
}

// fillSnapshot builds the snapshot of layers[i] in the empty directory dir:
// a hard-linked copy of the snapshot below, then the layer.
func (s *Store) fillSnapshot(dir string, img *Image, layers []chainLayer, i int) (treeCensus, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return treeCensus{}, err
	}
	defer root.Close()
	u := newUnpacker(root)
	u.link = s.cloneLink
	// What the layers below wrote and created counts against the image's
	// bounds (a marker of an older podbox lacks them: counted as 0).
	var lowerC treeCensus
	if i > 0 {
		lowerC, _ = readMarker(s.snapshotPath(layers[i-1].chain) + markerSuffix)
	}
	u.budget = newWriteBudget(s.maxLayerSize, s.maxImageSize, lowerC.Written)
	u.created, u.maxCreated = lowerC.Created, s.maxImageEntries
	startLeft := u.budget.left
	if i > 0 {
		if err := u.cloneFrom(s.snapshotPath(layers[i-1].chain)); err != nil {
			return treeCensus{}, fmt.Errorf("layer %s: copy the snapshot %s of the layers below with hard links: %w", layers[i].desc.Digest, shortHex(layers[i-1].chain.Hex), err)
		}
	}
	var n int64
	if len(layers) > 0 {
		budget := s.maxImageSize - lowerC.Stream
		n, err = s.applyBlob(u, layers[i], max(0, min(s.maxLayerSize, budget)), budget < s.maxLayerSize)
		if err != nil {
			return treeCensus{}, err
		}
	}
	if err := u.finish(); err != nil {
		return treeCensus{}, err
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
	if err := os.Chmod(dir, 0o755); err != nil {
		return treeCensus{}, err
	}
	census, err := countTree(dir)
	census.Stream = lowerC.Stream + n
	census.Written = lowerC.Written + startLeft - u.budget.left
	census.Created = u.created
	return census, err
}

// applyBlob applies the stored layer blob described by desc, reading at most
// limit uncompressed bytes (imageLimit says whether the limit is the image's
// remaining budget rather than the per-layer one, for the message). It returns
// how many it read.
//
// The uncompressed stream is hashed and must match the layer's diff ID, since
// the snapshot is shared by every image that names the same chain ID.
func (s *Store) applyBlob(u *unpacker, cl chainLayer, limit int64, imageLimit bool) (int64, error) {
	desc := cl.desc
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
	h := sha256.New()
	br := &boundedReader{r: io.TeeReader(rc, h), left: limit}
	fail := func(err error) (int64, error) {
		if errors.Is(err, errTooLarge) {
			what := "the per-layer limit"
			if imageLimit {
				what = "what is left of the per-image limit"
			}
			return br.n, fmt.Errorf("layer %s (%d bytes compressed) expands to more than %d bytes, %s; refusing it as a likely decompression bomb (podbox's built-in bound)",
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
	if err := rc.Close(); err != nil {
		return br.n, fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != cl.diffID.Hex {
		return br.n, fmt.Errorf("layer %s: its uncompressed content has digest sha256:%s, but the image config records diff ID %s; refusing the malformed image", desc.Digest, got, cl.diffID)
	}
	return br.n, nil
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

// markerSuffix names the file beside snapshots/<hex> that records what the
// complete tree holds.
const markerSuffix = ".done"

// treeCensus is what a complete unpacked tree holds.
type treeCensus struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
	// Stream is how many uncompressed bytes the layers of the chain hold,
	// for the per-image bound of the snapshots built on top.
	Stream int64 `json:"stream,omitempty"`
	// Written is how many bytes the files of the chain's snapshots were
	// charged (see writeBudget), and Created how many entries they created,
	// for the per-image bounds of the snapshots built on top.
	Written int64 `json:"written,omitempty"`
	Created int64 `json:"created,omitempty"`
}

// sameTree reports whether two censuses describe the same tree content.
func (c treeCensus) sameTree(o treeCensus) bool {
	return c.Entries == o.Entries && c.Bytes == o.Bytes
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
	if l.s.layerOpened != nil {
		l.s.layerOpened(l.desc.Digest)
	}
	f, err := os.Open(l.s.blobPath(l.desc.Digest))
	if err != nil {
		return nil, fmt.Errorf("open layer blob: %w (the store is damaged; pull the image again)", err)
	}
	return f, nil
}
