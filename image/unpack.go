package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrUnsafeEntry is wrapped by the error for a layer entry that would create
// or modify something outside the root filesystem.
var ErrUnsafeEntry = errors.New("layer entry escapes the root filesystem")

// Bounds on what the entries of a layer may name. A tar header can carry a
// name of up to 1 MiB (archive/tar's bound on PAX and GNU long names); such a
// name is no real file, but would make every later walk of the tree cost its
// depth per entry, and the unpacker keeps each layer's names in memory.
const (
	// maxPathLen is Linux's PATH_MAX: no program in the sandbox could open
	// a longer path, so no real image has one.
	maxPathLen = 4096
	// maxPathDepth bounds the directory levels of a name. Real images
	// stay under a few dozen (deep node_modules trees reach about 50).
	maxPathDepth = 256
	// maxLayerNameBytes bounds the sum of the names and link targets of one
	// layer's entries, which is the memory the unpacker's bookkeeping
	// (added, dirs) may take: about 1 M entries of 64 bytes.
	maxLayerNameBytes = 64 << 20
)

const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// unpacker applies layers, in order, to one root filesystem. Every operation
// goes through root, an os.Root, so the kernel-level path resolution can never
// leave the tree, whatever symbolic links earlier entries created.
type unpacker struct {
	root *os.Root
	// dirs records the mode and mtime of every directory entry. They are
	// applied after the last layer, because a directory that is read-only in
	// the image (0555) must not stop later entries from being created in it,
	// and creating entries changes the directory's mtime.
	dirs map[string]dirMeta
	// skipped counts device nodes and fifos, which an unprivileged process
	// cannot create.
	skipped int
	// unowned counts entries whose owner could not be set (no subordinate
	// IDs), which therefore belong to the user.
	unowned int
	// link makes the hard links of cloneDir (nil: linkat(2)).
	link func(int, string, int, string) error
	// budget bounds the bytes this snapshot's files may take; nil means
	// unbounded.
	budget *writeBudget
	// created counts the entries (inodes and names) made in the chain of
	// snapshots up to this one, which must stay within maxCreated (0: no
	// bound), against inode exhaustion.
	created, maxCreated int64
	// nameBytes counts the bytes of names of the layer being applied.
	nameBytes int64
	// copies records, per lower inode, the copy cloneDir made when a hard
	// link to it failed, so that its other names link to that copy.
	copies map[fileID]string
	// cloneRoot is the directory descriptor of root while cloneFrom runs.
	cloneRoot int
	buf       []byte
}

// fileID identifies an inode.
type fileID struct{ dev, ino uint64 }

type dirMeta struct {
	mode  fs.FileMode
	mtime time.Time
}

func newUnpacker(root *os.Root) *unpacker {
	return &unpacker{root: root, dirs: map[string]dirMeta{}, copies: map[fileID]string{}}
}

// entryError describes a failure to apply one entry of a layer.
func entryError(layer v1.Hash, entry string, err error) error {
	return fmt.Errorf("layer %s: entry %q: %w", layer, shortName(entry), err)
}

// unsafeError describes an entry refused because it would escape the root.
func unsafeError(layer v1.Hash, entry, why string) error {
	return fmt.Errorf("layer %s: entry %q: %w: %s", layer, shortName(entry), ErrUnsafeEntry, why)
}

// shortName shortens a hostile name of up to 1 MiB for messages.
func shortName(n string) string {
	if len(n) <= 200 {
		return n
	}
	return n[:120] + "..." + n[len(n)-60:]
}

// checkName refuses names (and link targets) no real image has; see
// maxPathLen.
func (u *unpacker) checkName(hdr *tar.Header, name string) string {
	switch {
	case len(hdr.Name) >= maxPathLen:
		return fmt.Sprintf("the name is %d bytes long, longer than Linux's PATH_MAX (%d)", len(hdr.Name), maxPathLen)
	case len(hdr.Linkname) >= maxPathLen:
		return fmt.Sprintf("the link target is %d bytes long, longer than Linux's PATH_MAX (%d)", len(hdr.Linkname), maxPathLen)
	case strings.Count(name, "/") >= maxPathDepth:
		return fmt.Sprintf("the name is %d levels deep, more than %d", strings.Count(name, "/")+1, maxPathDepth)
	}
	u.nameBytes += int64(len(hdr.Name) + len(hdr.Linkname))
	if u.nameBytes > maxLayerNameBytes {
		return fmt.Sprintf("the layer's names and link targets add up to more than %d bytes", maxLayerNameBytes)
	}
	return ""
}

// create counts one more entry of the chain, failing beyond maxCreated.
func (u *unpacker) create() error {
	u.created++
	if u.maxCreated > 0 && u.created > u.maxCreated {
		return limitError("the image has more than %d entries (files, directories, links, counting the directories each layer's snapshot re-creates); refusing it as a likely unpack bomb", u.maxCreated)
	}
	return nil
}

// errPathEscapes is the message os.Root uses when resolution would leave the
// root; the error value itself is not exported, so it is matched by text to
// turn it into ErrUnsafeEntry.
const errPathEscapes = "path escapes from parent"

// classify wraps err of an entry, marking os.Root's escape refusals unsafe.
// The refusal may be nested (mkdirat wrapping statat), so the whole chain is
// searched.
func classify(layer v1.Hash, entry string, err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == errPathEscapes {
			return unsafeError(layer, entry, "it resolves through a symbolic link that points outside the root")
		}
	}
	return entryError(layer, entry, err)
}

// cleanPath turns a tar member name into a clean path relative to the root,
// refusing absolute names and ".." components rather than silently rebasing
// them, because no legitimate layer contains them.
func cleanPath(name string) (string, string) {
	if strings.HasPrefix(name, "/") {
		return "", "absolute names are not allowed in layers"
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return "", `".." components are not allowed in layers`
		}
	}
	return path.Clean(name), ""
}

// apply applies the uncompressed layer r, identified by digest for errors.
func (u *unpacker) apply(digest v1.Hash, r io.Reader) error {
	// added holds the paths this layer created (and their ancestors): per the
	// OCI spec, whiteouts hide only content of lower layers.
	added := map[string]bool{}
	u.nameBytes = 0
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer %s: read tar: %w", digest, err)
		}
		name, why := cleanPath(hdr.Name)
		if why != "" {
			return unsafeError(digest, hdr.Name, why)
		}
		if name == "." {
			continue // the root itself; its mode is fixed by Rootfs
		}
		if why := u.checkName(hdr, name); why != "" {
			return entryError(digest, hdr.Name, limitError("%s", why))
		}
		dir, base := path.Split(name)
		dir = path.Clean(dir)

		if base == opaqueWhiteout {
			if err := u.clearLower(dir, added); err != nil {
				return classify(digest, hdr.Name, err)
			}
			continue
		}
		if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
			continue // other aufs metadata (.wh..wh.plnk...): not content
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			hidden := strings.TrimPrefix(base, whiteoutPrefix)
			if hidden == "" || hidden == "." {
				return entryError(digest, hdr.Name, errors.New("a whiteout must name the file it hides"))
			}
			target := path.Join(dir, hidden)
			if added[target] {
				continue
			}
			if err := u.remove(target); err != nil {
				return classify(digest, hdr.Name, err)
			}
			continue
		}

		for p := name; p != "."; p = path.Dir(p) {
			added[p] = true
		}
		if err := u.entry(digest, name, hdr, tr); err != nil {
			return err
		}
	}
}

// entry creates one non-whiteout entry at the clean path name.
func (u *unpacker) entry(digest v1.Hash, name string, hdr *tar.Header, r io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		u.skipped++
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	default:
		return entryError(digest, hdr.Name, fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag))
	}
	if err := u.create(); err != nil {
		return entryError(digest, hdr.Name, err)
	}
	// The declared size (the apparent size: holes of a sparse file
	// included) is taken from the budget before anything is written, so a
	// header declaring 200 GiB is refused at once, not after filling the
	// disk. Holes count because expanding them costs time, and because
	// the file's apparent size is what tools in the sandbox copy.
	if hdr.Typeflag == tar.TypeReg && !u.budget.take(hdr.Size) {
		return entryError(digest, hdr.Name, limitError("it declares %d bytes, more than %s; refusing it as a likely decompression bomb", hdr.Size, u.budget))
	}

	if parent := path.Dir(name); parent != "." {
		if err := u.root.MkdirAll(parent, 0o755); err != nil {
			return classify(digest, hdr.Name, err)
		}
	}
	// Replace whatever a lower layer left at name, except that a directory
	// over a directory merges. Removing first also means nothing is ever
	// written through a symbolic link left at name.
	if fi, err := u.root.Lstat(name); err == nil {
		if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := u.remove(name); err != nil {
				return classify(digest, hdr.Name, err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return classify(digest, hdr.Name, err)
	}

	mode := hdr.FileInfo().Mode()
	var err error
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = u.root.Mkdir(name, 0o755)
		if errors.Is(err, fs.ErrExist) {
			err = nil
		}
		if err == nil {
			err = u.chown(u.root.Lchown, name, hdr)
			u.dirs[name] = dirMeta{mode: mode, mtime: hdr.ModTime}
		}
	case tar.TypeReg:
		err = u.file(name, hdr, mode, r)
	case tar.TypeSymlink:
		// The target is stored verbatim: an absolute target such as
		// /bin/busybox is resolved inside the sandbox later, never here.
		err = u.root.Symlink(hdr.Linkname, name)
		if err == nil {
			err = u.chown(u.root.Lchown, name, hdr)
		}
	case tar.TypeLink:
		target, why := cleanPath(hdr.Linkname)
		if why != "" || target == "." {
			if why == "" {
				why = "a hard link to the root directory"
			}
			return unsafeError(digest, hdr.Name, "hard link target "+hdr.Linkname+": "+why)
		}
		err = u.root.Link(target, name)
	}
	if err != nil {
		return classify(digest, hdr.Name, err)
	}
	return nil
}

// file creates the regular file name with the content of r.
func (u *unpacker) file(name string, hdr *tar.Header, mode fs.FileMode, r io.Reader) error {
	// O_EXCL: name was just removed, so an existing entry means a race or a
	// trick; never open through it.
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := u.content(f, hdr, r); err != nil {
		f.Close()
		return err
	}
	// Ownership before mode: chown clears setuid and setgid bits.
	if err := u.chown(func(_ string, uid, gid int) error { return f.Chown(uid, gid) }, name, hdr); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !hdr.ModTime.IsZero() {
		// Best effort: mtimes matter to few programs, and an error here
		// would only come from an unusual filesystem.
		_ = u.root.Chtimes(name, hdrAtime(hdr), hdr.ModTime)
	}
	return nil
}

func hdrAtime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

// chown sets the owner recorded in the layer. Rootless podbox usually has a
// single mapped uid, so the kernel refuses (EPERM) or cannot represent
// (EINVAL) most owners; the files then simply belong to the user, which is
// what the sandbox maps to root.
func (u *unpacker) chown(fn func(string, int, int) error, name string, hdr *tar.Header) error {
	err := fn(name, hdr.Uid, hdr.Gid)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		u.unowned++
		return nil
	}
	return err
}

// clearLower implements an opaque whiteout in dir: it removes everything below
// dir that this layer did not add.
func (u *unpacker) clearLower(dir string, added map[string]bool) error {
	f, err := u.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		p := path.Join(dir, n)
		if !added[p] {
			if err := u.remove(p); err != nil {
				return err
			}
			continue
		}
		if fi, err := u.root.Lstat(p); err == nil && fi.IsDir() {
			if err := u.clearLower(p, added); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove deletes p and everything below it, if it exists.
func (u *unpacker) remove(p string) error {
	fi, err := u.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := u.root.RemoveAll(p); err != nil {
		return err
	}
	if fi.IsDir() {
		u.forgetDirs(p)
	}
	return nil
}

// forgetDirs drops the recorded metadata of p and everything below it, which
// a whiteout or replacement just removed.
func (u *unpacker) forgetDirs(p string) {
	delete(u.dirs, p)
	prefix := p + "/"
	for d := range u.dirs {
		if strings.HasPrefix(d, prefix) {
			delete(u.dirs, d)
		}
	}
}

// finish applies the recorded directory modes and mtimes, deepest first, so
// that setting a parent's mtime comes after all changes inside it.
func (u *unpacker) finish() error {
	paths := make([]string, 0, len(u.dirs))
	for p := range u.dirs {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		ci, cj := strings.Count(paths[i], "/"), strings.Count(paths[j], "/")
		if ci != cj {
			return ci > cj
		}
		return paths[i] < paths[j]
	})
	for _, p := range paths {
		m := u.dirs[p]
		// Lstat: only a directory still at p gets the mode; Chmod would
		// follow a symbolic link.
		fi, err := u.root.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		if err := u.root.Chmod(p, m.mode); err != nil {
			return fmt.Errorf("set mode of directory %q: %w", p, err)
		}
		if !m.mtime.IsZero() {
			_ = u.root.Chtimes(p, m.mtime, m.mtime)
		}
	}
	return nil
}
