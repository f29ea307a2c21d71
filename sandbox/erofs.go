package sandbox

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The pause container's root filesystem is a tiny EROFS image rather than a
// host directory. runsc serves a directory root through a gofer process
// (one per container, about 6 MiB of PSS and one more exec of the runsc
// binary on the sandbox's boot path), but mounts an EROFS image inside the
// sentry itself and starts no gofer for a container that has nothing else
// to serve (runsc/container: shouldSpawnGofer). The pause needs one
// read-only binary, so an image fits it exactly.
//
// The writer below produces the subset of EROFS that gVisor's reader
// (pkg/erofs) and the kernel driver accept without feature flags: 4 KiB
// blocks, compact 32-byte inodes, no extended attributes, and every file's
// data in whole blocks of its own ("flat plain" layout; runsc cannot map
// tail-packed inline data as an executable). Directories must fit in one
// block, which holds well over a hundred entries.

// ErofsFile is one entry of an EROFS image.
type ErofsFile struct {
	// Path is slash-separated and relative to the root ("pause", "dev").
	Path string
	// Mode is the permission bits (e.g. 0o755).
	Mode os.FileMode
	// Dir makes the entry a directory; otherwise it is a regular file with
	// Data as its contents.
	Dir  bool
	Data []byte
}

const (
	erofsMagic        = 0xe0f5e1e2
	erofsBlockBits    = 12
	erofsBlockSize    = 1 << erofsBlockBits
	erofsSuperOffset  = 1024
	erofsInodeSize    = 32 // compact inode, one 32-byte slot (nid unit)
	erofsDirentSize   = 12
	erofsFileTypeReg  = 1
	erofsFileTypeDir  = 2
	erofsMetaBlock    = 1 // inodes start at block 1; block 0 holds the superblock
	erofsInodesPerBlk = erofsBlockSize / erofsInodeSize
	sIFDIR            = 0o040000
	sIFREG            = 0o100000
)

type erofsNode struct {
	name     string
	dir      bool
	mode     os.FileMode
	data     []byte
	children []*erofsNode
	parent   *erofsNode
	nid      uint64
	block    uint32 // first data block
}

// WriteErofs writes an EROFS image holding files (all owned by root) to w.
// Parent directories that files do not list are made with mode 0755.
func WriteErofs(w io.Writer, files []ErofsFile) error {
	root := &erofsNode{dir: true, mode: 0o755}
	root.parent = root
	for _, f := range files {
		if err := root.add(f); err != nil {
			return err
		}
	}
	var nodes []*erofsNode // depth-first, root first: inode order
	var walk func(n *erofsNode)
	walk = func(n *erofsNode) {
		nodes = append(nodes, n)
		slices.SortFunc(n.children, func(a, b *erofsNode) int { return strings.Compare(a.name, b.name) })
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(root)

	metaBlocks := (len(nodes) + erofsInodesPerBlk - 1) / erofsInodesPerBlk
	next := uint32(erofsMetaBlock + metaBlocks)
	for i, n := range nodes {
		n.nid = uint64(i)
	}
	for _, n := range nodes {
		if n.dir {
			b, err := n.dirBlock()
			if err != nil {
				return err
			}
			n.data = b
		}
		n.block = next
		next += uint32((len(n.data) + erofsBlockSize - 1) / erofsBlockSize)
	}
	if root.nid > 0xffff {
		return fmt.Errorf("erofs: root inode number %d does not fit", root.nid)
	}

	img := make([]byte, int(next)*erofsBlockSize)
	le := binary.LittleEndian
	sb := img[erofsSuperOffset:]
	le.PutUint32(sb[0:], erofsMagic)
	// sb[4:8] checksum and sb[8:12] compatible features: none.
	sb[12] = erofsBlockBits
	le.PutUint16(sb[14:], uint16(root.nid))
	le.PutUint64(sb[16:], uint64(len(nodes)))
	// build time 0: the image is the same for the same files.
	le.PutUint32(sb[36:], next)
	le.PutUint32(sb[40:], erofsMetaBlock)

	for i, n := range nodes {
		ino := img[erofsMetaBlock*erofsBlockSize+int(n.nid)*erofsInodeSize:]
		mode := uint16(n.mode.Perm())
		nlink := uint16(1)
		if n.dir {
			mode |= sIFDIR
			nlink = 2
			for _, c := range n.children {
				if c.dir {
					nlink++
				}
			}
		} else {
			mode |= sIFREG
		}
		le.PutUint16(ino[0:], 0) // compact layout, flat plain data
		le.PutUint16(ino[4:], mode)
		le.PutUint16(ino[6:], nlink)
		le.PutUint32(ino[8:], uint32(len(n.data)))
		le.PutUint32(ino[16:], n.block)
		le.PutUint32(ino[20:], uint32(i+1))
		copy(img[int(n.block)*erofsBlockSize:], n.data)
	}
	_, err := w.Write(img)
	return err
}

// WriteErofsFile writes the image to path atomically (a new file renamed
// over the old one), so that sandboxes still running from the old image
// keep it.
func WriteErofsFile(path string, files []ErofsFile) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".erofs-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := WriteErofs(tmp, files); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (root *erofsNode) add(f ErofsFile) error {
	p := path.Clean(f.Path)
	if p == "." || p == "/" || strings.HasPrefix(p, "../") || path.IsAbs(p) {
		return fmt.Errorf("erofs: bad path %q", f.Path)
	}
	parts := strings.Split(p, "/")
	dir := root
	for i, name := range parts {
		if len(name) > 255 {
			return fmt.Errorf("erofs: name too long in %q", f.Path)
		}
		var child *erofsNode
		for _, c := range dir.children {
			if c.name == name {
				child = c
			}
		}
		last := i == len(parts)-1
		if child == nil {
			child = &erofsNode{name: name, dir: true, mode: 0o755, parent: dir}
			if last {
				child.dir, child.mode, child.data = f.Dir, f.Mode, f.Data
			}
			dir.children = append(dir.children, child)
		} else if last || !child.dir {
			return fmt.Errorf("erofs: %q listed twice or under a file", f.Path)
		}
		dir = child
	}
	return nil
}

// dirBlock lays out a directory's entries ("." and ".." included, sorted by
// name): the dirents first, then the names they point to, unterminated.
func (n *erofsNode) dirBlock() ([]byte, error) {
	type ent struct {
		name string
		nid  uint64
		typ  byte
	}
	ents := []ent{{".", n.nid, erofsFileTypeDir}, {"..", n.parent.nid, erofsFileTypeDir}}
	for _, c := range n.children {
		typ := byte(erofsFileTypeReg)
		if c.dir {
			typ = erofsFileTypeDir
		}
		ents = append(ents, ent{c.name, c.nid, typ})
	}
	slices.SortFunc(ents, func(a, b ent) int { return strings.Compare(a.name, b.name) })
	size := len(ents) * erofsDirentSize
	for _, e := range ents {
		size += len(e.name)
	}
	if size > erofsBlockSize {
		return nil, fmt.Errorf("erofs: directory %q has too many entries for one block", n.name)
	}
	b := make([]byte, size)
	off := len(ents) * erofsDirentSize
	for i, e := range ents {
		d := b[i*erofsDirentSize:]
		binary.LittleEndian.PutUint64(d[0:], e.nid)
		binary.LittleEndian.PutUint16(d[8:], uint16(off))
		d[10] = e.typ
		off += copy(b[off:], e.name)
	}
	return b, nil
}

// PauseImage is the pause container's root filesystem: the pause binary at
// /pause and the mount points of the pause spec (and of the /tmp runsc adds),
// which a read-only filesystem cannot make on demand.
func PauseImage(pause []byte) []ErofsFile {
	files := []ErofsFile{{Path: "pause", Mode: 0o755, Data: pause}}
	for _, d := range []string{"dev", "proc", "sys", "tmp"} {
		files = append(files, ErofsFile{Path: d, Mode: 0o755, Dir: true})
	}
	return files
}

// Annotations that make runsc mount a container's root filesystem from an
// EROFS image instead of through a gofer (runsc/boot/mount_hints.go).
const (
	annRootfsSource = "dev.gvisor.spec.rootfs.source"
	annRootfsType   = "dev.gvisor.spec.rootfs.type"
)

// WithRootfsImage makes the spec's root filesystem the EROFS image at
// image (an absolute path), read-only and without an overlay (no overlay
// annotation, and a read-only root turns it off in any case); the spec's
// root path stays as it is (OCI requires one). An empty image leaves the
// spec unchanged.
func WithRootfsImage(s *specs.Spec, image string) {
	if image == "" {
		return
	}
	s.Annotations[annRootfsSource] = image
	s.Annotations[annRootfsType] = "erofs"
	s.Root.Readonly = true
}
