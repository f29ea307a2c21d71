package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"
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
	return withCgroupMount(func(mnt string) error { return capCgroup(mnt, cgroup, limit) })
}

// withCgroupMount mounts cgroup2 in a mount namespace of the calling OS
// thread only and runs f with the mount point. The thread is left locked,
// so Go ends it with its goroutine and no other code ever runs in that
// namespace.
func withCgroupMount(f func(mnt string) error) error {
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
	return f(mnt)
}

// capCgroup creates the cgroup of one container and sets its pids.max.
func capCgroup(mnt, cgroup, limit string) error {
	if err := checkCgroupName(cgroup); err != nil {
		return err
	}
	dir := filepath.Join(mnt, cgroup)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "pids.max"), []byte(limit), 0o644)
}

// prepareCgroups is the pause container's own share of the process cap: at
// boot it creates the cgroups of the containers the pod is about to start
// (`podbox-pause --pids-max N ID...`), so that their first instances need
// no helper exec on the pod's start path (an exec of a Go binary costs the
// sandbox tens of milliseconds). Then it gives up every capability, on all
// of its threads, and only then reports on stdout ("ok", or "error: ..."),
// which the supervisor reads before it starts any of these containers: no
// container runs while the pause still holds CAP_SYS_ADMIN. A pause that
// cannot drop them exits, which ends the sandbox.
func prepareCgroups(limit string, ids []string) {
	done := make(chan error, 1)
	go func() {
		done <- withCgroupMount(func(mnt string) error {
			for _, id := range ids {
				if err := capCgroup(mnt, id, limit); err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
			}
			return nil
		})
	}()
	err := <-done
	if derr := dropCapabilities(); derr != nil {
		// Never go on holding capabilities: ending the pause ends the
		// sandbox, and the pod shows it.
		os.Stderr.WriteString("podbox-pause: " + derr.Error() + "\n")
		os.Exit(1)
	}
	msg := "ok\n"
	if err != nil {
		msg = "error: " + err.Error() + "\n"
	}
	os.Stdout.WriteString(msg)
	os.Stdout.Close()
}

// dropCapabilities empties the effective, permitted and inheritable sets of
// every thread of the process (capset is per thread).
func dropCapabilities() error {
	hdr := struct {
		version uint32
		pid     int32
	}{version: 0x20080522} // _LINUX_CAPABILITY_VERSION_3
	var data [2]struct{ effective, permitted, inheritable uint32 }
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		return fmt.Errorf("drop capabilities: %w", errno)
	}
	return nil
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
