package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A lease records that a holder (a pod, "namespace/name") uses images, so
// that rmi and prune refuse to remove them and GC keeps their blobs and
// unpacked trees, even after their reference is removed or re-pulled to a
// newer image. Leases are files under <root>/leases/, one per holder, written
// atomically under the index lock, so they survive supervisor restarts and
// are seen by every podbox process.

// Lease is one holder's lease.
type Lease struct {
	// Holder is who uses the images, e.g. "default/web".
	Holder string
	// Images are the image IDs (config digests) in use.
	Images []v1.Hash
}

// leaseFile is the stored form of a lease. Manifests are recorded too, so
// that GC can find an image's layers after its reference is gone.
type leaseFile struct {
	Holder string       `json:"holder"`
	Images []leasedItem `json:"images"`
}

type leasedItem struct {
	ID       v1.Hash `json:"id"`
	Manifest v1.Hash `json:"manifest"`
	Ref      string  `json:"ref,omitempty"`
}

// InUseError is the error of removing an image that a lease holds.
type InUseError struct {
	// Ref is the image as the user named it; Holders use it.
	Ref     string
	Holders []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("image %q is in use by pod %s: delete the pod first", e.Ref, strings.Join(e.Holders, ", "))
}

func (s *Store) leasePath(holder string) string {
	return filepath.Join(s.leasesDir(), url.PathEscape(holder)+".json")
}

// Lease records that holder uses the images with the given IDs (config
// digests, Image.ID), adding to what it already holds; calling it again with
// the same IDs changes nothing. Every ID must be in the store (referenced or
// already leased). Take the lease before Rootfs, so that a concurrent rmi
// cannot remove the image between lookup and start.
func (s *Store) Lease(holder string, imageIDs ...v1.Hash) error {
	if holder == "" {
		return errors.New("lease images: the holder is empty")
	}
	return s.withIndex(func(idx *v1.IndexManifest) error {
		lf, err := s.readLease(holder)
		if err != nil {
			return err
		}
		changed := lf == nil
		if lf == nil {
			lf = &leaseFile{Holder: holder}
		}
		var all []*leaseFile // the other leases, read when first needed
	next:
		for _, id := range imageIDs {
			for _, it := range lf.Images {
				if it.ID == id {
					continue next
				}
			}
			if all == nil {
				if all, err = s.readLeases(); err != nil {
					return err
				}
			}
			item, ok := s.findByID(idx, all, id)
			if !ok {
				return fmt.Errorf("lease image %s for %s: %w", id, holder, ErrNotFound)
			}
			lf.Images = append(lf.Images, item)
			changed = true
		}
		if !changed {
			// Each container of a pod leases its image again: the
			// lease is already held and on disk.
			return nil
		}
		raw, err := json.MarshalIndent(lf, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(s.leasePath(holder), raw); err != nil {
			return fmt.Errorf("lease images for %s: %w", holder, err)
		}
		return nil
	})
}

// findByID finds the manifest of the image with config digest id, in the
// index or in existing leases.
func (s *Store) findByID(idx *v1.IndexManifest, leases []*leaseFile, id v1.Hash) (leasedItem, bool) {
	for i := len(idx.Manifests) - 1; i >= 0; i-- {
		d := idx.Manifests[i]
		if m, err := s.manifest(d.Digest); err == nil && m.Config.Digest == id {
			return leasedItem{ID: id, Manifest: d.Digest, Ref: d.Annotations[annotationRefName]}, true
		}
	}
	for _, lf := range leases {
		for _, it := range lf.Images {
			if it.ID == id {
				return it, true
			}
		}
	}
	return leasedItem{}, false
}

// Release drops holder's lease. Releasing a holder without a lease is not an
// error, so that deleting a pod can always call it. The images stay in the
// store until removed (rmi, prune); their blobs are then collected.
func (s *Store) Release(holder string) error {
	return s.withIndex(func(*v1.IndexManifest) error {
		err := os.Remove(s.leasePath(holder))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("release images of %s: %w", holder, err)
		}
		return nil
	})
}

// Leases returns every lease, sorted by holder.
func (s *Store) Leases() ([]Lease, error) {
	all, err := s.readLeases()
	if err != nil {
		return nil, err
	}
	out := make([]Lease, 0, len(all))
	for _, lf := range all {
		l := Lease{Holder: lf.Holder}
		for _, it := range lf.Images {
			l.Images = append(l.Images, it.ID)
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *Store) readLease(holder string) (*leaseFile, error) {
	raw, err := os.ReadFile(s.leasePath(holder))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lease of %s: %w", holder, err)
	}
	var lf leaseFile
	if err := json.Unmarshal(raw, &lf); err != nil {
		return nil, fmt.Errorf("read lease of %s: %w (remove %s if the pod is gone)", holder, err, s.leasePath(holder))
	}
	return &lf, nil
}

// readLeases reads all lease files, sorted by holder.
func (s *Store) readLeases() ([]*leaseFile, error) {
	entries, err := os.ReadDir(s.leasesDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	var out []*leaseFile
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".json") || strings.HasPrefix(n, ".") {
			continue
		}
		holder, err := url.PathUnescape(strings.TrimSuffix(n, ".json"))
		if err != nil {
			continue
		}
		lf, err := s.readLease(holder)
		if err != nil {
			return nil, err
		}
		if lf != nil {
			out = append(out, lf)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Holder < out[j].Holder })
	return out, nil
}

// holdersOf returns who holds a lease on image id.
func holdersOf(leases []*leaseFile, id v1.Hash) []string {
	var out []string
	for _, lf := range leases {
		for _, it := range lf.Images {
			if it.ID == id {
				out = append(out, lf.Holder)
				break
			}
		}
	}
	return out
}
