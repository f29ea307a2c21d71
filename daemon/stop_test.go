package daemon

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"podbox.dev/podbox/dirs"
)

func testDirs(t *testing.T) dirs.Dirs {
	base := t.TempDir()
	return dirs.Dirs{Runtime: filepath.Join(base, "run"), Data: filepath.Join(base, "data")}
}

func TestStopNotRunning(t *testing.T) {
	d := testDirs(t)
	check := func(when string) {
		t.Helper()
		if err := Stop(context.Background(), d, time.Second); !errors.Is(err, ErrNotRunning) {
			t.Errorf("%s: %v, want ErrNotRunning", when, err)
		}
	}
	check("no runtime directory")
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	check("no lock file")
	if err := os.WriteFile(d.DaemonLock(), []byte("12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("a lock file nobody holds (the pid in it is not signalled)")
}

// holdLock stands for a holder that takes SIGTERM but never releases the
// lock: the lock is the test's, the pid in it a sleep that the signal ends.
// It returns the sleep's exit.
func holdLock(t *testing.T, d dirs.Dirs) <-chan error {
	t.Helper()
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- holder.Wait() }()
	t.Cleanup(func() { holder.Process.Kill() })
	lock, err := os.OpenFile(d.DaemonLock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.WriteString(strconv.Itoa(holder.Process.Pid) + "\n"); err != nil {
		t.Fatal(err)
	}
	return exited
}

// Stop signals the pid in the lock file, then gives up after its timeout,
// saying so.
func TestStopSignalsHolderAndTimesOut(t *testing.T) {
	d := testDirs(t)
	exited := holdLock(t, d)
	err := Stop(context.Background(), d, 300*time.Millisecond)
	var timeout *StopTimeoutError
	if !errors.As(err, &timeout) || !strings.Contains(err.Error(), "still stopping") || timeout.Timeout != 300*time.Millisecond {
		t.Errorf("got %v, want a StopTimeoutError", err)
	}
	select {
	case err := <-exited:
		var ws syscall.WaitStatus
		if ee, ok := err.(*exec.ExitError); ok {
			ws, _ = ee.Sys().(syscall.WaitStatus)
		}
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("holder ended with %v, want SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the holder was not signalled")
	}
}
