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

// resolveSubPath finds (or, in a writable volume, creates with the mode of
// the volume's root, as the kubelet does) the subPath inside the volume and
// returns its real path. Symlinks are resolved here, and a path that leaves
// the volume is refused: a container could otherwise plant a symlink that
// makes a later mount expose any host file the user can read. (The kubelet
// closes the remaining window between this check and the mount by mounting
// an open file descriptor; runsc takes paths, so a container able to swap a
// directory for a symlink in that window is not excluded.)
func resolveSubPath(v *vol, sub string) (string, error) {
	root, err := filepath.EvalSymlinks(v.path)
	if err != nil {
		return "", err
	}
	full := filepath.Join(root, sub)
	if _, err := os.Lstat(full); errors.Is(err, fs.ErrNotExist) {
		if v.readOnly || v.kind == written {
			return "", fmt.Errorf("subPath %q does not exist in volume %q", sub, v.spec.Name)
		}
		st, err := os.Stat(root)
		if err != nil {
			return "", err
		}
		if err := mkdirBeneath(root, sub, st.Mode().Perm()); err != nil {
			return "", err
		}
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", err
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return "", fmt.Errorf("subPath %q leaves volume %q (it resolves to %s)", sub, v.spec.Name, real)
	}
	return real, nil
}

// mkdirBeneath creates sub under root one element at a time, refusing to
// follow a symlink out of root.
func mkdirBeneath(root, sub string, perm os.FileMode) error {
	cur := root
	for _, el := range strings.Split(filepath.Clean(sub), "/") {
		cur = filepath.Join(cur, el)
		st, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(cur, perm); err != nil {
				return err
			}
			if err := os.Chmod(cur, perm); err != nil {
				return err
			}
		case err != nil:
			return err
		case st.Mode()&fs.ModeSymlink != 0:
			real, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(real, root+string(filepath.Separator)) {
				return fmt.Errorf("subPath %q leaves its volume", sub)
			}
			cur = real
		}
	}
	return nil
}

// applyOwnership is the kubelet's SetVolumeOwnership for fsGroup: every
// file gets group gid and group read (and write, for a writable volume),
// directories the setgid bit so new files inherit the group. onlyRoot is
// fsGroupChangePolicy OnRootMismatch: nothing is done when the root already
// has the group and setgid. Changing the group needs gid mapped into
// podbox's user namespace (a range in /etc/subgid).
func applyOwnership(dir string, gid int, onlyRoot, readOnly bool) error {
	if onlyRoot {
		if st, err := os.Stat(dir); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Gid) == gid && st.Mode()&os.ModeSetgid != 0 {
				return nil
			}
		}
	}
	mask := os.FileMode(0o660)
	if readOnly {
		mask = 0o440
	}
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if err := os.Lchown(p, -1, gid); err != nil {
			return fmt.Errorf("apply fsGroup %d to %s: %w (the group must be mapped into podbox's user namespace: add a range for your user to /etc/subgid)", gid, p, err)
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()&(os.ModePerm|os.ModeSetgid) | mask
		if e.IsDir() {
			mode |= os.ModeSetgid | 0o110
		}
		return os.Chmod(p, mode)
	})
}

// allocated is the space a file takes on disk.
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
