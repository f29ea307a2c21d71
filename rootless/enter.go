package rootless

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// envKey marks a process that runs inside podbox's namespaces. Its values:
// "wait" (created, waiting for newuidmap to write its maps) and "1" (ready).
const envKey = "_PODBOX_USERNS"

// lookPath is exec.LookPath; a variable so tests can pretend helpers are absent.
var lookPath = exec.LookPath

// Inside reports whether this process runs in podbox's user and mount
// namespace (it was started by Enter).
func Inside() bool { return os.Getenv(envKey) == "1" }

// Prepare must be the first thing main does. In a child that Enter created
// with subordinate-ID maps, it waits until the parent has written the maps and
// then re-executes itself: capabilities are computed at execve, and the first
// execve happened before uid 0 was mapped, so only a second one yields a
// fully privileged (inside the namespace) process. Elsewhere it returns at once.
func Prepare() {
	if os.Getenv(envKey) != "wait" {
		return
	}
	pipe := os.NewFile(3, "userns-sync")
	var b [1]byte
	if _, err := io.ReadFull(pipe, b[:]); err != nil || b[0] != '1' {
		fmt.Fprintln(os.Stderr, "podbox: the parent did not set up the user namespace; giving up")
		os.Exit(125)
	}
	pipe.Close()
	os.Setenv(envKey, "1")
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "podbox: re-executing inside the user namespace: %v\n", err)
	os.Exit(125)
}

// Enter runs the current command again (same arguments) inside a new user and
// mount namespace, forwards SIGINT/SIGTERM to it, and returns its exit code.
// The child sees Inside() == true and must call Setup before anything else.
func Enter(stderr io.Writer) (int, error) {
	if err := Check(HostSysctls); err != nil {
		return 1, err
	}
	// Pdeathsig is tied to the creating thread; keep it alive for the child's life.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cmd, err := startChild(stderr)
	if err != nil {
		return 1, err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

func startChild(stderr io.Writer) (*exec.Cmd, error) {
	if uids, gids, ok := SubordinateIDs(); ok {
		cmd, err := startMapped(uids, gids)
		if err == nil {
			return cmd, nil
		}
		fmt.Fprintf(stderr, "podbox: warning: cannot map subordinate IDs (%v); continuing with your uid only: files owned by other users in images will belong to you\n", err)
	}
	cmd := baseCmd()
	cmd.Env = append(os.Environ(), envKey+"=1")
	cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
	cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	if err := cmd.Start(); err != nil {
		return nil, cloneProblem(err)
	}
	return cmd, nil
}

// startMapped creates the child unmapped, maps it with the setuid helpers,
// then lets it continue (see Prepare).
func startMapped(uids, gids IDRange) (*exec.Cmd, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	defer w.Close()
	cmd := baseCmd()
	cmd.Env = append(os.Environ(), envKey+"=wait")
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		return nil, cloneProblem(err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	mapErr := runMap("newuidmap", pid, os.Getuid(), uids)
	if mapErr == nil {
		mapErr = runMap("newgidmap", pid, os.Getgid(), gids)
	}
	if mapErr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, mapErr
	}
	if _, err := w.Write([]byte{'1'}); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return cmd, nil
}

func runMap(helper, pid string, id int, sub IDRange) error {
	args := []string{pid, "0", strconv.Itoa(id), "1", "1", strconv.Itoa(sub.Start), strconv.Itoa(sub.Size)}
	out, err := exec.Command(helper, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %v: %s", helper, args, err, out)
	}
	return nil
}

func baseCmd() *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		// The child is the supervisor; it must not outlive the process the
		// user started (a foreground `podbox daemon`).
		Pdeathsig: unix.SIGTERM,
	}
	return cmd
}

// cloneProblem explains why the kernel refused to create the namespace.
func cloneProblem(err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return &Problem{What: "the user namespace limit is reached (user.max_user_namespaces)", Fix: "sudo sysctl -w user.max_user_namespaces=28633"}
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return &Problem{What: fmt.Sprintf("the kernel refused to create a user namespace: %v", err),
			Fix: "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or run podbox outside a container that blocks them"}
	}
	return fmt.Errorf("start podbox in a user namespace: %w", err)
}

// Setup runs first inside the namespace: it makes every mount private, so
// the netns pins and other mounts podbox makes stay invisible to the host and
// the host's later mounts do not leak in, and proves that the namespace grants
// the privileges podbox needs (it does not under Ubuntu's AppArmor
// restriction, which only shows here).
func Setup(scratch string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return appArmorProblem(HostSysctls, fmt.Errorf("make mounts private: %w", err))
	}
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("podbox", scratch, "tmpfs", 0, "size=4k"); err != nil {
		return appArmorProblem(HostSysctls, fmt.Errorf("mount a tmpfs: %w", err))
	}
	return unix.Unmount(scratch, unix.MNT_DETACH)
}
