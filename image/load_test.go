package image

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// tarDir packs the directory dir into the tar file out (gzip-compressed if
// gz), as skopeo's oci-archive transport does, plus extra entries at the end.
func tarDir(t *testing.T, dir, out string, gz bool, extra ...*tar.Header) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	if gz {
		zw := gzip.NewWriter(f)
		defer zw.Close()
		w = zw
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range extra {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(strings.Repeat("x", int(h.Size))))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOCIArchive(t *testing.T) {
	base := layer(t, dir("etc/", 0o755), file("etc/os-release", "podbox"))
	one := testImage(t, base, layer(t, file("hello", "oci-archive")))
	two := testImage(t, base, layer(t, file("other", "2")))
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(one, layout.WithAnnotations(map[string]string{annotationRefName: "registry.example/app:v1"})); err != nil {
		t.Fatal(err)
	}
	// podman and skopeo with a full name; no tag means :latest.
	if err := lp.AppendImage(two, layout.WithAnnotations(map[string]string{annotationRefName: "localhost:5000/tools"})); err != nil {
		t.Fatal(err)
	}
	// containerd/nerdctl: the full name in their annotation, ref.name a tag.
	if err := lp.AppendImage(two, layout.WithAnnotations(map[string]string{annotationRefName: "v2", annotationContainerdName: "busybox:v2"})); err != nil {
		t.Fatal(err)
	}
	for _, gz := range []bool{false, true} {
		archive := filepath.Join(t.TempDir(), "img.tar")
		tarDir(t, dir, archive, gz)
		s := openStore(t)
		loaded, err := s.Load(archive)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(refs(loaded), " "); got != "registry.example/app:v1 localhost:5000/tools:latest docker.io/library/busybox:v2" {
			t.Fatalf("gzip %v: Load = %s", gz, got)
		}
		wantID, _ := one.ConfigName()
		if loaded[0].ID != wantID {
			t.Errorf("ID %s, want %s", loaded[0].ID, wantID)
		}
		looked, err := s.Lookup("registry.example/app:v1")
		if err != nil {
			t.Fatal(err)
		}
		root, err := s.Rootfs(looked)
		if err != nil {
			t.Fatal(err)
		}
		if c := readFile(t, filepath.Join(root, "hello")); c != "oci-archive" {
			t.Errorf("hello = %q", c)
		}
		r2, err := s.Rootfs(loaded[1])
		if err != nil {
			t.Fatal(err)
		}
		if !sameFile(t, filepath.Join(root, "etc/os-release"), filepath.Join(r2, "etc/os-release")) {
			t.Error("the images of the archive do not share their base layer")
		}
		if e, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(e) != 0 {
			t.Errorf("extracted layout left behind: %v", e)
		}
	}
}

func TestLoadOCIArchiveRefusals(t *testing.T) {
	img := testImage(t, layer(t, file("hello", "x")))
	mk := func(ann map[string]string, extra ...*tar.Header) string {
		dir := t.TempDir()
		lp, err := layout.Write(dir, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "a.tar")
		tarDir(t, dir, p, false, extra...)
		return p
	}
	s := openStore(t)
	// skopeo's oci-archive:FILE:TAG records only the tag.
	if _, err := s.Load(mk(map[string]string{annotationRefName: "latest"})); err == nil || !strings.Contains(err.Error(), "no full image name") {
		t.Errorf("bare tag: %v", err)
	}
	outside := t.TempDir()
	hostile := []*tar.Header{
		{Name: "../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		{Name: "/abs", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
	}
	for _, h := range hostile {
		if _, err := s.Load(mk(map[string]string{annotationRefName: "a.example/x:y"}, h)); !errors.Is(err, ErrUnsafeEntry) {
			t.Errorf("entry %q: %v, want ErrUnsafeEntry", h.Name, err)
		}
	}
	// Links and files that are not part of a layout are ignored, so a link
	// cannot redirect a later blob.
	p := mk(map[string]string{annotationRefName: "a.example/x:y"},
		&tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: outside},
		&tar.Header{Name: "evil/new", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		&tar.Header{Name: "blobs/sha256/zz", Typeflag: tar.TypeSymlink, Linkname: outside + "/x"},
	)
	if loaded, err := s.Load(p); err != nil || len(loaded) != 1 {
		t.Errorf("archive with stray links: %v, %v", refs(loaded), err)
	}
	if e, _ := os.ReadDir(outside); len(e) != 0 {
		t.Errorf("something was written outside: %v", e)
	}
	// Neither kind.
	junk := filepath.Join(t.TempDir(), "junk.tar")
	f, _ := os.Create(junk)
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "readme", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.Close()
	f.Close()
	if _, err := s.Load(junk); err == nil || !strings.Contains(err.Error(), "OCI archive") {
		t.Errorf("a tar file of neither kind: %v", err)
	}
}
