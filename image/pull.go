package image

import (
	"context"
	"fmt"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullOption configures Pull.
type PullOption func(*pullOptions)

type pullOptions struct {
	platform v1.Platform
	keychain authn.Keychain
	remote   []remote.Option
}

// WithPlatform selects the platform to pull from a multi-platform image. The
// default is linux on the host's architecture, since gVisor runs Linux
// binaries of the host architecture only.
func WithPlatform(p v1.Platform) PullOption {
	return func(o *pullOptions) { o.platform = p }
}

// WithKeychain sets where registry credentials come from, e.g. a keychain
// built from a pod's imagePullSecrets. The default is authn.DefaultKeychain
// (~/.docker/config.json, then Podman's auth.json).
func WithKeychain(k authn.Keychain) PullOption {
	return func(o *pullOptions) { o.keychain = k }
}

// WithRemoteOptions passes extra options to ggcr's remote package, e.g.
// remote.WithTransport or remote.WithUserAgent. They are applied last.
func WithRemoteOptions(opts ...remote.Option) PullOption {
	return func(o *pullOptions) { o.remote = append(o.remote, opts...) }
}

// HostPlatform is the platform podbox runs images for.
func HostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Pull downloads ref from its registry (any OCI or Docker v2 registry;
// localhost and 127.0.0.1 registries are spoken to over plain HTTP) and
// records it in the store, replacing an older image of the same reference.
// Every blob is verified against its digest before it is stored.
func (s *Store) Pull(ctx context.Context, ref string, opts ...PullOption) (*Image, error) {
	o := pullOptions{platform: HostPlatform(), keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := parse(ref)
	if err != nil {
		return nil, err
	}
	norm := format(r)
	ropts := append([]remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithPlatform(o.platform),
		remote.WithJobs(s.jobs),
	}, o.remote...)

	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", norm, err)
	}
	// For an index, Image picks the manifest for o.platform.
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("pull %s: select platform %s: %w", norm, o.platform, err)
	}
	return s.put(ctx, norm, img, desc.Digest)
}

// Put stores an in-memory image under ref, replacing an older image of the
// same reference.
func (s *Store) Put(ref string, img v1.Image) (*Image, error) {
	norm, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("store %s: manifest digest: %w", norm, err)
	}
	return s.put(context.Background(), norm, img, d)
}

func (s *Store) put(ctx context.Context, norm string, img v1.Image, repoDigest v1.Hash) (*Image, error) {
	desc, err := s.writeImage(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", norm, err)
	}
	if err := s.commit(norm, *desc, repoDigest); err != nil {
		return nil, fmt.Errorf("store %s: %w", norm, err)
	}
	desc.Annotations = map[string]string{annotationRefName: norm, annotationRepoDigest: repoDigest.String()}
	img2, err := s.describe(*desc)
	if err != nil {
		return nil, err
	}
	return img2, nil
}
