package main

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

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"podbox.dev/podbox/dirs"
)

// daemonStopTimeout is how long `daemon stop` waits, by default, for the
// supervisor to stop its pods and exit. Its shutdown force-deletes every
// sandbox (no grace period) and waits at most 5 s per container for the exit
// to be recorded, pods in parallel, so it takes seconds; --timeout changes it.
const daemonStopTimeout = time.Minute

// daemonStopPoll is how often `daemon stop` looks whether the supervisor is gone.
const daemonStopPoll = 50 * time.Millisecond

func daemonStopCommand() *cli.Command {
	return &cli.Command{
		Name:  "stop",
		Usage: "stop your background supervisor and its pods",
		Description: "Sends the supervisor SIGTERM, as a service manager would, and waits until it has\n" +
			"stopped every pod's sandbox and exited. The pods stay defined: the next command\n" +
			"that needs the supervisor starts a new one, which starts them again.\n" +
			"When no supervisor runs, it says so and exits 0, so scripts can call it at any time.\n\n" +
			"Examples:\n" +
			"  podbox daemon stop\n" +
			"  podbox daemon stop --timeout 2m",
		Flags: []cli.Flag{&cli.DurationFlag{
			Name: "timeout", Value: daemonStopTimeout,
			Usage: "give up waiting for the supervisor to exit after `DURATION` (it keeps stopping)",
		}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "daemon stop takes no arguments")
			}
			d, err := dirs.FromEnv()
			if err != nil {
				return err
			}
			return stopDaemon(c.Context, d, c.Duration("timeout"), c.App.Writer)
		},
	}
}

// daemonNotRunning is what `daemon stop` prints when there is nothing to stop.
const daemonNotRunning = "podbox daemon is not running"

// stopDaemon signals the namespace holder of d (whose pid the daemon lock
// file holds) and waits until it has released the lock, which it does only
// after its supervisor has stopped the pods and exited.
func stopDaemon(ctx context.Context, d dirs.Dirs, timeout time.Duration, w io.Writer) error {
	// The pid comes from a file in the runtime directory: trusted only if
	// the directory is private (see dirs.CheckRuntime).
	if err := dirs.CheckRuntime(d.Runtime); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(w, daemonNotRunning)
		return nil
	} else if err != nil {
		return err
	}
	f, err := os.Open(d.DaemonLock())
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(w, daemonNotRunning)
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if lockFree(f) {
		fmt.Fprintln(w, daemonNotRunning)
		return nil
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
	tick := time.NewTicker(daemonStopPoll)
	defer tick.Stop()
	for !lockFree(f) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the podbox supervisor (pid %d) is still stopping its pods after %s; see %s, "+
				"or wait longer with --timeout", pid, timeout, d.DaemonLog())
		case <-tick.C:
		}
	}
	fmt.Fprintln(w, "podbox daemon stopped")
	return nil
}

// lockFree reports whether no supervisor holds the daemon lock: a shared
// lock is refused while the holder's exclusive one stands.
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
