package main

import (
	"bytes"
	"context"
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

func TestDaemonStopNotRunning(t *testing.T) {
	base := t.TempDir()
	d := dirs.Dirs{Runtime: filepath.Join(base, "run"), Data: filepath.Join(base, "data")}
	check := func(when string) {
		t.Helper()
		var out bytes.Buffer
		if err := stopDaemon(context.Background(), d, time.Second, &out); err != nil || strings.TrimSpace(out.String()) != daemonNotRunning {
			t.Errorf("%s: %v, %q", when, err, out.String())
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

// A holder that takes SIGTERM but never releases the lock: stop signals the
// pid in the lock file, then gives up after its timeout, saying so.
func TestDaemonStopSignalsHolderAndTimesOut(t *testing.T) {
	base := t.TempDir()
	d := dirs.Dirs{Runtime: filepath.Join(base, "run"), Data: filepath.Join(base, "data")}
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
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	lock.WriteString(strconv.Itoa(holder.Process.Pid) + "\n")

	err = stopDaemon(context.Background(), d, 300*time.Millisecond, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "still stopping") || !strings.Contains(err.Error(), "--timeout") {
		t.Errorf("got %v, want a timeout naming --timeout", err)
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
