package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File-descriptor walks for trees a container can write (an emptyDir, a
// claim, a hostPath mounted read-write). A path re-resolved after a check can
// be redirected by a container that swaps a directory for a symlink in
// between (CVE-2017-1002101, CVE-2021-25741), so everything here opens one
// element at a time relative to its parent's descriptor, never follows a
// symlink, and changes the object it opened, not a path.

// maxWalkDepth bounds how deep walkNoFollow descends; it holds one
// descriptor per level. 2048 is the deepest directory a path within PATH_MAX
// (4096 bytes, at least "x/" per level) reaches, so a tree that the former
// path-based walk could change is still changed whole.
const maxWalkDepth = 2048

// openBeneath opens rel, a clean relative path without "..", beneath the
// directory rootFD, one element at a time, refusing any symlink (ELOOP). The
// result is an O_PATH descriptor of the object itself. rel "." is the root.
func openBeneath(rootFD int, rel string) (int, error) {
	cur, err := unix.Openat(rootFD, ".", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil || rel == "." {
		return cur, err
	}
	for _, el := range strings.Split(rel, "/") {
		if el == ".." || el == "." || el == "" {
			unix.Close(cur)
			return -1, fmt.Errorf("path %q is not clean", rel)
		}
		next, err := unix.Openat(cur, el, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		if isSymlink(next) {
			unix.Close(next)
			return -1, unix.ELOOP
		}
		cur = next
	}
	return cur, nil
}

func isSymlink(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// procFD names the object an open descriptor refers to. The kernel resolves
// it to that object itself (a "magic link"), so a rename or a symlink swapped
// in since the open cannot redirect it.
func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// chmodFD sets the mode of the object fd refers to (O_PATH descriptors
// included, which fchmod refuses).
func chmodFD(fd int, mode uint32) error {
	return unix.Fchmodat(unix.AT_FDCWD, procFD(fd), mode, 0)
}

// walkNoFollow calls visit for the object fd refers to and, if it is a
// directory, for everything beneath it, depth first, each parent before its
// children. Symlinks are skipped, never followed: children are opened O_PATH
// and O_NOFOLLOW relative to their parent's descriptor. visit may change the
// object through its descriptor (chmodFD, fchownat with AT_EMPTY_PATH); a
// directory's entries are read after visit, so it may make them readable.
func walkNoFollow(fd int, path string, depth int, visit func(fd int, st *unix.Stat_t, path string) error) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	if err := visit(fd, &st, path); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	if depth >= maxWalkDepth {
		return fmt.Errorf("%s: more than %d directories deep", path, maxWalkDepth)
	}
	names, err := readNames(fd, path)
	if err != nil {
		return err
	}
	for _, n := range names {
		c, err := unix.Openat(fd, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue // removed meanwhile
		}
		if err != nil {
			return &os.PathError{Op: "open", Path: filepath.Join(path, n), Err: err}
		}
		err = walkNoFollow(c, filepath.Join(path, n), depth+1, visit)
		unix.Close(c)
		if err != nil {
			return err
		}
	}
	return nil
}

// readNames lists the directory fd refers to.
func readNames(fd int, path string) ([]string, error) {
	d, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(d), path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// walkDirNoFollow opens dir (a path podbox owns) and walks it with
// walkNoFollow.
func walkDirNoFollow(dir string, visit func(fd int, st *unix.Stat_t, path string) error) error {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	return walkNoFollow(fd, dir, 0, visit)
}

// makeDirsWritable gives every directory under dir mode 0700, so that a tree
// a container left without owner write can be removed; it follows no
// symlink a container may have swapped in.
func makeDirsWritable(dir string) {
	_ = walkDirNoFollow(dir, func(fd int, st *unix.Stat_t, _ string) error {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			_ = chmodFD(fd, 0o700)
		}
		return nil
	})
}
