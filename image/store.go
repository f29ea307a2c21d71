package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// annotationRefName is the standard OCI layout annotation naming an entry.
	annotationRefName = "org.opencontainers.image.ref.name"
	// annotationRepoDigest records what the registry resolved the reference
	// to (an index digest for multi-platform images), which is what
	// Kubernetes shows as imageID and differs from the stored manifest digest.
	annotationRepoDigest = "dev.podbox.image.repo-digest"

	ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`
)

// Store is the content-addressed image store of one user, rooted at a
// directory (e.g. ~/.local/share/podbox/images). It is safe for concurrent use
// by several goroutines and several processes.
type Store struct {
	root string
	log  *slog.Logger
	jobs int
	// registriesPath overrides DefaultRegistriesConfigPath when set.
	registriesPath *string
	// maxLayerSize and maxImageSize bound what unpacking may write, against
	// decompression bombs (see WithMaxUnpackedSize).
	maxLayerSize, maxImageSize int64
	// ownershipWarned makes the single-ID ownership warning appear once.
	ownershipWarned sync.Once
	// layerOpened, if set, is called whenever a layer blob is opened for
	// unpacking; tests use it to prove shared layers are read once.
	layerOpened func(v1.Hash)
	// cloneLink, if set, replaces linkat(2) where a snapshot is cloned from
	// the one below; tests use it to simulate EMLINK.
	cloneLink func(olddirfd int, oldname string, newdirfd int, newname string) error
	// maxImageEntries and maxImageLayers bound the entries (inodes) and
	// layers of one image; tests lower them.
	maxImageEntries int64
	maxImageLayers  int
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets where the store reports noteworthy events, such as device
// nodes skipped while unpacking. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// WithJobs sets how many layers are downloaded or copied at once (default 4).
func WithJobs(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.jobs = n
		}
	}
}

// WithMaxUnpackedSize bounds how many bytes one layer may expand to and how
// many an image's layers may expand to in all; unpacking fails beyond that
// instead of filling the disk. Both the uncompressed tar stream and the
// files written are bounded: the declared size of every regular file (a
// sparse file's holes included, though they are not written), and the copies
// made where a hard link cannot be. The defaults are
// 64 GiB per layer and 128 GiB per image: generous, since the point is to stop
// a few kilobytes of hostile gzip from expanding into terabytes, not to police
// big images. Compression ratios are not judged, because legitimate layers
// (sparse files, zero-filled images) compress by over 1000:1.
func WithMaxUnpackedSize(perLayer, perImage int64) Option {
	return func(s *Store) {
		if perLayer > 0 {
			s.maxLayerSize = perLayer
		}
		if perImage > 0 {
			s.maxImageSize = perImage
		}
	}
}

// Image describes a stored image.
type Image struct {
	// Ref is the normalized reference as Kubernetes shows it, e.g.
	// "docker.io/library/busybox:latest" or "localhost:5000/app:v1".
	Ref string
	// Digest is the digest of the stored (platform-specific) image manifest.
	Digest v1.Hash
	// RepoDigest is what the registry resolved Ref to: the digest of the
	// multi-platform index when there was one, else equal to Digest.
	// Kubernetes shows "repository@RepoDigest" as status.containerStatuses[].imageID.
	RepoDigest v1.Hash
	// ID is the config digest, the image ID.
	ID v1.Hash
	// Config is the runtime configuration: Entrypoint, Cmd, Env, WorkingDir,
	// User, StopSignal...
	Config v1.Config
	// OS and Architecture are the platform the image was built for.
	OS, Architecture string
	// Created is when the image was built, from its config (zero if unset).
	Created time.Time
	// Size is the number of bytes the image occupies in the store
	// (compressed layers, config and manifest).
	Size int64
	// Layers are the compressed layer digests, bottom first.
	Layers []v1.Hash
}

// ImageID returns the digest reference Kubernetes shows as imageID, e.g.
// "docker.io/library/busybox@sha256:...".
func (i *Image) ImageID() string {
	repo, _, _ := SplitRef(i.Ref)
	return repo + "@" + i.RepoDigest.String()
}

// Open opens the store rooted at root, creating it (mode 0700) if needed.
func Open(root string, opts ...Option) (*Store, error) {
	if root == "" {
		return nil, errors.New("open image store: the root directory is empty; pass e.g. dirs.Images()")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	s := &Store{root: abs, log: slog.New(slog.DiscardHandler), jobs: 4, maxLayerSize: 64 << 30, maxImageSize: 128 << 30,
		maxImageEntries: defaultMaxImageEntries, maxImageLayers: defaultMaxImageLayers}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{s.root, filepath.Join(s.root, "blobs", "sha256"), s.rootfsDir(), s.snapshotsDir(), s.locksDir(), s.leasesDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open image store: create %s: %w", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.root, "oci-layout")); errors.Is(err, os.ErrNotExist) {
		if err := writeFileAtomic(filepath.Join(s.root, "oci-layout"), []byte(ociLayoutFile)); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", s.root, err)
		}
	}
	return s, nil
}

// Root returns the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) indexPath() string    { return filepath.Join(s.root, "index.json") }
func (s *Store) rootfsDir() string    { return filepath.Join(s.root, "rootfs") }
func (s *Store) locksDir() string     { return filepath.Join(s.root, "locks") }
func (s *Store) leasesDir() string    { return filepath.Join(s.root, "leases") }
func (s *Store) snapshotsDir() string { return filepath.Join(s.root, "snapshots") }
func (s *Store) trashDir() string     { return filepath.Join(s.root, "trash") }
func (s *Store) tmpDir() string       { return filepath.Join(s.root, "tmp") }

// legacyTrashDir is where podbox versions that unpacked one tree per image
// put removed trees; GC still empties it.
func (s *Store) legacyTrashDir() string { return filepath.Join(s.rootfsDir(), ".trash") }

func (s *Store) blobPath(h v1.Hash) string {
	return filepath.Join(s.root, "blobs", h.Algorithm, h.Hex)
}

// readIndex reads index.json. It needs no lock: updates replace the file by
// rename, so a reader sees either the old or the new index, never a mix.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	f, err := os.Open(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	defer f.Close()
	idx, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("read image index %s: %w (the file is corrupt; remove it and pull the images again)", s.indexPath(), err)
	}
	return idx, nil
}

// updateIndex runs fn on the current index and writes the result, holding the
// store's index lock throughout, because ggcr's layout package does not lock
// index.json and concurrent read-modify-writes would lose entries.
func (s *Store) updateIndex(fn func(*v1.IndexManifest) error) error {
	return s.withIndex(func(idx *v1.IndexManifest) error {
		if err := fn(idx); err != nil {
			return err
		}
		raw, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			return fmt.Errorf("encode image index: %w", err)
		}
		if err := writeFileAtomic(s.indexPath(), raw); err != nil {
			return fmt.Errorf("write image index: %w", err)
		}
		return nil
	})
}

// withIndex runs fn with the index read under the index lock, and does not
// write the index back: for changes kept beside it (leases) that must be
// serialised with index updates and GC. Rewriting an unchanged index costs
// an fsync, which on a busy disk took up to 100 ms of a container's start.
func (s *Store) withIndex(fn func(*v1.IndexManifest) error) error {
	unlock, err := lockFile(filepath.Join(s.root, "index.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	return fn(idx)
}

// commit records desc under ref, replacing any older entry for ref, after all
// of its blobs are in the store.
func (s *Store) commit(ref string, desc v1.Descriptor, repoDigest v1.Hash) error {
	desc.Annotations = map[string]string{
		annotationRefName:    ref,
		annotationRepoDigest: repoDigest.String(),
	}
	return s.updateIndex(func(idx *v1.IndexManifest) error {
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			if d.Annotations[annotationRefName] != ref {
				kept = append(kept, d)
			}
		}
		idx.Manifests = append(kept, desc)
		return nil
	})
}

// Lookup returns the stored image for ref. A digest reference
// ("repo@sha256:...") matches an image of that repository whose manifest or
// repo digest is the digest, however it was pulled. The error wraps
// ErrNotFound when the store has no such image.
func (s *Store) Lookup(ref string) (*Image, error) {
	norm, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	repo, _, dig := SplitRef(norm)
	// Walk backwards so that the most recent entry wins.
	for i := len(idx.Manifests) - 1; i >= 0; i-- {
		d := idx.Manifests[i]
		name := d.Annotations[annotationRefName]
		match := name == norm
		if !match && dig != "" {
			r, _, _ := SplitRef(name)
			match = r == repo && (d.Digest.String() == dig || d.Annotations[annotationRepoDigest] == dig)
		}
		if match {
			img, err := s.describe(d)
			if err != nil {
				return nil, err
			}
			if dig != "" {
				img.Ref = norm
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("%s: %w (pull it or load it with `podbox image load -i FILE`)", norm, ErrNotFound)
}

// List returns all stored images, sorted by reference.
func (s *Store) List() ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, d := range idx.Manifests {
		if d.Annotations[annotationRefName] == "" {
			continue
		}
		img, err := s.describe(d)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// describe builds an Image from an index entry by reading its manifest and
// config blobs.
func (s *Store) describe(d v1.Descriptor) (*Image, error) {
	ref := d.Annotations[annotationRefName]
	m, err := s.manifest(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	raw, err := os.ReadFile(s.blobPath(m.Config.Digest))
	if err != nil {
		return nil, fmt.Errorf("image %s: read config blob: %w (the store is damaged; pull the image again)", ref, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: parse config %s: %w", ref, m.Config.Digest, err)
	}
	img := &Image{
		Ref:          ref,
		Digest:       d.Digest,
		RepoDigest:   d.Digest,
		ID:           m.Config.Digest,
		Config:       cf.Config,
		OS:           cf.OS,
		Architecture: cf.Architecture,
		Created:      cf.Created.Time,
		Size:         d.Size + m.Config.Size,
	}
	if rd, err := v1.NewHash(d.Annotations[annotationRepoDigest]); err == nil {
		img.RepoDigest = rd
	}
	for _, l := range m.Layers {
		img.Size += l.Size
		img.Layers = append(img.Layers, l.Digest)
	}
	return img, nil
}

// manifest reads and parses the manifest blob h.
func (s *Store) manifest(h v1.Hash) (*v1.Manifest, error) {
	f, err := os.Open(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("read manifest blob: %w (the store is damaged; pull the image again)", err)
	}
	defer f.Close()
	m, err := v1.ParseManifest(f)
	if err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", h, err)
	}
	return m, nil
}
