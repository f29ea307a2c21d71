package image

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"podbox.dev/podbox/testdata/images"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                                       "docker.io/library/busybox:latest",
		"busybox:1.36":                                  "docker.io/library/busybox:1.36",
		"library/busybox":                               "docker.io/library/busybox:latest",
		"docker.io/library/busybox:latest":              "docker.io/library/busybox:latest",
		"index.docker.io/library/busybox":               "docker.io/library/busybox:latest",
		"user/app:v2":                                   "docker.io/user/app:v2",
		"localhost:5000/app:v1":                         "localhost:5000/app:v1",
		"localhost/app":                                 "localhost/app:latest",
		"127.0.0.1:5000/a/b/c":                          "127.0.0.1:5000/a/b/c:latest",
		"ghcr.io/o/r:t":                                 "ghcr.io/o/r:t",
		"podbox.local/demo:latest":                      "podbox.local/demo:latest",
		"busybox@sha256:" + strings.Repeat("a", 64):     "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64),
		"busybox:1.2@sha256:" + strings.Repeat("a", 64): "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Upper/Case", "a b", "busybox:", "busybox@sha256:abc"} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		} else if !strings.Contains(err.Error(), bad) {
			t.Errorf("Normalize(%q) error %q does not name the reference", bad, err)
		}
	}
}

func TestPutLookupListRootfs(t *testing.T) {
	s := openStore(t)
	img := testImage(t, layer(t, dir("bin/", 0o755), file("bin/hello", "hi")))

	if _, err := s.Lookup("app"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup on an empty store: %v, want ErrNotFound", err)
	}
	a, err := s.Put("app", img)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put("docker.io/library/app:latest", img) // same ref, again
	if err != nil {
		t.Fatal(err)
	}
	if a.Ref != "docker.io/library/app:latest" || a.Digest != b.Digest || a.ID != b.ID {
		t.Fatalf("Put twice: %+v vs %+v", a, b)
	}
	wantDigest, _ := img.Digest()
	wantID, _ := img.ConfigName()
	if a.Digest != wantDigest || a.ID != wantID || a.RepoDigest != wantDigest {
		t.Errorf("digests: got %v/%v, want %v/%v", a.Digest, a.ID, wantDigest, wantID)
	}
	if len(a.Config.Cmd) != 1 || a.Config.Cmd[0] != "sh" || a.Config.Env[0] != "A=b" {
		t.Errorf("config = %+v", a.Config)
	}
	if _, err := s.Put("other:v1", img); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Ref != "docker.io/library/app:latest" || list[1].Ref != "docker.io/library/other:v1" {
		t.Fatalf("List = %v", refs(list))
	}
	got, err := s.Lookup("app:latest")
	if err != nil || got.Digest != a.Digest {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	byDigest, err := s.Lookup("app@" + a.Digest.String())
	if err != nil || byDigest.ID != a.ID || byDigest.Ref != "docker.io/library/app@"+a.Digest.String() {
		t.Fatalf("Lookup by digest = %+v, %v", byDigest, err)
	}
	if _, err := s.Lookup("nope@" + a.Digest.String()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of the digest in another repository: %v", err)
	}
	if got := a.ImageID(); got != "docker.io/library/app@"+a.Digest.String() {
		t.Errorf("ImageID = %q", got)
	}

	// Concurrent first use unpacks once; later calls return the same tree.
	var wg sync.WaitGroup
	paths := make([]string, 8)
	errs := make([]error, 8)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = s.Rootfs(a)
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("Rootfs #%d = %q, %v; #0 = %q", i, paths[i], errs[i], paths[0])
		}
	}
	if filepath.Dir(paths[0]) != filepath.Join(s.Root(), "snapshots") {
		t.Errorf("rootfs at %s, want the top layer's snapshot", paths[0])
	}
	if link, err := filepath.EvalSymlinks(filepath.Join(s.Root(), "rootfs", a.ID.Hex)); err != nil || link != paths[0] {
		t.Errorf("rootfs/<id> resolves to %q, %v; want %s", link, err, paths[0])
	}
	if got := readFile(t, filepath.Join(paths[0], "bin/hello")); got != "hi" {
		t.Errorf("bin/hello = %q", got)
	}
	for _, d := range []string{"rootfs", "snapshots"} {
		entries, _ := os.ReadDir(filepath.Join(s.Root(), d))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				t.Errorf("leftover temporary entry %s/%s", d, e.Name())
			}
		}
	}

	// Replacing a reference keeps one entry, pointing at the new image.
	img2 := testImage(t, layer(t, file("v2", "v2")))
	c, err := s.Put("app", img2)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Lookup("app"); got.Digest != c.Digest || got.Digest == a.Digest {
		t.Errorf("after replacement Lookup gives %v, want %v", got.Digest, c.Digest)
	}
	if list, _ := s.List(); len(list) != 2 {
		t.Errorf("after replacement List = %v", refs(list))
	}

	// A second Store on the same root (another process) sees everything.
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Lookup("other:v1"); err != nil || got.ID != a.ID {
		t.Errorf("second store: %+v, %v", got, err)
	}
	if err := s2.Remove("other:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("other:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Remove: %v", err)
	}
	// The store is a valid OCI layout for other tools.
	if _, err := layout.ImageIndexFromPath(s.Root()); err != nil {
		t.Errorf("not a readable OCI layout: %v", err)
	}
}

func refs(list []*Image) []string {
	var out []string
	for _, i := range list {
		out = append(out, i.Ref)
	}
	return out
}

// TestConcurrentPuts checks that the index lock keeps every entry when many
// writers update index.json at once.
func TestConcurrentPuts(t *testing.T) {
	s := openStore(t)
	img := testImage(t, layer(t, file("f", "f")))
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, err := Open(s.Root()) // separate Store, as another process would have
			if err == nil {
				_, err = other.Put("img:"+string(rune('a'+i)), img)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if list, _ := s.List(); len(list) != 16 {
		t.Errorf("List has %d entries, want 16", len(list))
	}
}

func TestPull(t *testing.T) {
	host, stop, err := images.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(host, "127.0.0.1:") {
		t.Fatalf("registry at %s, want 127.0.0.1", host)
	}
	img := testImage(t, layer(t, file("etc/os-release", "ID=test\n")))
	ref, err := images.Push(host, "team/app:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	got, err := s.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got.Ref != ref || got.Digest != want {
		t.Errorf("Pull = %s %v, want %s %v", got.Ref, got.Digest, ref, want)
	}
	if l, err := s.Lookup(ref); err != nil || l.Digest != want {
		t.Errorf("Lookup after Pull = %+v, %v", l, err)
	}
	root, err := s.Rootfs(got)
	if err != nil {
		t.Fatal(err)
	}
	if c := readFile(t, filepath.Join(root, "etc/os-release")); c != "ID=test\n" {
		t.Errorf("os-release = %q", c)
	}

	// By digest.
	dref := host + "/team/app@" + want.String()
	if byDigest, err := s.Pull(context.Background(), dref); err != nil || byDigest.Digest != want {
		t.Errorf("Pull by digest = %+v, %v", byDigest, err)
	}

	// A multi-platform index resolves to the host platform; RepoDigest is
	// the index's digest, as Kubernetes reports it.
	other := testImage(t, layer(t, file("wrong", "arch")))
	cf, _ := other.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture = "s390x-not-this-one"
	other, _ = mutate.ConfigFile(other, cf)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x-not-this-one"}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: HostPlatform().Architecture}}},
	)
	iref, _ := name.ParseReference(host + "/team/multi:v1")
	if err := remote.WriteIndex(iref, idx); err != nil {
		t.Fatal(err)
	}
	multi, err := s.Pull(context.Background(), iref.String())
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	if multi.Digest != want || multi.RepoDigest != idxDigest {
		t.Errorf("multi-platform pull: digest %v repo digest %v, want %v %v", multi.Digest, multi.RepoDigest, want, idxDigest)
	}
	if _, err := s.Lookup(host + "/team/multi@" + idxDigest.String()); err != nil {
		t.Errorf("Lookup by index digest: %v", err)
	}

	if _, err := s.Pull(context.Background(), host+"/team/absent:v1"); err == nil || !strings.Contains(err.Error(), "team/absent") {
		t.Errorf("pull of a missing image: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Pull(ctx, host+"/team/fresh:v1"); err == nil {
		t.Error("pull with a cancelled context succeeded")
	}
}

// TestPullCorruptBlob checks that a registry serving a layer whose bytes do
// not match its digest makes the pull fail without storing anything.
func TestPullCorruptBlob(t *testing.T) {
	img := testImage(t, layer(t, file("big", strings.Repeat("data", 10000))))
	layers, _ := img.Layers()
	bad, _ := layers[0].Digest()
	host, stop, err := images.StartRegistryWith(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+bad.String()) {
				rec := &corrupter{ResponseWriter: w}
				h.ServeHTTP(rec, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ref, err := images.Push(host, "corrupt:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	if _, err := s.Pull(context.Background(), ref); err == nil {
		t.Fatal("pull of a corrupted blob succeeded")
	} else if !strings.Contains(err.Error(), bad.Hex[:12]) {
		t.Errorf("error %q does not name the layer %s", err, bad)
	}
	if _, err := s.Lookup(ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup after failed pull: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(s.blobPath(bad)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupted blob stored under its final name: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary blob left behind: %s", e.Name())
		}
	}
}

// corrupter flips one byte in the middle of a response body.
type corrupter struct {
	http.ResponseWriter
	n int
}

func (c *corrupter) Write(p []byte) (int, error) {
	q := bytes.Clone(p)
	if c.n <= 100 && c.n+len(q) > 100 {
		q[100-c.n] ^= 0xff
	}
	c.n += len(q)
	return c.ResponseWriter.Write(q)
}

func TestLoadTarball(t *testing.T) {
	img := testImage(t, layer(t, file("hello", "tar")))
	p := filepath.Join(t.TempDir(), "img.tar")
	t1, _ := name.NewTag("busybox:1")
	t2, _ := name.NewTag("localhost:5000/x/y:z")
	if err := tarball.MultiWriteToFile(p, map[name.Tag]v1.Image{t1: img, t2: img}); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	loaded, err := s.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, i := range loaded {
		got[i.Ref] = true
	}
	if len(loaded) != 2 || !got["docker.io/library/busybox:1"] || !got["localhost:5000/x/y:z"] {
		t.Fatalf("Load = %v", refs(loaded))
	}
	root, err := s.Rootfs(loaded[0])
	if err != nil {
		t.Fatal(err)
	}
	if c := readFile(t, filepath.Join(root, "hello")); c != "tar" {
		t.Errorf("hello = %q", c)
	}
	if _, err := s.Load(filepath.Join(t.TempDir(), "absent.tar")); err == nil {
		t.Error("loading a missing file succeeded")
	}
	junk := filepath.Join(t.TempDir(), "junk.tar")
	os.WriteFile(junk, []byte("not a tarball"), 0o644)
	if _, err := s.Load(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("loading junk: %v", err)
	}
}

func TestLoadLayout(t *testing.T) {
	img := testImage(t, layer(t, file("hello", "layout")))
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: "registry.example/app:v3"})); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	loaded, err := s.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].Ref != "registry.example/app:v3" {
		t.Fatalf("Load = %v", refs(loaded))
	}
	// A bare tag is not enough to name an image.
	if err := lp.AppendImage(testImage(t, layer(t, file("z", "z"))), layout.WithAnnotations(map[string]string{annotationRefName: "latest"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(dir); err == nil || !strings.Contains(err.Error(), "no full image name") {
		t.Errorf("bare tag: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := Open(filepath.Join(f, "sub")); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("Open under a file: %v", err)
	}
}
