package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// annotationContainerdName is where containerd and nerdctl put the full
// reference in OCI layouts they export; ref.name there is often only a tag.
const annotationContainerdName = "io.containerd.image.name"

// Load stores the images of a `docker save` tarball or of an OCI image layout
// directory and returns them in file order. Every tag of the tarball (every
// named entry of the layout) becomes one stored reference.
func (s *Store) Load(path string) ([]*Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	if fi.IsDir() {
		return s.loadLayout(path)
	}
	return s.loadTarball(path)
}

func (s *Store) loadTarball(path string) ([]*Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("load %s: not a `docker save` tarball (no readable manifest.json): %w; for an OCI archive, extract it and load the directory", path, err)
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

func (s *Store) loadLayout(path string) ([]*Image, error) {
	ii, err := layout.ImageIndexFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: not an OCI image layout (index.json unreadable): %w", path, err)
	}
	idx, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
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
			return out, fmt.Errorf("load %s: manifest %s has no full image name (annotation %s=%q); name it e.g. \"registry.example/app:v1\"", path, d.Digest, annotationRefName, refName)
		}
		r, err := parse(refName)
		if err != nil {
			return out, fmt.Errorf("load %s: manifest %s: %w", path, d.Digest, err)
		}
		var img v1.Image
		switch {
		case d.MediaType.IsIndex():
			child, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return out, fmt.Errorf("load %s: index %s: %w", path, d.Digest, err)
			}
			img, err = pickPlatform(child, HostPlatform())
			if err != nil {
				return out, fmt.Errorf("load %s: %s: %w", path, refName, err)
			}
		case d.MediaType.IsImage():
			img, err = ii.Image(d.Digest)
			if err != nil {
				return out, fmt.Errorf("load %s: image %s: %w", path, d.Digest, err)
			}
		default:
			continue // not an image (e.g. an attestation); nothing to run
		}
		stored, err := s.put(context.Background(), format(r), img, d.Digest, nil, nil)
		if err != nil {
			return out, fmt.Errorf("load %s: %w", path, err)
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
