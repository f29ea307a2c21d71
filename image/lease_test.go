package image

import (
	"os"
	"testing"
)

// TestLeaseAgainWritesNothing: every container of a pod leases its image;
// when the lease is already held, neither the lease file nor the index is
// rewritten (each rewrite is an fsync on the start path of a container).
func TestLeaseAgainWritesNothing(t *testing.T) {
	s := openStore(t)
	a, err := s.Put("app:v1", testImage(t, layer(t, file("a", "1"))))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put("app:v2", testImage(t, layer(t, file("b", "2"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Lease("default/web", a.ID); err != nil {
		t.Fatal(err)
	}
	stat := func(path string) os.FileInfo {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	lease, index := stat(s.leasePath("default/web")), stat(s.indexPath())
	if err := s.Lease("default/web", a.ID); err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(lease, stat(s.leasePath("default/web"))) || !os.SameFile(index, stat(s.indexPath())) {
		t.Error("leasing a held image again rewrote the lease file or the index")
	}
	// A new image is still added, and kept with the first.
	if err := s.Lease("default/web", a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	if os.SameFile(lease, stat(s.leasePath("default/web"))) {
		t.Error("a lease of a further image was not written")
	}
	if !os.SameFile(index, stat(s.indexPath())) {
		t.Error("a lease rewrote the index")
	}
	leases, err := s.Leases()
	if err != nil || len(leases) != 1 || len(leases[0].Images) != 2 {
		t.Fatalf("Leases = %+v, %v; want one holder with both images", leases, err)
	}
	if err := s.Release("default/web"); err != nil {
		t.Fatal(err)
	}
	if leases, err := s.Leases(); err != nil || len(leases) != 0 {
		t.Fatalf("after Release: %+v, %v", leases, err)
	}
}
