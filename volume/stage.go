package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Staging of subPath mounts. runsc takes a mount's source as a path and its
// gofer opens it again, following symlinks; a subPath lies in a tree a
// container can change. So podbox opens the subPath itself (openSubPath),
// bind-mounts that descriptor (/proc/self/fd/N) onto a staging point of its
// own, and gives runsc the staging point: a mount point whose root is the
// opened directory, which no change inside the volume can redirect. This is
// the kubelet's approach (pkg/volume/util/subpath); it needs the supervisor's
// private mount namespace (package rootless), where its mounts are invisible
// to the host and to the sandboxes' gofers, which copy them when they start.
//
// The invariant: a staging mount exists only while runsc sets up the
// container. The gofer has bound every mount source into its own mount
// namespace before `runsc run --detach` returns, so the supervisor releases
// the staging points right after (Release); points a crashed supervisor left
// are released when the next one starts (Unstage). Nothing removes a staging
// directory recursively: a point still mounted would take the volume's files
// with it, so each is unmounted and then removed with rmdir/unlink, which
// fail on a mount point instead.

// stagingDirName is the directory, under a pod's MemoryDir, holding one
// directory of staging points per container. No volume is mounted from
// MemoryDir itself, so no container can reach it.
const stagingDirName = "subpath-staging"

// bindFD bind-mounts the object fd refers to onto target; a variable so unit
// tests outside a mount namespace can record instead.
var bindFD = func(fd int, target string) error {
	// MS_REC: mounts below the subPath come along, as runsc's rbind would
	// take them, and a non-recursive bind of a tree with mounts locked by
	// the user namespace would fail (EINVAL).
	return unix.Mount(procFD(fd), target, "", unix.MS_BIND|unix.MS_REC, "")
}

// stagingDir is where a container's subPath mounts are staged.
func (s *Set) stagingDir(container string) string {
	return filepath.Join(s.opts.MemoryDir, stagingDirName, container)
}

// stage mounts the object fd refers to (a directory or a file) on a new
// staging point target.
func stage(fd int, target string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.Mkdir(target, 0o700); err != nil {
			return err
		}
	} else {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := bindFD(fd, target); err != nil {
		return fmt.Errorf("bind the subPath to %s: %w (podbox mounts subPaths in its own mount namespace)", target, err)
	}
	return nil
}

// Release unmounts and removes the staging points of a container's
// subPath mounts. Call it once runsc has created the container (or failed
// to): its gofer holds its own copy of each mount by then.
func (s *Set) Release(container string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return unstageDir(s.stagingDir(container))
}

// Unstage releases every staging point under a pod's MemoryDir, e.g. those
// a supervisor that crashed during a container start left behind.
func Unstage(memoryDir string) error {
	root := filepath.Join(memoryDir, stagingDirName)
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, unstageDir(filepath.Join(root, e.Name())))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return os.Remove(root)
}

// unstageDir unmounts and removes each staging point in dir, then dir.
func unstageDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if err := unmountAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		// Not RemoveAll: if p were still a mount point, rmdir/unlink fail
		// (EBUSY) where RemoveAll would empty the volume behind it.
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release subPath staging points: %w", err)
	}
	return os.Remove(dir)
}

// maxStackedMounts bounds the unmounts of one staging point; podbox mounts
// each once, a retry after a crash could stack a second.
const maxStackedMounts = 8

// unmountAll detaches every mount stacked on p.
func unmountAll(p string) error {
	for range maxStackedMounts {
		err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EINVAL) {
			return nil // not a mount point (any more)
		}
		if errors.Is(err, unix.EPERM) && !isMountPoint(p) {
			return nil // outside a mount namespace of podbox's: nothing mounted
		}
		if err != nil {
			return &os.PathError{Op: "unmount", Path: p, Err: err}
		}
	}
	return &os.PathError{Op: "unmount", Path: p, Err: errors.New("more than " + strconv.Itoa(maxStackedMounts) + " mounts stacked")}
}

// isMountPoint reports whether p is the root of a mount, by comparing its
// mount ID with its parent's.
func isMountPoint(p string) bool {
	var a, b unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &a) != nil ||
		unix.Statx(unix.AT_FDCWD, filepath.Dir(p), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &b) != nil {
		return true
	}
	return a.Mnt_id != b.Mnt_id
}
