package image

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertGone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: want it absent, Lstat gave %v", p, err)
	}
}

func TestUnpackLayers(t *testing.T) {
	s := openStore(t)
	l1 := layer(t,
		dir("etc/", 0o755),
		file("etc/keep", "keep"),
		file("etc/gone", "gone"),
		dir("etc/sub/", 0o755),
		file("etc/sub/deep", "deep"),
		dir("opq/", 0o755),
		file("opq/old", "old"),
		dir("opq/kept/", 0o755),
		file("opq/kept/old", "old"),
		file("data", "v1"),
		hardlink("data-link", "data"),
		file("target", "t"),
		hardlink("target-link", "target"),
		dir("bin/", 0o755),
		regMode("bin/busybox", 0o755),
		symlink("bin/sh", "busybox"),
		symlink("bin/abs", "/bin/busybox"),
		regMode("bin/suid", 0o4755|0o2000),
		dir("ro/", 0o555),
		file("ro/a", "a"),
		dir("tmp/", 0o1777),
		fifo("dev-fifo"),
		file("replaced-by-dir", "f"),
	)
	l2 := layer(t,
		whiteout("etc/.wh.gone"),
		whiteout("etc/.wh.sub"),
		file("opq/new", "new"),
		dir("opq/kept/", 0o755),
		file("opq/kept/new", "new"),
		whiteout("opq/.wh..wh..opq"),
		file("data", "v2"),           // the hard link keeps the old inode
		whiteout(".wh.target"),       // the hard link keeps the content
		file("ro/b", "b"),            // inside a 0555 dir of a lower layer
		file("bin/sh", "not a link"), // replaces the symlink, not its target
		dir("replaced-by-dir/", 0o700),
		file("etc/.wh.added-here", ""),
	)
	// A whiteout in the same layer as its target must not hide it (OCI spec).
	l3 := layer(t,
		file("same", "same"),
		whiteout(".wh.same"),
	)
	root, err := unpack(t, s, l1, l2, l3)
	if err != nil {
		t.Fatal(err)
	}

	if got := readFile(t, filepath.Join(root, "etc/keep")); got != "keep" {
		t.Errorf("etc/keep = %q", got)
	}
	assertGone(t, filepath.Join(root, "etc/gone"))
	assertGone(t, filepath.Join(root, "etc/sub"))
	assertGone(t, filepath.Join(root, "etc/.wh.gone"))
	assertGone(t, filepath.Join(root, "opq/old"))
	assertGone(t, filepath.Join(root, "opq/kept/old"))
	assertGone(t, filepath.Join(root, "opq/.wh..wh..opq"))
	if got := readFile(t, filepath.Join(root, "opq/new")); got != "new" {
		t.Errorf("opq/new = %q", got)
	}
	if got := readFile(t, filepath.Join(root, "opq/kept/new")); got != "new" {
		t.Errorf("opq/kept/new = %q", got)
	}
	if got := readFile(t, filepath.Join(root, "data")); got != "v2" {
		t.Errorf("data = %q", got)
	}
	if got := readFile(t, filepath.Join(root, "data-link")); got != "v1" {
		t.Errorf("data-link = %q, want the content the link had when created", got)
	}
	assertGone(t, filepath.Join(root, "target"))
	if got := readFile(t, filepath.Join(root, "target-link")); got != "t" {
		t.Errorf("target-link = %q", got)
	}
	if got := readFile(t, filepath.Join(root, "same")); got != "same" {
		t.Errorf("same = %q: a whiteout hid an entry of its own layer", got)
	}
	if got := readFile(t, filepath.Join(root, "bin/sh")); got != "not a link" {
		t.Errorf("bin/sh = %q", got)
	}
	if got := readFile(t, filepath.Join(root, "bin/busybox")); got != "x" {
		t.Errorf("bin/busybox = %q: the symlink was written through", got)
	}
	if l, err := os.Readlink(filepath.Join(root, "bin/abs")); err != nil || l != "/bin/busybox" {
		t.Errorf("bin/abs -> %q, %v", l, err)
	}
	if got := readFile(t, filepath.Join(root, "ro/b")); got != "b" {
		t.Errorf("ro/b = %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(root, "replaced-by-dir")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("replaced-by-dir: %v %v", fi, err)
	}
	assertGone(t, filepath.Join(root, "dev-fifo"))

	modes := map[string]fs.FileMode{
		"ro":        fs.ModeDir | 0o555,
		"tmp":       fs.ModeDir | fs.ModeSticky | 0o777,
		"bin/suid":  fs.ModeSetuid | fs.ModeSetgid | 0o755,
		"etc":       fs.ModeDir | 0o755,
		"etc/keep":  0o644,
		"bin/sh":    0o644,
		"bin/abs":   fs.ModeSymlink | 0o777,
		"data-link": 0o644,
	}
	for p, want := range modes {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	for _, p := range []string{"etc", "etc/keep", "ro"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err == nil && !fi.ModTime().Equal(testMtime) {
			t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), testMtime)
		}
	}
	// data was replaced by a new inode; data-link keeps the old one (which
	// the snapshot of the first layer shares).
	a, _ := os.Stat(filepath.Join(root, "data-link"))
	d, _ := os.Stat(filepath.Join(root, "data"))
	if a == nil || d == nil || os.SameFile(a, d) {
		t.Errorf("data-link: want another inode than data after data was replaced")
	}

	// The tree can be removed although it contains 0555 directories.
	if err := RemoveTree(root); err != nil {
		t.Fatal(err)
	}
	assertGone(t, root)
}

func TestUnpackHardLinkSameLayer(t *testing.T) {
	s := openStore(t)
	root, err := unpack(t, s, layer(t, file("a", "a"), hardlink("b", "a"), hardlink("./c", "./a")))
	if err != nil {
		t.Fatal(err)
	}
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "a"), &sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join(root, "c"), &sb); err != nil {
		t.Fatal(err)
	}
	if sa.Ino != sb.Ino || sa.Nlink != 3 {
		t.Errorf("a and c are not the same inode with 3 links: %d/%d nlink %d", sa.Ino, sb.Ino, sa.Nlink)
	}
}

// TestUnpackEscapes tries every known way for a layer to reach outside the
// root, and checks each is refused and leaves the outside untouched.
func TestUnpackEscapes(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(outside, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", 40) // enough to reach / from any temp dir
	rel := up + strings.TrimPrefix(outside, "/")

	cases := map[string][]ent{
		"dotdot":                 {file("../x", "x")},
		"dotdot-inner":           {file("a/../../x", "x")},
		"absolute":               {file(filepath.Join(outside, "new"), "x")},
		"absolute-dir":           {dir(outside+"/newdir/", 0o755)},
		"write-through-abs-link": {symlink("evil", outside), file("evil/new", "x")},
		"write-through-rel-link": {symlink("evil", rel), file("evil/new", "x")},
		"overwrite-through-link": {symlink("evil", outside), file("evil/victim", "pwned")},
		"mkdir-through-link":     {symlink("evil", outside), dir("evil/newdir/", 0o755)},
		"symlink-through-link":   {symlink("evil", outside), symlink("evil/newlink", "/etc/passwd")},
		"hardlink-through-link":  {file("f", "f"), symlink("evil", outside), hardlink("evil/new", "f")},
		"symlink-dir-chain":      {symlink("a", "b"), symlink("b", "c"), dir("c/", 0o755), symlink("c/x", rel), file("a/x/new", "x")},
		"chain-abs":              {symlink("a", "b"), symlink("b", outside), file("a/new", "x")},
		"hardlink-dotdot":        {hardlink("x", "../victim")},
		"hardlink-abs":           {hardlink("x", filepath.Join(outside, "victim"))},
		"hardlink-via-link":      {symlink("evil", outside), hardlink("x", "evil/victim")},
		"whiteout-through-link":  {symlink("evil", outside), whiteout("evil/.wh.victim")},
		"opaque-through-link":    {symlink("evil", outside), whiteout("evil/.wh..wh..opq")},
		"whiteout-dotdot":        {whiteout("../.wh.victim")},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			before := snapshot(t, outside)
			s := openStore(t)
			storeBefore := snapshot(t, filepath.Join(s.Root(), "rootfs"))
			// Split the entries over two layers too: an escape must be
			// caught whether the link comes from a lower layer or not.
			for _, split := range []bool{false, true} {
				ls := entries
				var root string
				var err error
				if split && len(ls) > 1 {
					root, err = unpack(t, s, layer(t, ls[:len(ls)-1]...), layer(t, ls[len(ls)-1]))
				} else {
					root, err = unpack(t, s, layer(t, ls...))
				}
				if err == nil {
					t.Fatalf("unpack succeeded into %s; want it refused", root)
				}
				if !errors.Is(err, ErrUnsafeEntry) {
					t.Errorf("error %q does not wrap ErrUnsafeEntry", err)
				}
				last := ls[len(ls)-1].name
				if !strings.Contains(err.Error(), "layer sha256:") || !strings.Contains(err.Error(), last) {
					t.Errorf("error %q does not name the layer and the entry %q", err, last)
				}
			}
			if after := snapshot(t, outside); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("outside changed:\nbefore %q\nafter  %q", before, after)
			}
			if after := snapshot(t, filepath.Join(s.Root(), "rootfs")); !onlyLocks(before, storeBefore, after) {
				t.Errorf("rootfs/ has leftovers: %q", after)
			}
			// Snapshots of the harmless lower layer may stay (GC collects
			// them); nothing of the refused layer may.
			for _, e := range snapshot(t, filepath.Join(s.Root(), "snapshots")) {
				if strings.HasPrefix(e, ".tmp-") {
					t.Errorf("snapshots/ has a leftover: %q", e)
				}
			}
			if got := readFile(t, filepath.Join(outside, "victim")); got != "original" {
				t.Errorf("victim = %q", got)
			}
		})
	}
}

// onlyLocks reports whether after differs from before only by lock files.
func onlyLocks(_, before, after []string) bool {
	n := 0
	for _, a := range after {
		if !strings.Contains(strings.Fields(a)[0], ".lock") {
			n++
		}
	}
	return n == len(before)
}

func TestRemoveTreeReadOnlyDirs(t *testing.T) {
	d := filepath.Join(t.TempDir(), "tree")
	if err := os.MkdirAll(filepath.Join(d, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "a/b/f"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/b", "a", ""} {
		if err := os.Chmod(filepath.Join(d, p), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveTree(d); err != nil {
		t.Fatal(err)
	}
	assertGone(t, d)
}
