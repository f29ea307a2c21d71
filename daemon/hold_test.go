package daemon

import (
	"errors"
	"os"
	"testing"
)

// The lock the holder takes is what Stop reads: one holder per user, its
// pid in the file, free again when the holder has gone.
func TestLockDaemon(t *testing.T) {
	d := testDirs(t)
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.DaemonLock(), []byte("123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lock, err := lockDaemon(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDaemon(d); !errors.Is(err, errAlreadyRunning) {
		t.Errorf("second lock: %v, want errAlreadyRunning", err)
	}
	f, err := os.Open(d.DaemonLock())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if lockFree(f) {
		t.Error("the lock looks free while held")
	}
	if pid, err := holderPID(f); err != nil || pid != os.Getpid() {
		t.Errorf("holder pid %d, %v; want %d (the stale longer pid overwritten)", pid, err, os.Getpid())
	}
	lock.Close()
	if !lockFree(f) {
		t.Error("the lock looks held after the holder closed it")
	}
}
