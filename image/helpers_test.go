package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ent is one tar entry of a test layer.
type ent struct {
	name string
	typ  byte // tar.TypeReg when zero
	mode int64
	body string
	link string
	uid  int
}

func dir(name string, mode int64) ent     { return ent{name: name, typ: tar.TypeDir, mode: mode} }
func file(name, body string) ent          { return ent{name: name, body: body, mode: 0o644} }
func symlink(name, target string) ent     { return ent{name: name, typ: tar.TypeSymlink, link: target} }
func hardlink(name, target string) ent    { return ent{name: name, typ: tar.TypeLink, link: target} }
func whiteout(name string) ent            { return ent{name: name, mode: 0o644} }
func withMode(e ent, mode int64) ent      { e.mode = mode; return e }
func fifo(name string) ent                { return ent{name: name, typ: tar.TypeFifo, mode: 0o644} }
func regMode(name string, mode int64) ent { return ent{name: name, body: "x", mode: mode} }

var testMtime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// layer builds an in-memory gzip layer from entries, in order.
func layer(t testing.TB, entries ...ent) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Mode: e.mode, Linkname: e.link,
			Size: int64(len(e.body)), ModTime: testMtime, Uid: e.uid, Format: tar.FormatPAX}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testImage stacks layers on an empty image with a recognisable config.
func testImage(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"sh"}, Env: []string{"A=b"}})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", HostPlatform().Architecture
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveTree(s.Root()) })
	return s
}

// unpack stores layers as an image and unpacks it.
func unpack(t testing.TB, s *Store, layers ...v1.Layer) (string, error) {
	t.Helper()
	img, err := s.Put("test/unpack:latest", testImage(t, layers...))
	if err != nil {
		t.Fatal(err)
	}
	return s.Rootfs(img)
}

// snapshot lists every path under dir with its mode, size and mtime, to prove
// that a failed unpack changed nothing outside its root.
func snapshot(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprint(rel, " ", fi.Mode(), " ", fi.ModTime(), " ", fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
