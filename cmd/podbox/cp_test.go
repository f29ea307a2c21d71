package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// withUmask runs the test under umask 022, restoring the previous one; no
// test of this package runs in parallel, so the process-wide change is safe.
func withUmask(t *testing.T) {
	t.Helper()
	old := unix.Umask(0o022)
	t.Cleanup(func() { unix.Umask(old) })
}

func perm(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// An existing destination keeps its mode, as with kubectl cp: copying a
// world-writable directory out of a pod into a private one must not open it.
func TestUntarKeepsModeOfExistingDirectories(t *testing.T) {
	withUmask(t)
	dest := t.TempDir()
	if err := os.Chmod(dest, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dest, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	stream := tarOf(t,
		tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
		tar.Header{Name: "tmp/sub/", Typeflag: tar.TypeDir, Mode: 0o777},
		tar.Header{Name: "tmp/sub/f", Typeflag: tar.TypeReg, Mode: 0o644},
	)
	if err := untar(stream, "tmp", dest, os.Stderr); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dest, filepath.Join(dest, "sub")} {
		if got := perm(t, p); got != 0o700 {
			t.Errorf("%s: mode %04o, want its own 0700 kept", p, got)
		}
	}
}

// What cp creates gets the container's mode less the user's umask (as tar
// extracting as a user does), never group or world write it did not allow.
func TestUntarCreatedModesFollowUmask(t *testing.T) {
	withUmask(t)
	dest := filepath.Join(t.TempDir(), "new")
	stream := tarOf(t,
		tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o777},
		tar.Header{Name: "tmp/d/", Typeflag: tar.TypeDir, Mode: 0o777},
		tar.Header{Name: "tmp/f", Typeflag: tar.TypeReg, Mode: 0o666},
		tar.Header{Name: "tmp/x", Typeflag: tar.TypeReg, Mode: 0o750},
		tar.Header{Name: "tmp/implied/f", Typeflag: tar.TypeReg, Mode: 0o600},
	)
	if err := untar(stream, "tmp", dest, os.Stderr); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		"": 0o755, "d": 0o755, "f": 0o644, "x": 0o750, "implied": 0o755, "implied/f": 0o600,
	} {
		if got := perm(t, filepath.Join(dest, p)); got != want {
			t.Errorf("%q: mode %04o, want %04o", p, got, want)
		}
	}
}

// An existing file is overwritten in place and keeps its mode (kubectl).
func TestUntarKeepsModeOfExistingFiles(t *testing.T) {
	withUmask(t)
	dest := t.TempDir()
	f := filepath.Join(dest, "f")
	if err := os.WriteFile(f, []byte("old content, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	stream := tarOf(t, tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "tmp/f", Typeflag: tar.TypeReg, Mode: 0o666})
	if err := untar(stream, "tmp", dest, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); string(b) != "tmp/f" {
		t.Errorf("content %q, want the container's", b)
	}
	if got := perm(t, f); got != 0o600 {
		t.Errorf("mode %04o, want the existing 0600 kept", got)
	}
}

// A symbolic link already in the destination (the user's, or anything the
// stream could not have made) is not followed out of it: the container
// names the entries, so it could aim at any such link.
func TestUntarDoesNotWriteThroughSymlinksOutOfDest(t *testing.T) {
	dest, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dest, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(outside)+"/../"+filepath.Base(outside), filepath.Join(dest, "rel")); err != nil {
		t.Fatal(err)
	}
	stream := tarOf(t,
		tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "tmp/sub/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "tmp/sub/d/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "tmp/rel/evil2", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "tmp/ok", Typeflag: tar.TypeReg, Mode: 0o644},
	)
	var warn bytes.Buffer
	if err := untar(stream, "tmp", dest, &warn); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("cp wrote %v outside the destination through a symlink", ents)
	}
	if _, err := os.Stat(filepath.Join(dest, "ok")); err != nil {
		t.Errorf("the well-behaved entry after the refused ones: %v", err)
	}
	if !strings.Contains(warn.String(), "outside target destination") {
		t.Errorf("warnings %q do not name the refused entries", warn.String())
	}
}

// CVE-2019-1002101 / CVE-2019-11251: a symlink in the stream, then entries
// through it. The link is skipped, so the later entries land in a real
// directory inside the destination.
func TestUntarSymlinkThenFileThroughIt(t *testing.T) {
	dir := t.TempDir()
	dest, outside := filepath.Join(dir, "dest"), filepath.Join(dir, "outside")
	if err := os.Mkdir(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	stream := tarOf(t,
		tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "tmp/l", Typeflag: tar.TypeSymlink, Linkname: outside},
		tar.Header{Name: "tmp/l/f", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "tmp/r", Typeflag: tar.TypeSymlink, Linkname: "../outside"},
		tar.Header{Name: "tmp/r/g", Typeflag: tar.TypeReg, Mode: 0o644},
	)
	if err := untar(stream, "tmp", dest, io.Discard); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("cp wrote %v outside the destination", ents)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "l")); err != nil || !fi.IsDir() {
		t.Errorf("dest/l should be a directory: %v %v", fi, err)
	}
}

// A name that is absolute or climbs with .. stays inside the destination
// or is skipped, whatever the prefix.
func TestUntarAbsoluteAndDotDotNames(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "dest")
	stream := tarOf(t,
		tar.Header{Name: "/abs", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "../up", Typeflag: tar.TypeReg, Mode: 0o644},
		tar.Header{Name: "a/../../up2", Typeflag: tar.TypeReg, Mode: 0o644},
	)
	var warn bytes.Buffer
	if err := untar(stream, "", dest, &warn); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dest, "abs")); err != nil {
		t.Errorf("/abs should land at dest/abs: %v", err)
	}
	for _, p := range []string{"up", "up2"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s was written outside the destination", p)
		}
	}
}

// A FIFO at an entry's place would block the copy forever if opened for
// writing; it is refused instead.
func TestUntarDoesNotBlockOnFIFO(t *testing.T) {
	dest := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dest, "f"), 0o600); err != nil {
		t.Fatal(err)
	}
	stream := tarOf(t, tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "tmp/f", Typeflag: tar.TypeReg, Mode: 0o644})
	done := make(chan error, 1)
	go func() { done <- untar(stream, "tmp", dest, io.Discard) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("got %v, want a refusal of the FIFO", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("untar blocked on a FIFO in the destination")
	}
}
