package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Bounds against image bombs: layers, blobs and registries that declare or
// send far more than they cost to make. They are not configurable: each sits
// far above what real images need (the byte limits are set by
// WithMaxUnpackedSize, 64 GiB per layer and 128 GiB per image by default), and
// an image beyond them is an attack or a mistake, not something a user needs
// to let through.
const (
	// defaultMaxImageEntries bounds the entries (inodes and names) the
	// snapshots of one image create, counting the directories and symbolic
	// links each layer's snapshot re-creates: about 4 M, where large real
	// images (100 k files, tens of layers) create well under 1 M.
	defaultMaxImageEntries = 1 << 22
	// defaultMaxImageLayers bounds an image's layers; Docker builds stop at
	// 127, and every layer is a snapshot that re-creates the tree's
	// directories.
	defaultMaxImageLayers = 256
	// maxConfigSize bounds an image config blob, which is read into memory
	// whole; real ones are a few KiB, with long histories under 1 MiB.
	// (ggcr bounds manifests and indexes at 100 MiB.)
	maxConfigSize = 8 << 20
)

// errUnpackLimit is wrapped by the errors of everything refused by a bound.
var errUnpackLimit = errors.New("image exceeds a limit")

// limitError describes something refused by one of the bounds above.
func limitError(format string, args ...any) error {
	return fmt.Errorf("%w: %s (podbox's built-in limit, not configurable: real images stay far below it; see docs/security.md)", errUnpackLimit, fmt.Sprintf(format, args...))
}

// writeBudget is what the files of one layer's snapshot may still take: the
// per-layer limit, or what is left of the per-image limit if that is less.
// The bytes are charged before they are written: the declared size of each
// regular file (holes included) and every copy made where a hard link cannot
// be, so what unpacking writes never exceeds the limit.
type writeBudget struct {
	left       int64
	layerLimit int64
	imageLimit int64
	imageLeft  bool // left is what remains of the image's limit
}

func newWriteBudget(layerLimit, imageLimit, imageUsed int64) *writeBudget {
	imageLeft := imageLimit - imageUsed
	b := &writeBudget{left: layerLimit, layerLimit: layerLimit, imageLimit: imageLimit}
	if imageLeft < layerLimit {
		b.left, b.imageLeft = max(0, imageLeft), true
	}
	return b
}

// take charges n bytes, or reports false, charging nothing, if they exceed
// what is left. A nil budget takes anything.
func (b *writeBudget) take(n int64) bool {
	if b == nil {
		return true
	}
	if n < 0 || n > b.left {
		return false
	}
	b.left -= n
	return true
}

// String names the limit for messages.
func (b *writeBudget) String() string {
	if b.imageLeft {
		return fmt.Sprintf("the %d bytes left of the per-image limit of %d bytes%s", b.left, b.imageLimit, inGiB(b.imageLimit))
	}
	return fmt.Sprintf("the %d bytes left of the per-layer limit of %d bytes%s", b.left, b.layerLimit, inGiB(b.layerLimit))
}

// inGiB spells a whole number of GiB out, for messages.
func inGiB(n int64) string {
	if n < 1<<30 || n%(1<<30) != 0 {
		return ""
	}
	return fmt.Sprintf(" (%d GiB)", n>>30)
}

// copyBufSize is the unpacker's copy buffer: larger writes than io.Copy's
// 32 KiB, and a multiple of sparseBlock.
const copyBufSize = 256 << 10

// sparseBlock is the granularity of holes in sparse files: a block of zeros
// this size, aligned in the file, is skipped instead of written.
const sparseBlock = 4096

var zeroBlock [sparseBlock]byte

func (u *unpacker) buffer() []byte {
	if u.buf == nil {
		u.buf = make([]byte, copyBufSize)
	}
	return u.buf
}

// isSparse reports whether hdr is a GNU sparse file in PAX form (the form
// docker and GNU tar --posix write); archive/tar reads its holes back as
// zeros.
func isSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// content writes the data of the regular file entry hdr, read from r, to f.
// A sparse file is written sparse: archive/tar hides its map and returns its
// holes as zeros, so zero blocks are skipped (holes stay holes) and the file
// takes on disk only its data.
func (u *unpacker) content(f *os.File, hdr *tar.Header, r io.Reader) error {
	buf := u.buffer()
	if !isSparse(hdr) {
		// Hide f's ReadFrom, which would ignore buf.
		_, err := io.CopyBuffer(struct{ io.Writer }{f}, r, buf)
		return err
	}
	var off int64
	for {
		n, err := readFull(r, buf)
		if n > 0 {
			if werr := writeNonZero(f, buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return f.Truncate(off) // the size, if the file ends in a hole
}

// readFull fills buf from r, returning fewer bytes only with an error (io.EOF
// at the end of the entry); unlike io.ReadFull it passes the reader's own
// io.ErrUnexpectedEOF (a truncated layer) through unchanged.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeNonZero writes the blocks of b that are not all zeros at off in f,
// leaving the others as holes. off is a multiple of sparseBlock.
func writeNonZero(f *os.File, b []byte, off int64) error {
	for len(b) > 0 {
		if blk := b[:min(len(b), sparseBlock)]; bytes.Equal(blk, zeroBlock[:len(blk)]) {
			b, off = b[len(blk):], off+int64(len(blk))
			continue
		}
		end := sparseBlock
		for end < len(b) {
			blk := b[end:min(len(b), end+sparseBlock)]
			if bytes.Equal(blk, zeroBlock[:len(blk)]) {
				break
			}
			end += len(blk)
		}
		end = min(end, len(b))
		if _, err := f.WriteAt(b[:end], off); err != nil {
			return err
		}
		b, off = b[end:], off+int64(end)
	}
	return nil
}
