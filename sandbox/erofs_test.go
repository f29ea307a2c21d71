package sandbox

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gvisor.dev/gvisor/pkg/erofs"
)

// TestWriteErofsReadByGVisor checks the image with the reader the sentry
// mounts it with (gVisor's pkg/erofs): names, types, modes, link counts
// and contents.
func TestWriteErofsReadByGVisor(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes: 4 blocks, a partial last one
	path := filepath.Join(t.TempDir(), "img.erofs")
	err := WriteErofsFile(path, []ErofsFile{
		{Path: "pause", Mode: 0o755, Data: big},
		{Path: "dev", Mode: 0o755, Dir: true},
		{Path: "etc/hostname", Mode: 0o644, Data: []byte("pod\n")},
		{Path: "empty", Mode: 0o600},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := erofs.OpenImage(f)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	root, err := img.Inode(img.RootNid())
	if err != nil {
		t.Fatal(err)
	}
	if !root.IsDir() || root.Nlink() != 4 {
		t.Fatalf("root: dir %v nlink %d, want a directory with 4 links", root.IsDir(), root.Nlink())
	}
	var names []string
	if err := root.IterDirents(func(name string, typ uint8, nid uint64) error {
		names = append(names, name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{".", "..", "dev", "empty", "etc", "pause"}
	if !sort.StringsAreSorted(names) || len(names) != len(want) {
		t.Fatalf("root entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("root entries %q, want %q", names, want)
		}
	}
	read := func(dir erofs.Inode, name string) (erofs.Inode, []byte) {
		t.Helper()
		nid, err := dir.Lookup(name)
		if err != nil {
			t.Fatalf("lookup %s: %v", name, err)
		}
		ino, err := img.Inode(nid)
		if err != nil {
			t.Fatal(err)
		}
		if ino.IsDir() {
			return ino, nil
		}
		ranges, err := ino.DataRanges()
		if err != nil {
			t.Fatal(err)
		}
		return ino, append(ranges[0].Bytes, ranges[1].Bytes...)
	}
	pause, data := read(root, "pause")
	if !pause.IsRegular() || pause.Mode()&0o7777 != 0o755 || !bytes.Equal(data, big) {
		t.Fatalf("pause: regular %v mode %o, %d bytes; want 0755 and the %d bytes written", pause.IsRegular(), pause.Mode(), len(data), len(big))
	}
	if off, err := pause.DataOffset(); err != nil || off%4096 != 0 {
		t.Fatalf("pause data at %d (%v), want a block boundary: the sentry maps executables from the image", off, err)
	}
	etc, _ := read(root, "etc")
	if !etc.IsDir() {
		t.Fatal("etc is not a directory")
	}
	if _, data := read(etc, "hostname"); string(data) != "pod\n" {
		t.Fatalf("etc/hostname = %q", data)
	}
	if empty, data := read(root, "empty"); empty.Size() != 0 || len(data) != 0 || empty.Mode()&0o7777 != 0o600 {
		t.Fatalf("empty: size %d mode %o", empty.Size(), empty.Mode())
	}
	if _, err := root.Lookup("missing"); err == nil {
		t.Fatal("lookup of a missing name succeeded")
	}
}

func TestWriteErofsRejectsBadPaths(t *testing.T) {
	for _, files := range [][]ErofsFile{
		{{Path: "../x"}},
		{{Path: "/abs"}},
		{{Path: "a"}, {Path: "a"}},
		{{Path: "f", Data: []byte("x")}, {Path: "f/g"}},
	} {
		if err := WriteErofs(&bytes.Buffer{}, files); err == nil {
			t.Errorf("%+v: no error", files)
		}
	}
}

// TestPauseSpecWithRootfsImage: the pause spec names the image the way
// runsc's rootfs hints expect, read-only (no overlay, no gofer).
func TestPauseSpecWithRootfsImage(t *testing.T) {
	s := PauseSpec(Pod{ID: "abc", Name: "p", Namespace: "default", UID: "u"}, "/run/pause-rootfs")
	WithRootfsImage(s, "/run/pause-rootfs.erofs")
	if s.Annotations["dev.gvisor.spec.rootfs.source"] != "/run/pause-rootfs.erofs" || s.Annotations["dev.gvisor.spec.rootfs.type"] != "erofs" {
		t.Fatalf("annotations %v", s.Annotations)
	}
	if !s.Root.Readonly || s.Root.Path != "/run/pause-rootfs" {
		t.Fatalf("root %+v, want the directory path kept and read-only", s.Root)
	}
	if len(s.Mounts) != len(defaultMounts()) {
		t.Fatalf("%d mounts: a bind mount would bring the gofer back", len(s.Mounts))
	}
	for _, f := range PauseImage([]byte("x")) {
		if f.Dir {
			continue
		}
		if f.Path != "pause" {
			t.Fatalf("unexpected file %q in the pause image", f.Path)
		}
	}
}
