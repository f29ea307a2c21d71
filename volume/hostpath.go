package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath applies a hostPath volume's type the way the kubelet's
// checkType does, with its messages: the path is stat'ed following
// symlinks, the *OrCreate types create what is missing (a directory 0755, an
// empty file 0644 whose parent must exist), and a missing path fails the
// check like a path of the wrong kind.
//
// Paths are those of podbox's mount namespace, which is a private copy of
// the user's taken when the supervisor started: the same tree, except that
// filesystems the host mounts later are not seen until the supervisor
// restarts.
func checkHostPath(src *corev1.HostPathVolumeSource) error {
	p := src.Path
	t := corev1.HostPathUnset
	if src.Type != nil {
		t = *src.Type
	}
	st, err := os.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath type check failed: %w", err)
	}
	is := func(m fs.FileMode) bool { return exists && st.Mode().Type() == m }
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("hostPath type check failed: create %s: %w", p, err)
			}
			return os.Chmod(p, 0o755)
		}
		fallthrough
	case corev1.HostPathDirectory:
		if !exists || !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			if _, err := os.Stat(filepath.Dir(p)); err != nil {
				return fmt.Errorf("hostPath type check failed: create %s: %w", p, err)
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath type check failed: create %s: %w", p, err)
			}
			f.Close()
			return os.Chmod(p, 0o644)
		}
		fallthrough
	case corev1.HostPathFile:
		if !exists || !st.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case corev1.HostPathSocket:
		if !is(fs.ModeSocket) {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", p)
		}
	case corev1.HostPathCharDev:
		if !is(fs.ModeDevice | fs.ModeCharDevice) {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", p)
		}
	case corev1.HostPathBlockDev:
		if !is(fs.ModeDevice) {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", p)
		}
	default:
		return fmt.Errorf("hostPath type check failed: unknown type %q", t)
	}
	return nil
}
