package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// pidsMax creates the in-sandbox cgroup of a container that is about to
// start and sets its pids.max, for the pod's process cap. The supervisor
// runs it in the pause container (exec over the sandbox's control socket,
// with CAP_SYS_ADMIN for this one process) before `runsc run` starts the
// container: the sentry then finds the cgroup already there (it tolerates
// EEXIST, runsc/boot/vfs.go) and the container is born capped, with no window
// before the limit applies.
//
// The cgroup2 file system is mounted in a mount namespace of this process
// only, so no writable cgroup mount is left in the pause container for
// another container to reach through /proc/1/root. The sentry's control call
// for writing cgroup files cannot do it: at this gVisor version it
// dereferences a nil file description for pids.max under nsdelegate.
func pidsMax(cgroup, limit string) error {
	if err := checkCgroupName(cgroup); err != nil {
		return err
	}
	// Namespaces belong to the thread; the rest runs on the same one.
	runtime.LockOSThread()
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	const mnt = "/dev"
	if err := syscall.Mount("cgroup2", mnt, "cgroup2", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount cgroup2: %w", err)
	}
	dir := filepath.Join(mnt, cgroup)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "pids.max"), []byte(limit), 0o644)
}

// checkCgroupName accepts a container ID as runsc does (letters, digits,
// '-', '_', '+', '.'), so that the helper cannot be pointed outside the
// cgroup file system's top level.
func checkCgroupName(name string) error {
	if name == "" || name == "." || name == ".." || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+.") != "" {
		return fmt.Errorf("bad cgroup name %q", name)
	}
	return nil
}
