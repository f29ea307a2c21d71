package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrNotFound is returned (wrapped) when the store has no image for a reference.
var ErrNotFound = errors.New("image not found in the local store")

// dockerHub is how Kubernetes and containerd spell Docker Hub in image
// references; ggcr spells it "index.docker.io", which users never see.
const dockerHub = "docker.io"

// Normalize returns ref in the fully qualified form Kubernetes shows in pod
// status: "busybox" becomes "docker.io/library/busybox:latest",
// "localhost:5000/app:v1" stays as is. A reference with a digest keeps only the
// digest ("repo:tag@sha256:..." becomes "repo@sha256:..."), as containerd does,
// because the digest alone decides what is pulled.
func Normalize(ref string) (string, error) {
	r, err := parse(ref)
	if err != nil {
		return "", err
	}
	return format(r), nil
}

// parse parses ref strictly enough to reject typos (upper-case repositories,
// empty tags) while allowing the short forms users type.
func parse(ref string) (name.Reference, error) {
	if strings.TrimSpace(ref) != ref || ref == "" {
		return nil, fmt.Errorf("invalid image reference %q: it must be non-empty and contain no spaces", ref)
	}
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w (expected e.g. \"busybox\", \"docker.io/library/busybox:1.36\" or \"localhost:5000/app@sha256:...\")", ref, err)
	}
	return r, nil
}

// repository returns the fully qualified repository of r, e.g.
// "docker.io/library/busybox".
func repository(r name.Reference) string {
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	return reg + "/" + r.Context().RepositoryStr()
}

// format renders a parsed reference in normalized form.
func format(r name.Reference) string {
	switch r := r.(type) {
	case name.Digest:
		return repository(r) + "@" + r.DigestStr()
	case name.Tag:
		return repository(r) + ":" + r.TagStr()
	default:
		return r.Name()
	}
}

// SplitRef splits a normalized reference into repository and tag or digest,
// for display: "docker.io/library/busybox:latest" gives ("docker.io/library/busybox",
// "latest", ""), "repo@sha256:ab" gives ("repo", "", "sha256:ab").
func SplitRef(ref string) (repo, tag, digest string) {
	r, err := parse(ref)
	if err != nil {
		return ref, "", ""
	}
	switch r := r.(type) {
	case name.Digest:
		return repository(r), "", r.DigestStr()
	case name.Tag:
		return repository(r), r.TagStr(), ""
	}
	return ref, "", ""
}
