package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCpSpec(t *testing.T) {
	for in, want := range map[string]cpSpec{
		"web:/tmp/a":      {raw: "web:/tmp/a", pod: "web", path: "/tmp/a"},
		"prod/web:/tmp":   {raw: "prod/web:/tmp", namespace: "prod", pod: "web", path: "/tmp"},
		"./local":         {raw: "./local", path: "./local"},
		"/abs/with:colon": {raw: "/abs/with:colon", path: "/abs/with:colon"},
		"./rel:colon":     {raw: "./rel:colon", path: "./rel:colon"},
		"dir/sub/file:a":  {raw: "dir/sub/file:a", path: "dir/sub/file:a"},
		"plainfile":       {raw: "plainfile", path: "plainfile"},
	} {
		if got := parseCpSpec(in); got != want {
			t.Errorf("parseCpSpec(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// tarOf builds a tar stream with the given headers (regular files get
// their name as content).
func tarOf(t *testing.T, hdrs ...tar.Header) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = h.Name
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return &b
}

func TestUntarRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "dest")
	stream := tarOf(t,
		tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750},
		tar.Header{Name: "data/ok", Typeflag: tar.TypeReg, Mode: 0o640},
		tar.Header{Name: "data/../../escaped", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "data/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		tar.Header{Name: "data/hard", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"},
	)
	var warn bytes.Buffer
	if err := untar(stream, "data", dest, &warn); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "ok")); err != nil || string(b) != "data/ok" {
		t.Errorf("ok: %q %v", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(dest, "ok")); fi == nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode of ok not kept: %v", fi)
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped")); err == nil {
		t.Error("an entry with .. was written outside the destination")
	}
	if _, err := os.Lstat(filepath.Join(dest, "link")); err == nil {
		t.Error("a symlink from the container was created")
	}
	for _, want := range []string{"is outside target destination", `skipping symlink: "` + filepath.Join(dest, "link")} {
		if !strings.Contains(warn.String(), want) {
			t.Errorf("warnings %q lack %q", warn.String(), want)
		}
	}

	// Names outside the requested path mean a corrupt (or hostile) stream.
	err := untar(tarOf(t, tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}), "data", dest, &warn)
	if err == nil || !strings.Contains(err.Error(), "tar contents corrupted") {
		t.Errorf("entry outside the prefix: %v", err)
	}
}

func TestUntarSingleFileIntoDirectory(t *testing.T) {
	dest := t.TempDir()
	if err := untar(tarOf(t, tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644}), "etc/hostname", dest, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "hostname")); err != nil || string(b) != "etc/hostname" {
		t.Errorf("got %q %v", b, err)
	}
}
