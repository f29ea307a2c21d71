package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Removing images is two steps: forgetting references (Remove, RemoveImage,
// Prune), which is instant and refuses images that a lease holds, then
// collecting what nothing references any more (GC): blobs, layer snapshots,
// leftovers of crashed pulls, loads and unpacks.

// RemoveImage forgets the image named by ref and returns the references it
// removed. ref is a reference ("busybox", "localhost:5000/app:v1",
// "repo@sha256:...") or, when no reference matches, an image ID or a unique
// prefix of one (at least 4 hex digits, with or without "sha256:"), which
// removes every reference to that image. It fails with *InUseError if a
// lease holds the image, and wraps ErrNotFound if nothing matches. Blobs and
// trees stay until GC.
func (s *Store) RemoveImage(ref string) ([]string, error) {
	var removed []string
	err := s.updateIndex(func(idx *v1.IndexManifest) error {
		leases, err := s.readLeases()
		if err != nil {
			return err
		}
		match, err := s.matchEntries(idx, ref)
		if err != nil {
			return err
		}
		for _, i := range match {
			m, err := s.manifest(idx.Manifests[i].Digest)
			if err != nil {
				continue // a damaged entry can always go
			}
			if h := holdersOf(leases, m.Config.Digest); len(h) > 0 {
				return &InUseError{Ref: ref, Holders: h}
			}
		}
		drop := map[int]bool{}
		for _, i := range match {
			drop[i] = true
			removed = append(removed, idx.Manifests[i].Annotations[annotationRefName])
		}
		kept := idx.Manifests[:0]
		for i, d := range idx.Manifests {
			if !drop[i] {
				kept = append(kept, d)
			}
		}
		idx.Manifests = kept
		return nil
	})
	return removed, err
}

// matchEntries returns the positions of the index entries ref names.
func (s *Store) matchEntries(idx *v1.IndexManifest, ref string) ([]int, error) {
	var match []int
	if norm, err := Normalize(ref); err == nil {
		for i, d := range idx.Manifests {
			if d.Annotations[annotationRefName] == norm {
				match = append(match, i)
			}
		}
		if len(match) > 0 {
			return match, nil
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if len(prefix) >= 4 && len(prefix) <= 64 && strings.Trim(prefix, "0123456789abcdef") == "" {
		var id v1.Hash
		for i, d := range idx.Manifests {
			m, err := s.manifest(d.Digest)
			if err != nil || !strings.HasPrefix(m.Config.Digest.Hex, prefix) {
				continue
			}
			if id.Hex != "" && id != m.Config.Digest {
				return nil, fmt.Errorf("%q matches several images (%s, %s...): give more of the ID", ref, id.Hex[:12], m.Config.Digest.Hex[:12])
			}
			id = m.Config.Digest
			match = append(match, i)
		}
		if len(match) > 0 {
			return match, nil
		}
	}
	if _, err := Normalize(ref); err != nil && len(match) == 0 {
		return nil, err
	}
	return nil, fmt.Errorf("%s: %w", ref, ErrNotFound)
}

// Remove forgets ref, like RemoveImage, refusing an image a lease holds.
// Blobs and unpacked trees stay until GC.
func (s *Store) Remove(ref string) error {
	_, err := s.RemoveImage(ref)
	return err
}

// Prune forgets every image no lease holds: with all false only untagged
// ones (pulled or loaded by digest only, "<none>" in `podbox images`), with
// all true tagged ones too. It returns the removed images; GC then collects
// their content.
func (s *Store) Prune(all bool) ([]*Image, error) {
	var removed []*Image
	err := s.updateIndex(func(idx *v1.IndexManifest) error {
		leases, err := s.readLeases()
		if err != nil {
			return err
		}
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			ref := d.Annotations[annotationRefName]
			_, tag, _ := SplitRef(ref)
			img, err := s.describe(d)
			switch {
			case err != nil:
				// Damaged: unusable, so it goes with the rest.
				removed = append(removed, &Image{Ref: ref, Digest: d.Digest})
				continue
			case len(holdersOf(leases, img.ID)) > 0, tag != "" && !all:
				kept = append(kept, d)
				continue
			}
			removed = append(removed, img)
		}
		idx.Manifests = kept
		return nil
	})
	return removed, err
}

// GCResult says what GC removed.
type GCResult struct {
	// Blobs and Bytes count the removed blobs and their size; Trees the
	// removed unpacked trees (layer snapshots, and per-image trees of older
	// podbox versions).
	Blobs, Trees int
	Bytes        int64
	// Pending counts removed trees that could not be deleted yet, because
	// they hold files of other users (subordinate IDs) that only a process
	// in podbox's user namespace may delete. They wait in trash/ for the
	// next GC there (the supervisor runs one when it starts).
	Pending int
}

// GC deletes what no image reference and no lease needs: blobs, layer
// snapshots, and leftovers of crashed pulls, loads and unpacks. It holds the
// store's GC lock exclusively, so it waits for pulls and unpacks in progress
// (in any process) and they wait for it.
func (s *Store) GC() (GCResult, error) {
	unlock, err := s.lockGC(true)
	if err != nil {
		return GCResult{}, err
	}
	defer unlock()
	var res GCResult
	err = s.updateIndex(func(idx *v1.IndexManifest) error {
		res, err = s.gcLocked(idx)
		return err
	})
	return res, err
}

// keep is what the index and the leases need.
type keep struct {
	// blobs are blob hexes; images the config hexes of referenced or
	// leased images (their rootfs/ links); snapshots the chain ID hexes of
	// every layer of those images; leased the config hexes of leased
	// images, whose trees of older podbox versions a running pod may use.
	blobs, images, snapshots, leased map[string]bool
}

// keepSets returns what the index and the leases need.
func (s *Store) keepSets(idx *v1.IndexManifest) (*keep, error) {
	leases, err := s.readLeases()
	if err != nil {
		return nil, err
	}
	k := &keep{blobs: map[string]bool{}, images: map[string]bool{}, snapshots: map[string]bool{}, leased: map[string]bool{}}
	add := func(manifest v1.Hash) {
		k.blobs[manifest.Hex] = true
		m, err := s.manifest(manifest)
		if err != nil {
			return
		}
		k.blobs[m.Config.Digest.Hex] = true
		k.images[m.Config.Digest.Hex] = true
		for _, l := range m.Layers {
			k.blobs[l.Digest.Hex] = true
		}
		if _, layers, err := s.chainOf(manifest); err == nil {
			k.snapshots[topChain(layers).Hex] = true
			for _, l := range layers {
				k.snapshots[l.chain.Hex] = true
			}
		}
	}
	for _, d := range idx.Manifests {
		add(d.Digest)
	}
	for _, lf := range leases {
		for _, it := range lf.Images {
			k.leased[it.ID.Hex] = true
			add(it.Manifest)
		}
	}
	return k, nil
}

// gcLocked is GC's work; the caller holds the GC lock exclusively and the
// index lock, and passes the index.
func (s *Store) gcLocked(idx *v1.IndexManifest) (GCResult, error) {
	var res GCResult
	k, err := s.keepSets(idx)
	if err != nil {
		return res, err
	}
	blobDir := filepath.Join(s.root, "blobs", "sha256")
	entries, err := os.ReadDir(blobDir)
	if err != nil {
		return res, fmt.Errorf("garbage collection: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		// With the GC lock held exclusively no blob is being written, so a
		// temporary file is a crash's leftover.
		if k.blobs[n] && !strings.HasPrefix(n, ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(blobDir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("garbage collection: %w", err)
		}
		if !strings.HasPrefix(n, ".") {
			res.Blobs++
			res.Bytes += fi.Size()
		}
	}
	// Lock files are used only under the shared GC lock, so nobody holds or
	// waits on one now.
	if locks, err := os.ReadDir(s.locksDir()); err == nil {
		for _, e := range locks {
			_ = os.Remove(filepath.Join(s.locksDir(), e.Name()))
		}
	}
	// Loads extract archives under tmp/ holding the shared GC lock: what is
	// there now is a crash's leftover.
	if tmps, err := os.ReadDir(s.tmpDir()); err == nil {
		for _, e := range tmps {
			_ = s.trash(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
	snaps, err := os.ReadDir(s.snapshotsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("garbage collection: %w", err)
	}
	for _, e := range snaps {
		n := e.Name()
		p := filepath.Join(s.snapshotsDir(), n)
		switch {
		case strings.HasSuffix(n, ".lock"):
			_ = os.Remove(p)
		case strings.HasSuffix(n, markerSuffix):
			if !k.snapshots[strings.TrimSuffix(n, markerSuffix)] {
				_ = os.Remove(p)
			}
		case strings.HasPrefix(n, ".tmp-"):
			_ = s.trash(p)
		case !k.snapshots[n]:
			if err := s.trash(p); err != nil {
				return res, err
			}
			_ = os.Remove(p + markerSuffix)
			res.Trees++
		}
	}
	// rootfs/ holds a link per unpacked image, and the per-image trees of
	// older podbox versions, kept only while a pod may still run on one.
	trees, err := os.ReadDir(s.rootfsDir())
	if err != nil {
		return res, fmt.Errorf("garbage collection: %w", err)
	}
	for _, e := range trees {
		n := e.Name()
		p := filepath.Join(s.rootfsDir(), n)
		switch {
		case n == filepath.Base(s.legacyTrashDir()):
		case strings.HasSuffix(n, ".lock"):
			_ = os.Remove(p)
		case strings.HasSuffix(n, markerSuffix):
			if !k.leased[strings.TrimSuffix(n, markerSuffix)] {
				_ = os.Remove(p)
			}
		case strings.HasPrefix(n, ".tmp-"):
			_ = s.trash(p)
		case e.Type()&os.ModeSymlink != 0:
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() || !k.images[n] {
				_ = os.Remove(p)
			}
		case !k.leased[n]:
			if err := s.trash(p); err != nil {
				return res, err
			}
			_ = os.Remove(p + markerSuffix)
			res.Trees++
		}
	}
	res.Pending = s.emptyTrash()
	return res, nil
}

// trash moves a tree into trash/. A rename needs only write access to the
// directory holding the tree, so it works even where deleting the tree does
// not (files of subordinate IDs outside podbox's user namespace).
func (s *Store) trash(p string) error {
	if err := os.MkdirAll(s.trashDir(), 0o700); err != nil {
		return err
	}
	dst, err := os.MkdirTemp(s.trashDir(), filepath.Base(p)+"-")
	if err != nil {
		return err
	}
	if err := os.Rename(p, filepath.Join(dst, "tree")); err != nil {
		os.Remove(dst)
		return fmt.Errorf("garbage collection: move %s to the trash: %w", p, err)
	}
	return nil
}

// emptyTrash deletes what it can of trash/ (and of the trash of older podbox
// versions) and returns how many trees remain there.
func (s *Store) emptyTrash() int {
	left := 0
	for _, dir := range []string{s.trashDir(), s.legacyTrashDir()} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if err := RemoveTree(filepath.Join(dir, e.Name())); err != nil {
				left++
				s.log.Info("an unpacked image tree cannot be deleted outside podbox's user namespace yet; the supervisor's next garbage collection will", "path", e.Name(), "err", err)
			}
		}
	}
	return left
}
