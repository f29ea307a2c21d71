package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"podbox.dev/podbox/cri/gvisor"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/rootless"
)

// hold is the namespace holder: the long-lived process that owns podbox's
// user and mount namespace (and so the pods' pinned network namespaces), runs
// the log server that keeps the containers' output flowing, and runs the
// supervisor as its child. If the supervisor crashes, the holder starts a new
// one in the same namespaces, which adopts the running sandboxes instead of
// restarting them. SIGTERM/SIGINT stop the supervisor (which stops the pods)
// and then the holder, with the supervisor's exit code.
func hold(ctx context.Context, d dirs.Dirs) (int, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	lock, err := lockDaemon(d)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	if err := rootless.Setup(filepath.Join(d.Runtime, ".probe")); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := gvisor.ServeLogs(ctx, d.LogSocket(), log); err != nil {
			log.Error("log server stopped", "err", err)
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigs)

	adopt := false
	backoff := time.Second
	for {
		cmd := exec.Command("/proc/self/exe", Command)
		cmd.Args[0] = os.Args[0]
		cmd.Env = append(os.Environ(), envRole+"="+roleSupervisor, fmt.Sprintf("%s=%t", envAdopt, adopt))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGTERM}
		if err := cmd.Start(); err != nil {
			return 0, fmt.Errorf("start the supervisor: %w", err)
		}
		started := time.Now()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
			err := <-exited
			if exit, ok := err.(*exec.ExitError); ok && exit.ExitCode() > 0 {
				return exit.ExitCode(), nil
			}
			return 0, nil
		case err := <-exited:
			if time.Since(started) > time.Minute {
				backoff = time.Second
			}
			log.Error("the supervisor exited unexpectedly; starting a new one that adopts its pods", "err", err, "after", backoff)
			select {
			case <-sigs:
				return 0, nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			adopt = true
		}
	}
}

// errAlreadyRunning is what a second daemon of the same user says.
var errAlreadyRunning = errors.New("a podbox supervisor is already running for this user")

// lockDaemon takes the per-user daemon lock for the life of the process.
func lockDaemon(d dirs.Dirs) (*os.File, error) {
	f, err := os.OpenFile(d.DaemonLock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (lock %s)", errAlreadyRunning, d.DaemonLock())
		}
		return nil, err
	}
	// Stop signals this pid: the holder, which stops the supervisor and so
	// the pods (same pid namespace as the user's).
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
