package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// VerifyReport says what Verify found and did.
type VerifyReport struct {
	// Blobs is how many blobs were re-hashed; Trees how many layer
	// snapshots (unpacked trees) were checked.
	Blobs, Trees int
	// Problems describe what was wrong and what was done about it, one line
	// each; empty when the store is sound.
	Problems []string
	// Unchecked lists trees that could not be read (files of subordinate
	// IDs outside podbox's user namespace); they were left alone.
	Unchecked []string
	// GC is what the garbage collection that follows the repair removed.
	GC GCResult
}

// Verify checks the whole store and repairs it by removing what is broken,
// so that the next pull fetches it again and the next pod start unpacks it
// again:
//
//   - every blob is re-hashed; one whose content does not match its digest
//     is deleted;
//   - every image reference whose manifest, config or layers are missing is
//     removed (pull the image again);
//   - every layer snapshot (unpacked tree) is compared with the census
//     recorded when it was completed; one that differs, or that has no
//     census, is removed, unless it is the root filesystem of an image a
//     lease holds (a running pod uses it: delete the pod, then verify
//     again). Snapshots built on a removed one stay valid: they share its
//     files' inodes, not its directories;
//   - links in rootfs/ to removed or missing snapshots are removed.
//
// Finally it collects garbage. It holds the GC lock exclusively, so it waits
// for pulls and unpacks in progress and they wait for it.
func (s *Store) Verify() (*VerifyReport, error) {
	unlock, err := s.lockGC(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &VerifyReport{}
	err = s.updateIndex(func(idx *v1.IndexManifest) error {
		if err := s.verifyBlobs(rep); err != nil {
			return err
		}
		kept := idx.Manifests[:0]
		for _, d := range idx.Manifests {
			if missing := s.missingBlobs(d.Digest); len(missing) > 0 {
				rep.Problems = append(rep.Problems, fmt.Sprintf("image %s: missing %s; removed its reference, pull it again", d.Annotations[annotationRefName], strings.Join(missing, ", ")))
				continue
			}
			kept = append(kept, d)
		}
		idx.Manifests = kept
		if err := s.verifyTrees(rep); err != nil {
			return err
		}
		rep.GC, err = s.gcLocked(idx)
		return err
	})
	return rep, err
}

func (s *Store) verifyBlobs(rep *VerifyReport) error {
	dir := filepath.Join(s.root, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("verify blobs: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") {
			continue // temporary files: GC's business
		}
		rep.Blobs++
		p := filepath.Join(dir, n)
		got, err := hashFile(p)
		if err != nil {
			return fmt.Errorf("verify blob %s: %w", n, err)
		}
		if got != n {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("verify: remove corrupt blob %s: %w", n, err)
			}
			rep.Problems = append(rep.Problems, fmt.Sprintf("blob sha256:%s: content does not match its digest (sha256:%s); deleted", n, got))
		}
	}
	return nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// missingBlobs lists the blobs of the image with manifest digest m that are
// not in the store.
func (s *Store) missingBlobs(digest v1.Hash) []string {
	m, err := s.manifest(digest)
	if err != nil {
		return []string{"manifest " + digest.String()}
	}
	var missing []string
	if _, err := os.Stat(s.blobPath(m.Config.Digest)); err != nil {
		missing = append(missing, "config "+m.Config.Digest.String())
	}
	for _, l := range m.Layers {
		if _, err := os.Stat(s.blobPath(l.Digest)); err != nil {
			missing = append(missing, "layer "+l.Digest.String())
		}
	}
	return missing
}

func (s *Store) verifyTrees(rep *VerifyReport) error {
	entries, err := os.ReadDir(s.snapshotsDir())
	if err != nil {
		return fmt.Errorf("verify unpacked trees: %w", err)
	}
	leases, err := s.readLeases()
	if err != nil {
		return err
	}
	// A pod runs on the snapshot of its image's top layer.
	inUse := map[string][]string{}
	for _, lf := range leases {
		for _, it := range lf.Images {
			if _, layers, err := s.chainOf(it.Manifest); err == nil {
				top := topChain(layers).Hex
				inUse[top] = append(inUse[top], lf.Holder)
			}
		}
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		rep.Trees++
		p := filepath.Join(s.snapshotsDir(), n)
		want, merr := readMarker(p + markerSuffix)
		got, cerr := countTree(p)
		if errors.Is(cerr, fs.ErrPermission) {
			rep.Unchecked = append(rep.Unchecked, n)
			continue
		}
		var why string
		switch {
		case cerr != nil:
			why = "unreadable: " + cerr.Error()
		case merr != nil:
			why = "no record of its complete content (interrupted)"
		case !got.sameTree(want):
			why = fmt.Sprintf("incomplete: %d entries and %d bytes, want %d and %d", got.Entries, got.Bytes, want.Entries, want.Bytes)
		default:
			continue
		}
		if h := inUse[n]; len(h) > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("unpacked layers %s: %s; in use by pod %s, so left in place: delete the pod, then verify again", shortHex(n), why, strings.Join(h, ", ")))
			continue
		}
		if err := s.trash(p); err != nil {
			return err
		}
		_ = os.Remove(p + markerSuffix)
		rep.Problems = append(rep.Problems, fmt.Sprintf("unpacked layers %s: %s; removed, they are unpacked again when next used", shortHex(n), why))
	}
	// The links in rootfs/ to removed snapshots dangle now; GC removes them.
	return nil
}

// shortHex abbreviates a hex digest to the 12 digits docker shows.
func shortHex(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
