package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"podbox.dev/podbox/dirs"
)

// testDaemonDirs points the commands at a fresh directory layout.
func testDaemonDirs(t *testing.T) dirs.Dirs {
	base := t.TempDir()
	d := dirs.Dirs{Runtime: filepath.Join(base, "run"), Data: filepath.Join(base, "data")}
	t.Setenv(dirs.EnvRuntimeDir, d.Runtime)
	t.Setenv(dirs.EnvDataDir, d.Data)
	return d
}

func TestDaemonStopNotRunning(t *testing.T) {
	testDaemonDirs(t)
	stdout, stderr, code := podbox(t, nil, "", "daemon", "stop")
	if code != 0 || stdout != "podbox daemon is not running\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// A holder that never lets go of the lock: `daemon stop` gives up after
// --timeout and says how to wait longer.
func TestDaemonStopTimeoutNamesTheFlag(t *testing.T) {
	d := testDaemonDirs(t)
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	// The pid in the lock file is signalled: make it a process of the test's.
	holder := exec.Command("sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	lock, err := os.OpenFile(d.DaemonLock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.WriteString(strconv.Itoa(holder.Process.Pid) + "\n"); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := podbox(t, nil, "", "daemon", "stop", "--timeout", "200ms")
	want := "is still stopping its pods after 200ms; see " + d.DaemonLog() + ", or wait longer with --timeout"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
}
