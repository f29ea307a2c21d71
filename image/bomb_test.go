package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"podbox.dev/podbox/testdata/images"
)

// Tests of unpack and pull bombs: layers and registries that declare or send
// far more than they cost to make.

// tarBlock builds one 512-byte ustar header block.
func tarBlock(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", testMtime.Unix()))
	b[156] = typ
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// padBlock appends data to buf, padded to a multiple of 512 bytes.
func padBlock(buf *bytes.Buffer, data []byte) {
	buf.Write(data)
	if r := len(data) % 512; r != 0 {
		buf.Write(make([]byte, 512-r))
	}
}

// paxRecord formats one PAX record, whose length counts itself.
func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3
	for {
		s := fmt.Sprintf("%d %s=%s\n", n, k, v)
		if len(s) == n {
			return s
		}
		n = len(s)
	}
}

// sparseFrag is a data fragment of a sparse file; the rest is holes.
type sparseFrag struct {
	off  int64
	data []byte
}

// sparseTar is a tar stream of one PAX 1.0 (GNU tar --sparse --format=posix)
// sparse file, which archive/tar reads but cannot write: a PAX header with
// GNU.sparse.* records, then a regular entry whose data is the sparse map
// (in text, padded to a block) followed by the data fragments.
func sparseTar(name string, realSize int64, frags []sparseFrag) []byte {
	var body bytes.Buffer
	mapText := strconv.Itoa(len(frags)) + "\n"
	for _, f := range frags {
		mapText += fmt.Sprintf("%d\n%d\n", f.off, len(f.data))
	}
	padBlock(&body, []byte(mapText))
	for _, f := range frags {
		body.Write(f.data)
	}
	pax := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", strconv.FormatInt(realSize, 10))
	var out bytes.Buffer
	out.Write(tarBlock("PaxHeaders/"+filepath.Base(name), 'x', int64(len(pax))))
	padBlock(&out, []byte(pax))
	out.Write(tarBlock("GNUSparseFile.0/"+filepath.Base(name), '0', int64(body.Len())))
	padBlock(&out, body.Bytes())
	out.Write(make([]byte, 1024))
	return out.Bytes()
}

// rawLayer makes a gzip layer of the tar stream data.
func rawLayer(t testing.TB, data []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func openStoreWith(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveTree(s.Root()) })
	return s
}

// assertNoSnapshot fails if a failed unpack left a tree (final or
// temporary) in the store's snapshots directory.
func assertNoSnapshot(t *testing.T, s *Store) {
	t.Helper()
	ents, err := os.ReadDir(s.snapshotsDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("a failed unpack left the snapshot tree %s", e.Name())
		}
	}
}

func assertContains(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got success", want)
	}
	t.Log(err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
}

// TestUnpackSparseWrittenSparse: a sparse file's holes stay holes, so it
// costs its data only on disk, and its content reads back right.
func TestUnpackSparseWrittenSparse(t *testing.T) {
	s := openStore(t)
	const size = 256 << 20
	head := bytes.Repeat([]byte("h"), 4096)
	tail := bytes.Repeat([]byte("t"), 100)
	l := rawLayer(t, sparseTar("big.img", size, []sparseFrag{{0, head}, {size - 100, tail}}))
	root, err := unpack(t, s, l)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "big.img")
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Errorf("size %d, want %d", st.Size, size)
	}
	if used := st.Blocks * 512; used > 1<<20 {
		t.Errorf("the sparse file occupies %d bytes on disk for %d bytes of data: its holes were written", used, len(head)+len(tail))
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, 4096)
	for _, c := range []struct {
		off  int64
		want []byte
	}{{0, head}, {size - 100, tail}, {size / 2, make([]byte, 4096)}} {
		if _, err := f.ReadAt(got[:len(c.want)], c.off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:len(c.want)], c.want) {
			t.Errorf("content at %d differs", c.off)
		}
	}
}

// TestUnpackSparseOverLimitRefused: a sparse entry of a few KB declaring more
// than the layer may write is refused before anything is written, with an
// error naming the image, layer, entry and limit; no snapshot is left.
func TestUnpackSparseOverLimitRefused(t *testing.T) {
	s := openStoreWith(t, WithMaxUnpackedSize(64<<20, 128<<20))
	l := rawLayer(t, sparseTar("bomb", 256<<20, []sparseFrag{{0, []byte("x")}}))
	d, _ := l.Digest()
	_, err := unpack(t, s, l)
	assertContains(t, err, "test/unpack:latest", d.String(), `"bomb"`, "268435456 bytes", "per-layer limit of 67108864 bytes")
	assertNoSnapshot(t, s)
}

// TestUnpackSparse200GiBRefused is the measured attack: a 1.5 KB layer
// declaring a 200 GiB sparse file, under the default limits.
func TestUnpackSparse200GiBRefused(t *testing.T) {
	s := openStore(t)
	l := rawLayer(t, sparseTar("huge", 200<<30, []sparseFrag{{0, []byte("x")}, {200<<30 - 1, []byte("y")}}))
	_, err := unpack(t, s, l)
	assertContains(t, err, `"huge"`, "214748364800 bytes", "per-layer limit")
	assertNoSnapshot(t, s)
}

// TestUnpackManySparseEntriesBounded: the limit counts every file's size, so
// many sparse files each under the limit cannot add up to more.
func TestUnpackManySparseEntriesBounded(t *testing.T) {
	s := openStoreWith(t, WithMaxUnpackedSize(64<<20, 128<<20))
	var data []byte
	for i := range 5 {
		one := sparseTar(fmt.Sprintf("s%d", i), 20<<20, []sparseFrag{{0, []byte("x")}})
		data = append(data, one[:len(one)-1024]...) // drop the end-of-archive blocks
	}
	data = append(data, make([]byte, 1024)...)
	_, err := unpack(t, s, rawLayer(t, data))
	assertContains(t, err, `"s3"`, "per-layer limit of 67108864 bytes")
}

// TestUnpackDenseEntryNamed: an ordinary file over the limit is refused by
// name, from its header, before its content is written.
func TestUnpackDenseEntryNamed(t *testing.T) {
	s := openStoreWith(t, WithMaxUnpackedSize(1<<20, 2<<20))
	_, err := unpack(t, s, layer(t, file("small", "x"), file("zeros", string(make([]byte, 3<<20)))))
	assertContains(t, err, `"zeros"`, "3145728 bytes", "per-layer limit of 1048576 bytes")
	assertNoSnapshot(t, s)
}

// TestUnpackImageLimitAcrossLayers: the per-image limit counts the files of
// every layer of the chain.
func TestUnpackImageLimitAcrossLayers(t *testing.T) {
	s := openStoreWith(t, WithMaxUnpackedSize(8<<20, 10<<20))
	l1 := rawLayer(t, sparseTar("a", 6<<20, []sparseFrag{{0, []byte("x")}}))
	l2 := rawLayer(t, sparseTar("b", 6<<20, []sparseFrag{{0, []byte("y")}}))
	_, err := unpack(t, s, l1, l2)
	assertContains(t, err, `"b"`, "per-image limit")
}

// TestUnpackLongNamesRefused: names beyond PATH_MAX or nested deeper than
// any real image would make every later walk of the tree quadratic.
func TestUnpackLongNamesRefused(t *testing.T) {
	long := strings.Repeat("a/", 2100) + "f" // 4201 bytes, 2101 levels
	deep := strings.Repeat("d/", maxPathDepth) + "f"
	for _, c := range []struct {
		name string
		e    ent
		want string
	}{
		{"long name", file(long, "x"), "longer than"},
		{"deep name", file(deep, "x"), "levels deep"},
		{"long link target", symlink("l", strings.Repeat("x", 5000)), "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t)
			_, err := unpack(t, s, layer(t, c.e))
			assertContains(t, err, c.want)
			assertNoSnapshot(t, s)
		})
	}
}

// TestUnpackEntryCountLimit: the number of entries (inodes) an image creates
// is bounded.
func TestUnpackEntryCountLimit(t *testing.T) {
	s := openStore(t)
	s.maxImageEntries = 50
	var es []ent
	for i := range 60 {
		es = append(es, file(fmt.Sprintf("f%d", i), ""))
	}
	_, err := unpack(t, s, layer(t, es...))
	assertContains(t, err, "more than 50 entries")
	assertNoSnapshot(t, s)
}

// TestImageLayerCountLimit: an image with more layers than any real one is
// refused when stored, before anything is unpacked.
func TestImageLayerCountLimit(t *testing.T) {
	s := openStore(t)
	s.maxImageLayers = 2
	img := testImage(t, layer(t, file("a", "a")), layer(t, file("b", "b")), layer(t, file("c", "c")))
	_, err := s.Put("many/layers:v1", img)
	assertContains(t, err, "3 layers, more than 2")
}

// emlinkFrom makes the clone's hard links fail with EMLINK when refuse says
// so, as they do once an inode has the filesystem's maximum of links.
func emlinkFrom(refuse func(oldname string) bool) func(int, string, int, string) error {
	return func(ofd int, o string, nfd int, n string) error {
		if refuse(o) {
			return syscall.EMLINK
		}
		return unix.Linkat(ofd, o, nfd, n, 0)
	}
}

// linkedLayer is a layer with a 1 MiB file d/big and n hard links to it.
func linkedLayer(t *testing.T, n int) v1.Layer {
	es := []ent{dir("d/", 0o755), file("d/big", string(bytes.Repeat([]byte("b"), 1<<20)))}
	for i := range n {
		es = append(es, hardlink(fmt.Sprintf("d/l%d", i), "d/big"))
	}
	return layer(t, es...)
}

// TestCloneEMLINKCopiesOncePerInode: when the lower inode cannot take more
// links, its names in the new snapshot share one copy instead of getting one
// copy each (N links x size bytes).
func TestCloneEMLINKCopiesOncePerInode(t *testing.T) {
	s := openStoreWith(t, WithMaxUnpackedSize(8<<20, 16<<20))
	// Links to the lower tree (by base name, from its directory) fail;
	// links within the new snapshot (by path from its root) work.
	s.cloneLink = emlinkFrom(func(o string) bool { return !strings.Contains(o, "/") })
	const n = 50
	root, err := unpack(t, s, linkedLayer(t, n), layer(t, file("top", "t")))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "d/l7"))
	if err != nil {
		t.Fatal(err)
	}
	if nl := fi.Sys().(*syscall.Stat_t).Nlink; nl != n+1 {
		t.Errorf("d/l7 has %d links, want %d: the fallback copied every name", nl, n+1)
	}
	if got := readFile(t, filepath.Join(root, "d/l7")); len(got) != 1<<20 || got[0] != 'b' {
		t.Errorf("d/l7 has %d bytes", len(got))
	}
}

// TestCloneEMLINKCopiesBounded: where every link fails, the copies count
// against the layer's limit and the unpack is refused with the limit named.
func TestCloneEMLINKCopiesBounded(t *testing.T) {
	s := openStoreWith(t, WithMaxUnpackedSize(8<<20, 16<<20))
	s.cloneLink = emlinkFrom(func(string) bool { return true })
	_, err := unpack(t, s, linkedLayer(t, 50), layer(t, file("top", "t")))
	assertContains(t, err, "test/unpack:latest", "per-layer limit of 8388608 bytes", "copy")
	if err != nil && !strings.Contains(err.Error(), "d/") {
		t.Errorf("error %q does not name the file", err)
	}
}

// TestPullBlobLargerThanDescriptor: a registry that streams more than the
// manifest declares for a layer is cut off after the declared size, not read
// to its end (or forever).
func TestPullBlobLargerThanDescriptor(t *testing.T) {
	fr := startFaultRegistry(t)
	img := randomImage(t, 64<<10, 1)
	ref, err := images.Push(fr.host, "endless/app:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	target := blobPathOf("endless/app", d)
	const flood = 64 << 20
	fr.fault = func(w http.ResponseWriter, r *http.Request, inner http.Handler) bool {
		if r.Method != http.MethodGet || r.URL.Path != target {
			return false
		}
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("z"), 64<<10)
		for sent := 0; sent < flood; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return true
			}
		}
		return true
	}
	s := openStore(t)
	_, err = s.Pull(context.Background(), ref)
	assertContains(t, err, d.String(), fmt.Sprintf("more than the %d bytes", size))
	fr.mu.Lock()
	served := fr.served
	fr.mu.Unlock()
	if served >= flood/2 {
		t.Errorf("the registry served %d bytes of a %d-byte layer before the pull gave up", served, size)
	}
	if _, err := os.Stat(s.blobPath(d)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the oversized blob was stored: %v", err)
	}
}

// TestLoadOCIArchiveSparseRefused: `podbox image load` of an OCI archive does
// not expand a sparse member's holes onto the disk.
func TestLoadOCIArchiveSparseRefused(t *testing.T) {
	s := openStore(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	if err := tw.WriteHeader(&tar.Header{Name: "oci-layout", Mode: 0o644, Size: int64(len(layout)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(layout)
	tw.Flush() // no end-of-archive blocks: the sparse member follows
	buf.Write(sparseTar("blobs/sha256/"+strings.Repeat("ab", 32), 256<<20, []sparseFrag{{0, []byte("x")}}))
	path := filepath.Join(t.TempDir(), "bomb.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(path)
	assertContains(t, err, "sparse file")
}
