package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// annotationContainerdName is where containerd and nerdctl put the full
// reference in OCI layouts they export; ref.name there is often only a tag.
const annotationContainerdName = "io.containerd.image.name"

// Load stores the images of a `docker save` tarball, of an OCI archive (an
// OCI image layout in a tar file, as `skopeo copy ... oci-archive:FILE` and
// `podman save --format oci-archive` write) or of an OCI image layout
// directory, and returns them in file order. Every tag of the tarball (every
// named entry of the layout) becomes one stored reference. Tar files may be
// gzip-compressed; which kind a tar file is, is told by its content.
func (s *Store) Load(path string) ([]*Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	if fi.IsDir() {
		return s.loadLayout(path, path)
	}
	kind, err := sniffArchive(path)
	switch {
	case kind == archiveDocker:
		return s.loadTarball(path)
	case kind == archiveOCI:
		return s.loadOCIArchive(path)
	case err != nil:
		return nil, fmt.Errorf("load %s: not a `docker save` tarball or an OCI archive: %w", path, err)
	default:
		return nil, fmt.Errorf("load %s: not a `docker save` tarball (no manifest.json) or an OCI archive (no oci-layout or index.json)", path)
	}
}

type archiveKind int

const (
	archiveUnknown archiveKind = iota
	archiveDocker
	archiveOCI
)

// sniffArchive tells a `docker save` tarball (manifest.json at the root) from
// an OCI archive (oci-layout or index.json at the root, no manifest.json).
// Docker 25 and later write both: its manifest.json, which ggcr's tarball
// package reads, is preferred.
func sniffArchive(path string) (archiveKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return archiveUnknown, err
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return archiveUnknown, err
	}
	defer r.Close()
	tr := tar.NewReader(r)
	oci := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if oci {
				break // let extraction report the damage
			}
			return archiveUnknown, err
		}
		switch strings.TrimPrefix(pathpkg.Clean(hdr.Name), "/") {
		case "manifest.json":
			return archiveDocker, nil
		case "oci-layout", "index.json":
			oci = true
		}
	}
	if oci {
		return archiveOCI, nil
	}
	return archiveUnknown, nil
}

// maybeGunzip returns a reader of f's content, decompressed if it is gzip.
func maybeGunzip(f *os.File) (io.ReadCloser, error) {
	var magic [2]byte
	n, err := io.ReadFull(f, magic[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(bufio.NewReader(f))
	}
	return io.NopCloser(f), nil
}

// loadOCIArchive extracts the OCI layout of an archive into a temporary
// directory of the store and loads it from there. Only what a layout consists
// of is extracted (oci-layout, index.json, blobs/<algorithm>/<digest>), as
// regular files created through an os.Root with O_EXCL, so no entry of a
// hostile archive can write anywhere else; every blob is then verified
// against its digest as it is stored.
func (s *Store) loadOCIArchive(path string) ([]*Image, error) {
	// Shared GC lock: GC treats what is under tmp/ as a crash's leftover
	// only when nobody holds it.
	unlock, err := s.lockGC(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := os.MkdirAll(s.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	dir, err := os.MkdirTemp(s.tmpDir(), "load-")
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer RemoveTree(dir)
	if err := extractLayout(path, dir, s.maxImageSize); err != nil {
		return nil, fmt.Errorf("load %s: OCI archive: %w", path, err)
	}
	return s.loadLayout(dir, path)
}

// extractLayout writes the OCI layout files of the archive at path into the
// empty directory dir, at most limit bytes in all (a gzip-compressed archive
// can expand far beyond its own size). Sparse members, which no layout writer
// makes, are refused: their holes would be written as zeros.
func extractLayout(path, dir string, limit int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return err
	}
	defer r.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, why := cleanPath(strings.TrimPrefix(hdr.Name, "./"))
		if why != "" {
			return fmt.Errorf("entry %q: %w: %s", hdr.Name, ErrUnsafeEntry, why)
		}
		if !layoutMember(name) || hdr.Typeflag != tar.TypeReg {
			continue // directories are made as needed; nothing else belongs to a layout
		}
		if isSparse(hdr) {
			return fmt.Errorf("entry %q: a sparse file, which is no blob of an image layout", shortName(hdr.Name))
		}
		if hdr.Size > limit {
			return limitError("entry %q declares %d bytes, more than the %d bytes the archive may still extract (the per-image size limit)", shortName(hdr.Name), hdr.Size, limit)
		}
		limit -= hdr.Size
		if parent := pathpkg.Dir(name); parent != "." {
			if err := root.MkdirAll(parent, 0o700); err != nil {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
		}
		out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

// layoutMember reports whether the clean relative name is a file of an OCI
// image layout: oci-layout, index.json or blobs/<algorithm>/<encoded>.
func layoutMember(name string) bool {
	if name == "oci-layout" || name == "index.json" {
		return true
	}
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789+._-=") != "" || strings.HasPrefix(p, ".") {
			return false
		}
	}
	return true
}

func (s *Store) loadTarball(path string) ([]*Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("load %s: not a `docker save` tarball (no readable manifest.json): %w", path, err)
	}
	var out []*Image
	for i, d := range m {
		if len(d.RepoTags) == 0 {
			return out, fmt.Errorf("load %s: image %d (config %s) has no tag; save it by name, e.g. `docker save -o FILE NAME:TAG`", path, i+1, d.Config)
		}
		for _, t := range d.RepoTags {
			tag, err := name.NewTag(t, name.WeakValidation)
			if err != nil {
				return out, fmt.Errorf("load %s: bad tag %q in manifest.json: %w", path, t, err)
			}
			img, err := tarball.Image(opener, &tag)
			if err != nil {
				return out, fmt.Errorf("load %s: image %s: %w", path, t, err)
			}
			stored, err := s.put(context.Background(), format(tag), img, mustDigest(img), nil, nil)
			if err != nil {
				return out, fmt.Errorf("load %s: %w", path, err)
			}
			out = append(out, stored)
		}
	}
	return out, nil
}

func mustDigest(img v1.Image) v1.Hash {
	d, _ := img.Digest() // an error resurfaces in writeImage with context
	return d
}

// loadLayout loads the OCI layout in the directory path; shown is the file
// named in messages (the archive it was extracted from, or path).
func (s *Store) loadLayout(path, shown string) ([]*Image, error) {
	ii, err := layout.ImageIndexFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: not an OCI image layout (index.json unreadable): %w", shown, err)
	}
	idx, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", shown, err)
	}
	var out []*Image
	for _, d := range idx.Manifests {
		refName := d.Annotations[annotationContainerdName]
		if refName == "" {
			refName = d.Annotations[annotationRefName]
		}
		// A bare ref.name such as "latest" is only a tag; the repository it
		// belongs to is unknown, so guessing would store a wrong name.
		if refName == "" || !strings.ContainsAny(refName, "/:@") {
			return out, fmt.Errorf("load %s: manifest %s has no full image name (annotation %s=%q); name it e.g. \"registry.example/app:v1\"", shown, d.Digest, annotationRefName, refName)
		}
		r, err := parse(refName)
		if err != nil {
			return out, fmt.Errorf("load %s: manifest %s: %w", shown, d.Digest, err)
		}
		var img v1.Image
		switch {
		case d.MediaType.IsIndex():
			child, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return out, fmt.Errorf("load %s: index %s: %w", shown, d.Digest, err)
			}
			img, err = pickPlatform(child, HostPlatform())
			if err != nil {
				return out, fmt.Errorf("load %s: %s: %w", shown, refName, err)
			}
		case d.MediaType.IsImage():
			img, err = ii.Image(d.Digest)
			if err != nil {
				return out, fmt.Errorf("load %s: image %s: %w", shown, d.Digest, err)
			}
		default:
			continue // not an image (e.g. an attestation); nothing to run
		}
		stored, err := s.put(context.Background(), format(r), img, d.Digest, nil, nil)
		if err != nil {
			return out, fmt.Errorf("load %s: %w", shown, err)
		}
		out = append(out, stored)
	}
	return out, nil
}

// pickPlatform returns the image of ii built for p.
func pickPlatform(ii v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	idx, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range idx.Manifests {
		if d.MediaType.IsImage() && d.Platform != nil && d.Platform.Satisfies(p) {
			return ii.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image for platform %s in the index", p)
}
