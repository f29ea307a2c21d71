package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"podbox.dev/podbox/dirs"
)

// stopPoll is how often Stop looks whether the daemon is gone.
const stopPoll = 50 * time.Millisecond

// ErrNotRunning is Stop's answer when no daemon runs.
var ErrNotRunning = errors.New("podbox daemon is not running")

// StopTimeoutError is Stop's answer when the daemon has not exited within
// the timeout. It goes on stopping its pods.
type StopTimeoutError struct {
	PID     int           // the holder's
	Timeout time.Duration // how long Stop waited
	Log     string        // the daemon log, where it says what it is doing
}

func (e *StopTimeoutError) Error() string {
	return fmt.Sprintf("the podbox supervisor (pid %d) is still stopping its pods after %s; see %s", e.PID, e.Timeout, e.Log)
}

// Stop signals the namespace holder of d (whose pid the daemon lock file
// holds) with SIGTERM, as a service manager would, and waits until it has
// released the lock, which it does only after its supervisor has stopped the
// pods and exited. The pods stay defined.
func Stop(ctx context.Context, d dirs.Dirs, timeout time.Duration) error {
	// The pid comes from a file in the runtime directory: trusted only if
	// the directory is private (see dirs.CheckRuntime).
	if err := dirs.CheckRuntime(d.Runtime); errors.Is(err, fs.ErrNotExist) {
		return ErrNotRunning
	} else if err != nil {
		return err
	}
	f, err := os.Open(d.DaemonLock())
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotRunning
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if lockFree(f) {
		return ErrNotRunning
	}
	pid, err := holderPID(f)
	if err != nil {
		return err
	}
	if err := unix.Kill(pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal the podbox supervisor (pid %d): %w", pid, err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	for !lockFree(f) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return &StopTimeoutError{PID: pid, Timeout: timeout, Log: d.DaemonLog()}
		case <-tick.C:
		}
	}
	return nil
}

// lockFree reports whether no daemon holds the lock: a shared lock is
// refused while the holder's exclusive one stands.
func lockFree(f *os.File) bool {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return false
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return true
}

// holderPID reads the pid the namespace holder wrote into its lock file.
func holderPID(f *os.File) (int, error) {
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("the running podbox supervisor did not record its process id in %s (started by an older podbox?): stop it with SIGTERM", f.Name())
	}
	return pid, nil
}
