package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// PullOption configures Pull.
type PullOption func(*pullOptions)

type pullOptions struct {
	platform  v1.Platform
	keychain  authn.Keychain
	remote    []remote.Option
	transport http.RoundTripper
	sleep     func(context.Context, time.Duration) error
	progress  func(Progress)
	result    *PullResult
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
// remote.WithUserAgent. They are applied last. To change the HTTP transport
// use WithTransport instead: a remote.WithTransport here would bypass the
// retrying, resuming transport.
func WithRemoteOptions(opts ...remote.Option) PullOption {
	return func(o *pullOptions) { o.remote = append(o.remote, opts...) }
}

// WithTransport sets the HTTP transport under podbox's retrying and resuming
// layer (default: ggcr's default transport with more idle connections).
func WithTransport(t http.RoundTripper) PullOption {
	return func(o *pullOptions) { o.transport = t }
}

// withSleep replaces the waits between retries; tests use it to observe
// back-off and Retry-After without spending real time.
func withSleep(f func(context.Context, time.Duration) error) PullOption {
	return func(o *pullOptions) { o.sleep = f }
}

// ProgressState is where one blob of a pull stands.
type ProgressState int

// The states a blob goes through: Waiting (another pull, possibly in another
// process, is downloading it) or Downloading, then Done, Exists (it was
// already in the store) or Failed.
const (
	ProgressWaiting ProgressState = iota
	ProgressDownloading
	ProgressDone
	ProgressExists
	ProgressFailed
)

func (p ProgressState) String() string {
	switch p {
	case ProgressWaiting:
		return "Waiting"
	case ProgressDownloading:
		return "Downloading"
	case ProgressDone:
		return "Download complete"
	case ProgressExists:
		return "Already exists"
	case ProgressFailed:
		return "Failed"
	}
	return fmt.Sprintf("ProgressState(%d)", int(p))
}

// Progress reports on one blob (layer or config) of a pull.
type Progress struct {
	// Digest names the blob; Layer is its position (1 = bottom layer), or
	// 0 for the image config.
	Digest v1.Hash
	Layer  int
	// Current and Total are bytes of the compressed blob.
	Current, Total int64
	State          ProgressState
	// Err is set when State is ProgressFailed.
	Err error
}

// WithProgress calls fn as the blobs of the pull move on: once per state
// change and repeatedly while bytes arrive. fn is called from several
// goroutines at once (layers download in parallel) and must be quick.
func WithProgress(fn func(Progress)) PullOption {
	return func(o *pullOptions) { o.progress = fn }
}

// PullResult is what a pull did, for the kubelet's event
// `Successfully pulled image "x" in 1.2s (1.5s including waiting). Image size: N bytes.`
type PullResult struct {
	// Image is the stored image (Pull returns it as well).
	Image *Image
	// Size is the image's size in bytes, as the kubelet reports it: the
	// compressed layers, config and manifest.
	Size int64
	// Fetched is how many blob bytes this pull downloaded; 0 when every blob
	// was already in the store.
	Fetched int64
	// Duration is the pull's wall-clock time excluding Waited; Total
	// includes it.
	Duration, Total time.Duration
	// Waited is the time this pull spent only waiting for blobs that another
	// pull (in this or another process) was downloading.
	Waited time.Duration
	// Source is the registry, or the mirror, the image came from.
	Source string
}

// WithResult makes Pull fill in *r when it succeeds.
func WithResult(r *PullResult) PullOption {
	return func(o *pullOptions) { o.result = r }
}

// HostPlatform is the platform podbox runs images for.
func HostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Pull downloads ref and records it in the store, replacing an older image of
// the same reference, and returns it.
//
// Sources: any OCI or Docker v2 registry; Docker Hub short names are
// normalised as Kubernetes does ("busybox" is docker.io/library/busybox:latest);
// localhost, 127.0.0.1 and registries marked insecure in the registries
// configuration (see RegistriesConfig) are spoken to over plain HTTP, and its
// mirrors are tried, in order, before the registry itself. A multi-platform
// index resolves to the host platform.
//
// Layers download in parallel (WithJobs). Each blob is downloaded once even
// when several pulls of the same image run at the same time, in this or other
// processes: a per-blob file lock makes the others wait and then find it
// stored. Every blob is verified against its digest before it is stored;
// 429 and 5xx answers are retried honouring Retry-After, and a broken
// download resumes with a Range request.
//
// Ownership: Pull only stores blobs; files are given their owners when
// Rootfs unpacks the image. In a user namespace without subordinate IDs
// (a single-line /proc/self/uid_map mapping one ID) every file of the image
// belongs to the user, i.e. to root inside the sandbox, whatever owner the
// image gives it, so a container running as another uid may be unable to
// write to its own files. Pull logs a warning about this once per store.
func (s *Store) Pull(ctx context.Context, ref string, opts ...PullOption) (*Image, error) {
	start := time.Now()
	o := pullOptions{platform: HostPlatform(), keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		opt(&o)
	}
	r, err := parse(ref)
	if err != nil {
		return nil, err
	}
	norm := format(r)
	cfg, err := s.registries()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", norm, err)
	}
	s.warnOwnershipOnce()

	base := o.transport
	if base == nil {
		base = defaultBaseTransport()
	}
	rt := newRetryTransport(base)
	if o.sleep != nil {
		rt.sleep = o.sleep
	}

	var errs []error
	for _, ep := range cfg.endpoints(r) {
		ropts := append([]remote.Option{
			remote.WithContext(ctx),
			remote.WithAuthFromKeychain(o.keychain),
			remote.WithPlatform(o.platform),
			remote.WithJobs(s.jobs),
			remote.WithTransport(rt),
			// Retrying is retryTransport's job; ggcr's retries would
			// multiply its attempts and ignore Retry-After.
			remote.WithRetryPredicate(errNoRetry),
			remote.WithRetryStatusCodes(),
		}, o.remote...)
		desc, err := remote.Get(ep.ref, ropts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep.ref.Context().RegistryStr(), err))
			if ep.mirror {
				s.log.Warn("image mirror failed; trying the next source", "image", norm, "mirror", ep.ref.Context().RegistryStr(), "err", err)
				continue
			}
			break
		}
		// For an index, Image picks the manifest for o.platform.
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("pull %s: select platform %s: %w", norm, o.platform, err)
		}
		fetch, err := blobFetcher(ctx, ep.ref.Context(), o.keychain, rt)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", norm, err)
		}
		w := &pullWriter{progress: o.progress}
		stored, err := s.put(ctx, norm, img, desc.Digest, w, fetch)
		if err != nil {
			return nil, fmt.Errorf("pull %s from %s: %w", norm, ep.ref.Context().RegistryStr(), err)
		}
		if o.result != nil {
			total := time.Since(start)
			waited := w.waited()
			*o.result = PullResult{
				Image:    stored,
				Size:     stored.Size,
				Fetched:  rt.fetched.Load(),
				Duration: total - waited,
				Total:    total,
				Waited:   waited,
				Source:   ep.ref.Context().RegistryStr(),
			}
		}
		return stored, nil
	}
	if len(errs) == 1 {
		return nil, fmt.Errorf("pull %s: %w", norm, errors.Unwrap(errs[0]))
	}
	return nil, fmt.Errorf("pull %s: every source failed: %w", norm, errors.Join(errs...))
}

// blobFetcher returns openers of the blobs of repo over an authenticated
// transport on top of rt. ggcr's layers would do the same GET but hash the
// content as well, and writeBlob hashes it anyway: hashing twice costs about
// a sixth of the time of a pull from a fast registry.
func blobFetcher(ctx context.Context, repo name.Repository, kc authn.Keychain, rt http.RoundTripper) (func(v1.Hash) func() (io.ReadCloser, error), error) {
	auth, err := kc.Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("registry credentials for %s: %w", repo, err)
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, rt, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: tr}
	return func(h v1.Hash) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) {
			u := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/blobs/" + h.String()}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
			}
			return resp.Body, nil
		}
	}, nil
}

// endpoint is one place to pull a reference from.
type endpoint struct {
	ref    name.Reference
	mirror bool
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
	return s.put(context.Background(), norm, img, d, nil, nil)
}

// put writes img's blobs and records it under norm. It holds the store's
// shared GC lock throughout, so that a concurrent GC cannot delete blobs that
// are written but not yet referenced by the index.
func (s *Store) put(ctx context.Context, norm string, img v1.Image, repoDigest v1.Hash, w *pullWriter, fetch func(v1.Hash) func() (io.ReadCloser, error)) (*Image, error) {
	unlock, err := s.lockGC(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	desc, err := s.writeImage(ctx, img, w, fetch)
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
