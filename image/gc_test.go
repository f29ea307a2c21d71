package image

import (
	"errors"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func blobCount(t *testing.T, s *Store) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestLeasesRemovePruneGC: a leased image cannot be removed or pruned, and
// keeps its blobs and tree even when its reference is re-pulled to another
// image; once released, prune and GC leave an empty store.
func TestLeasesRemovePruneGC(t *testing.T) {
	s := openStore(t)
	a, err := s.Put("app:v1", testImage(t, layer(t, file("a", "1"))))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put("other/b@sha256:"+strings.Repeat("0", 64), testImage(t, layer(t, file("b", "2"))))
	if err != nil {
		t.Fatal(err)
	}
	treeA, err := s.Rootfs(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Lease("default/web", a.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Lease("default/absent", b.ID, testImageID(t)); !errors.Is(err, ErrNotFound) {
		t.Errorf("lease of an unknown image: %v, want ErrNotFound", err)
	}
	leases, err := s.Leases()
	if err != nil || len(leases) != 1 || leases[0].Holder != "default/web" || len(leases[0].Images) != 1 || leases[0].Images[0] != a.ID {
		t.Fatalf("Leases = %+v, %v", leases, err)
	}

	_, err = s.RemoveImage("app:v1")
	var inUse *InUseError
	if !errors.As(err, &inUse) || err.Error() != `image "app:v1" is in use by pod default/web: delete the pod first` {
		t.Errorf("rmi of a leased image: %v", err)
	}
	if _, err := s.RemoveImage(a.ID.Hex[:8]); !errors.As(err, &inUse) {
		t.Errorf("rmi by ID of a leased image: %v", err)
	}
	// Prune (untagged only) removes b, not a; prune -a still keeps a.
	removed, err := s.Prune(false)
	if err != nil || len(removed) != 1 || removed[0].ID != b.ID {
		t.Errorf("Prune(false) = %v, %v; want just %s", removed, err, b.Ref)
	}
	if removed, err := s.Prune(true); err != nil || len(removed) != 0 {
		t.Errorf("Prune(true) removed %v, %v; want nothing (leased)", removed, err)
	}

	// Pulling a new image to the leased reference leaves the old one leased.
	a2, err := s.Put("app:v1", testImage(t, layer(t, file("a", "new"))))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.GC()
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs == 0 || res.Trees != 0 {
		t.Errorf("GC after prune removed %+v; want b's blobs and no tree", res)
	}
	for _, h := range append(a.Layers, a.ID, a.Digest) {
		if _, err := os.Stat(s.blobPath(h)); err != nil {
			t.Errorf("leased image lost blob %s: %v", h, err)
		}
	}
	if _, err := os.Stat(filepath.Join(treeA, "a")); err != nil {
		t.Errorf("leased tree removed: %v", err)
	}

	// Released: everything can go.
	if err := s.Release("default/web"); err != nil {
		t.Fatal(err)
	}
	if err := s.Release("default/web"); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if refs, err := s.RemoveImage("sha256:" + a2.ID.Hex[:10]); err != nil || len(refs) != 1 || refs[0] != "docker.io/library/app:v1" {
		t.Errorf("rmi by ID = %v, %v", refs, err)
	}
	if _, err := s.RemoveImage("app:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rmi of a removed image: %v", err)
	}
	if res, err = s.GC(); err != nil || res.Trees != 1 || res.Pending != 0 {
		t.Errorf("GC = %+v, %v; want a's tree removed", res, err)
	}
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs left after removing every image", n)
	}
	if _, err := os.Stat(treeA); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tree of a removed image still there: %v", err)
	}
}

func testImageID(t *testing.T) v1.Hash {
	img := testImage(t, layer(t, file("never", "stored")))
	id, _ := img.ConfigName()
	return id
}

func TestVerifyRepairs(t *testing.T) {
	s := openStore(t)
	good, err := s.Put("good:v1", testImage(t, layer(t, file("g", "good"))))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := s.Put("bad:v1", testImage(t, layer(t, file("b", "bad"))))
	if err != nil {
		t.Fatal(err)
	}
	goodTree, err := s.Rootfs(good)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify()
	if err != nil || len(rep.Problems) != 0 || rep.Blobs != 6 || rep.Trees != 1 {
		t.Fatalf("Verify of a sound store: %+v, %v", rep, err)
	}
	// Damage: a corrupt layer blob and a tree missing a file.
	if err := os.WriteFile(s.blobPath(bad.Layers[0]), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(goodTree, "g")); err != nil {
		t.Fatal(err)
	}
	rep, err = s.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 3 {
		t.Errorf("Verify problems %q, want the corrupt blob, the broken reference and the incomplete tree", rep.Problems)
	}
	if _, err := s.Lookup("bad:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("reference with a corrupt layer kept: %v", err)
	}
	if _, err := os.Stat(goodTree); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("incomplete tree kept: %v", err)
	}
	// Repaired: the tree is unpacked again on next use.
	if tree, err := s.Rootfs(good); err != nil || readFile(t, filepath.Join(tree, "g")) != "good" {
		t.Errorf("Rootfs after repair: %v", err)
	}
	if rep, err := s.Verify(); err != nil || len(rep.Problems) != 0 {
		t.Errorf("Verify after repair: %+v, %v", rep, err)
	}
}

func TestUnpackSizeBounds(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "images"), WithMaxUnpackedSize(64<<10, 100<<10))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("\x00", 80<<10) // compresses to a few hundred bytes
	img, err := s.Put("bomb:v1", testImage(t, layer(t, file("zeros", big))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rootfs(img); err == nil || !strings.Contains(err.Error(), "decompression bomb") {
		t.Errorf("unpack of an 80 KiB layer with a 64 KiB limit: %v", err)
	}
	// Two layers under the per-layer limit but over the per-image one.
	half := strings.Repeat("\x00", 60<<10)
	img, err = s.Put("bomb:v2", testImage(t, layer(t, file("z1", half)), layer(t, file("z2", half))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rootfs(img); err == nil || !strings.Contains(err.Error(), "per-image") {
		t.Errorf("unpack beyond the per-image limit: %v", err)
	}
	small, err := s.Put("fine:v1", testImage(t, layer(t, file("z", half))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rootfs(small); err != nil {
		t.Errorf("unpack within limits: %v", err)
	}
}
