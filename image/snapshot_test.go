package image

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Lstat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Lstat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

// TestSharedLayersUnpackedOnce: two images on one base layer read the base
// layer's blob once and share its files' inodes; what the upper layers change
// (content, mode, hard-linked names, whiteouts, directory modes) never
// reaches the base or the other image.
func TestSharedLayersUnpackedOnce(t *testing.T) {
	s := openStore(t)
	var mu sync.Mutex
	opens := map[v1.Hash]int{}
	s.layerOpened = func(h v1.Hash) {
		mu.Lock()
		opens[h]++
		mu.Unlock()
	}
	base := layer(t,
		dir("etc/", 0o755),
		file("etc/conf", "base"),
		file("etc/gone", "gone"),
		regMode("bin-tool", 0o644),
		file("data", "v1"),
		hardlink("data-link", "data"),
		regMode("suid", 0o4755),
		dir("ro/", 0o555),
		file("ro/f", "ro"),
		symlink("sh", "/bin/busybox"),
	)
	la := layer(t, file("a-only", "a"))
	lb := layer(t,
		file("etc/conf", "changed by b"),
		whiteout("etc/.wh.gone"),
		regMode("bin-tool", 0o755), // a chmod in a Dockerfile: the file again
		file("data", "v2"),
		dir("ro/", 0o700),
		hardlink("ro-link", "ro/f"),
	)
	a, err := s.Put("a:v1", testImage(t, base, la))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put("b:v1", testImage(t, base, lb))
	if err != nil {
		t.Fatal(err)
	}
	ra, err := s.Rootfs(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := s.Rootfs(b)
	if err != nil {
		t.Fatal(err)
	}
	if ra == rb {
		t.Fatalf("both images unpacked to %s", ra)
	}
	baseDigest := a.Layers[0]
	if opens[baseDigest] != 1 || opens[a.Layers[1]] != 1 || opens[b.Layers[1]] != 1 {
		t.Errorf("layer blob opens %v; want each layer once, the shared base %s too", opens, baseDigest)
	}
	_, chain, err := s.chainOf(a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	baseSnap := s.snapshotPath(chain[0].chain)

	// Unchanged files of the base are one inode in both images and the base.
	for _, p := range []string{"ro/f", "suid", "data-link"} {
		if !sameFile(t, filepath.Join(ra, p), filepath.Join(rb, p)) || !sameFile(t, filepath.Join(ra, p), filepath.Join(baseSnap, p)) {
			t.Errorf("%s: not shared between the images", p)
		}
	}
	if !sameFile(t, filepath.Join(rb, "ro-link"), filepath.Join(ra, "ro/f")) {
		t.Errorf("ro-link: a hard link of an upper layer to a base file is not that file")
	}
	// What b changed is b's own.
	for _, p := range []string{"etc/conf", "bin-tool", "data"} {
		if sameFile(t, filepath.Join(ra, p), filepath.Join(rb, p)) {
			t.Errorf("%s: b's version shares a's inode", p)
		}
	}
	for root, want := range map[string]string{ra: "base", rb: "changed by b", baseSnap: "base"} {
		if got := readFile(t, filepath.Join(root, "etc/conf")); got != want {
			t.Errorf("%s/etc/conf = %q, want %q", root, got, want)
		}
	}
	for root, want := range map[string]string{ra: "v1", rb: "v2", baseSnap: "v1"} {
		if got := readFile(t, filepath.Join(root, "data")); got != want {
			t.Errorf("%s/data = %q, want %q", root, got, want)
		}
		if got := readFile(t, filepath.Join(root, "data-link")); got != "v1" {
			t.Errorf("%s/data-link = %q", root, got)
		}
	}
	assertGone(t, filepath.Join(rb, "etc/gone"))
	assertGone(t, filepath.Join(rb, "a-only"))
	if got := readFile(t, filepath.Join(ra, "etc/gone")); got != "gone" {
		t.Errorf("a's etc/gone = %q: b's whiteout reached it", got)
	}
	modes := []struct {
		root, p string
		want    fs.FileMode
	}{
		{ra, "bin-tool", 0o644}, {rb, "bin-tool", 0o755}, {baseSnap, "bin-tool", 0o644},
		{ra, "ro", fs.ModeDir | 0o555}, {rb, "ro", fs.ModeDir | 0o700}, {baseSnap, "ro", fs.ModeDir | 0o555},
		{ra, "suid", fs.ModeSetuid | 0o755}, {rb, "suid", fs.ModeSetuid | 0o755},
		{ra, "sh", fs.ModeSymlink | 0o777}, {ra, ".", fs.ModeDir | 0o755},
	}
	for _, m := range modes {
		fi, err := os.Lstat(filepath.Join(m.root, m.p))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != m.want {
			t.Errorf("%s/%s: mode %v, want %v", m.root, m.p, fi.Mode(), m.want)
		}
	}
	for _, root := range []string{ra, rb} {
		if fi, err := os.Lstat(filepath.Join(root, "etc")); err != nil || !fi.ModTime().Equal(testMtime) {
			t.Errorf("%s/etc: mtime %v, %v; want the layer's", root, fi.ModTime(), err)
		}
	}
	if l, err := os.Readlink(filepath.Join(rb, "sh")); err != nil || l != "/bin/busybox" {
		t.Errorf("b's sh -> %q, %v", l, err)
	}

	// A third image with both of a's layers shares a's whole tree.
	c, err := s.Put("c:v1", testImage(t, base, la))
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := s.Rootfs(c); err != nil || rc != ra {
		t.Errorf("Rootfs of an image with a's layers = %q, %v; want %s", rc, err, ra)
	}
	if opens[baseDigest] != 1 {
		t.Errorf("base opened %d times", opens[baseDigest])
	}

	// Verify checks all three snapshots; GC keeps the base while b uses it.
	if rep, err := s.Verify(); err != nil || len(rep.Problems) != 0 || rep.Trees != 3 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	if _, err := s.RemoveImage("a:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveImage("c:v1"); err != nil {
		t.Fatal(err)
	}
	if res, err := s.GC(); err != nil || res.Trees != 1 {
		t.Errorf("GC = %+v, %v; want a's top snapshot removed", res, err)
	}
	assertGone(t, ra)
	assertGone(t, filepath.Join(s.Root(), "rootfs", a.ID.Hex))
	if got := readFile(t, filepath.Join(rb, "ro/f")); got != "ro" {
		t.Errorf("b lost ro/f: %q", got)
	}
	if !isDir(baseSnap) {
		t.Error("GC removed the base snapshot b is built on")
	}
	// A lease keeps b's snapshots after its reference is gone.
	if err := s.Lease("default/b", b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveImage("b:v1"); err == nil {
		t.Fatal("removed a leased image")
	}
	if res, err := s.GC(); err != nil || res.Trees != 0 {
		t.Errorf("GC with b leased = %+v, %v", res, err)
	}
	if err := s.Release("default/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveImage("b:v1"); err != nil {
		t.Fatal(err)
	}
	if res, err := s.GC(); err != nil || res.Trees != 2 {
		t.Errorf("GC = %+v, %v; want b's two snapshots removed", res, err)
	}
	left, _ := os.ReadDir(filepath.Join(s.Root(), "snapshots"))
	left2, _ := os.ReadDir(filepath.Join(s.Root(), "rootfs"))
	if len(left)+len(left2) != 0 {
		t.Errorf("left after removing every image: %v %v", left, left2)
	}
}

// TestSnapshotCrashLeftovers: a temporary snapshot of a crashed unpack is
// removed by the next unpack of that chain, and by GC.
func TestSnapshotCrashLeftovers(t *testing.T) {
	s := openStore(t)
	img, err := s.Put("x:v1", testImage(t, layer(t, file("f", "f"))))
	if err != nil {
		t.Fatal(err)
	}
	_, chain, err := s.chainOf(img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(s.Root(), "snapshots", ".tmp-"+chain[0].chain.Hex+"-123")
	other := filepath.Join(s.Root(), "snapshots", ".tmp-"+strings.Repeat("ab", 32)+"-456")
	load := filepath.Join(s.Root(), "tmp", "load-789")
	for _, d := range []string{mine, other, load} {
		if err := os.MkdirAll(filepath.Join(d, "ro"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(d, "ro"), 0o555)
	}
	if _, err := s.Rootfs(img); err != nil {
		t.Fatal(err)
	}
	assertGone(t, mine)
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("another chain's temporary tree went: %v", err)
	}
	if _, err := s.GC(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, other)
	assertGone(t, load)
	if e, _ := os.ReadDir(filepath.Join(s.Root(), "trash")); len(e) != 0 {
		t.Errorf("trash not emptied: %v", e)
	}
}

// TestSnapshotDiffIDChecked: a layer whose content does not match the diff
// ID its config records must not become the snapshot of that chain, which
// other images would share.
func TestSnapshotDiffIDChecked(t *testing.T) {
	s := openStore(t)
	good := testImage(t, layer(t, file("f", "good")))
	stored, err := s.Put("good:v1", good)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := good.ConfigFile()
	// An image that claims the good layer's diff ID for other content.
	evil := testImage(t, layer(t, file("f", "evil")))
	ecf, _ := evil.ConfigFile()
	ecf = ecf.DeepCopy()
	ecf.RootFS.DiffIDs = cf.RootFS.DiffIDs
	evil = mustConfigFile(t, evil, ecf)
	e, err := s.Put("evil:v1", evil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rootfs(e); err == nil || !strings.Contains(err.Error(), "diff ID") {
		t.Fatalf("Rootfs of an image with a wrong diff ID: %v", err)
	}
	root, err := s.Rootfs(stored)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "f")); got != "good" {
		t.Errorf("f = %q", got)
	}
}

func TestRootfsNoLayers(t *testing.T) {
	s := openStore(t)
	img, err := s.Put("empty:v1", testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.Rootfs(img)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := os.ReadDir(root); err != nil || len(e) != 0 {
		t.Errorf("rootfs of an image without layers: %v, %v", e, err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "rootfs", img.ID.Hex)); errors.Is(err, fs.ErrNotExist) {
		t.Error("no rootfs/ link")
	}
}

func mustConfigFile(t *testing.T, img v1.Image, cf *v1.ConfigFile) v1.Image {
	t.Helper()
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
