package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/pod"
)

// subPath returns the mount's subPath, or its subPathExpr expanded from the
// container's environment by the kubelet's rules: every $(VAR) must have a
// non-empty value, and the result must be relative without "..".
func subPath(m corev1.VolumeMount, env map[string]string) (string, error) {
	sub := m.SubPath
	if m.SubPathExpr != "" {
		var missing []string
		sub = pod.Expand(m.SubPathExpr, func(k string) (string, bool) {
			v, ok := env[k]
			if !ok || v == "" {
				missing = append(missing, k)
			}
			return v, true
		})
		if len(missing) > 0 {
			sort.Strings(missing)
			return "", fmt.Errorf("missing value for %s", strings.Join(missing, ", "))
		}
	}
	if sub == "" {
		return "", nil
	}
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("error SubPath `%s` must not be an absolute path", sub)
	}
	for _, el := range strings.Split(sub, "/") {
		if el == ".." {
			return "", fmt.Errorf("unable to provision SubPath `%s`: must not contain '..'", sub)
		}
	}
	return sub, nil
}

// openSubPath finds (or, in a writable volume, creates with the mode of the
// volume's root, as the kubelet does) the subPath inside the volume and
// returns an O_PATH descriptor of it. Symlinks are resolved as the kubelet
// resolves them, and a path that leaves the volume is refused: a container
// could otherwise plant a symlink that makes a later mount expose any host
// file the user can read. The resolved path is then opened again one
// element at a time beneath the volume's root without following any
// symlink, so a container that swaps a directory for a symlink after the
// check makes the open fail (a lost race, reported like the kubelet's
// error) instead of redirecting it; the caller mounts the descriptor, never
// the path (stage).
func openSubPath(v *vol, sub string) (int, error) {
	root, err := filepath.EvalSymlinks(v.path)
	if err != nil {
		return -1, err
	}
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootFD)
	real, err := filepath.EvalSymlinks(filepath.Join(root, sub))
	if errors.Is(err, fs.ErrNotExist) {
		if v.readOnly || v.kind == written {
			return -1, fmt.Errorf("subPath %q does not exist in volume %q", sub, v.spec.Name)
		}
		return mkdirBeneath(v, rootFD, root, sub)
	}
	if err != nil {
		return -1, err
	}
	rel, err := relBeneath(v, root, real, sub)
	if err != nil {
		return -1, err
	}
	fd, err := openBeneath(rootFD, rel)
	if err != nil {
		return -1, raceLost(sub, v, err)
	}
	return fd, nil
}

// relBeneath is real relative to root, or an error naming the subPath if
// real lies outside it.
func relBeneath(v *vol, root, real, sub string) (string, error) {
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("subPath %q leaves volume %q (it resolves to %s)", sub, v.spec.Name, real)
	}
	return rel, nil
}

// raceLost explains a failed open of a path that resolved inside the volume
// a moment before: something in the volume changed it, typically a
// container replacing a directory with a symlink.
func raceLost(sub string, v *vol, err error) error {
	return fmt.Errorf("subPath %q in volume %q changed while it was being mounted (%w); the container is not started with it", sub, v.spec.Name, err)
}

// mkdirBeneath creates the missing elements of sub under the volume's root
// with mode perm (the root's) and returns an O_PATH descriptor of the last.
// The deepest existing ancestor is resolved and checked as openSubPath does;
// each new element is made with mkdirat relative to its parent's descriptor
// and opened O_NOFOLLOW, and its mode set through that descriptor, so no
// symlink a container plants meanwhile is followed.
func mkdirBeneath(v *vol, rootFD int, root, sub string) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(rootFD, &st); err != nil {
		return -1, err
	}
	perm := st.Mode & 0o777
	els := strings.Split(filepath.Clean(sub), "/")
	have := len(els)
	for ; have > 0; have-- {
		if _, err := os.Lstat(filepath.Join(root, filepath.Join(els[:have]...))); err == nil {
			break
		}
	}
	rel := "."
	if have > 0 {
		real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.Join(els[:have]...)))
		if err != nil {
			return -1, err
		}
		if rel, err = relBeneath(v, root, real, sub); err != nil {
			return -1, err
		}
	}
	fd, err := openBeneath(rootFD, rel)
	if err != nil {
		return -1, raceLost(sub, v, err)
	}
	for _, el := range els[have:] {
		made := unix.Mkdirat(fd, el, perm)
		if made != nil && !errors.Is(made, unix.EEXIST) {
			unix.Close(fd)
			return -1, fmt.Errorf("create subPath %q in volume %q: %w", sub, v.spec.Name, made)
		}
		next, err := unix.Openat(fd, el, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, raceLost(sub, v, err)
		}
		fd = next
		// The umask must not narrow the mode; a directory someone else
		// made meanwhile keeps its own.
		if made == nil {
			if err := unix.Fchmod(fd, perm); err != nil {
				unix.Close(fd)
				return -1, err
			}
		}
	}
	return fd, nil
}

// applyOwnership is the kubelet's SetVolumeOwnership for fsGroup: every
// file gets group gid and group read (and write, for a writable volume),
// directories the setgid bit so new files inherit the group. onlyRoot is
// fsGroupChangePolicy OnRootMismatch: nothing is done when the root already
// has the group and setgid. Changing the group needs gid mapped into
// podbox's user namespace (a range in /etc/subgid). The tree may hold what
// a container wrote (a claim): it is walked through descriptors and changes
// the objects opened, never a path a container could redirect (symlinks
// are left alone).
func applyOwnership(dir string, gid int, onlyRoot, readOnly bool) error {
	if onlyRoot {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err == nil && int(st.Gid) == gid && st.Mode&unix.S_ISGID != 0 {
			return nil
		}
	}
	mask := uint32(0o660)
	if readOnly {
		mask = 0o440
	}
	return walkDirNoFollow(dir, func(fd int, st *unix.Stat_t, p string) error {
		if err := unix.Fchownat(fd, "", -1, gid, unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("apply fsGroup %d to %s: %w (the group must be mapped into podbox's user namespace: add a range for your user to /etc/subgid)", gid, p, err)
		}
		mode := st.Mode&(0o777|unix.S_ISGID) | mask
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			mode |= unix.S_ISGID | 0o110
		}
		return chmodFD(fd, mode)
	})
}

// allocated is the space a file takes on disk.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
