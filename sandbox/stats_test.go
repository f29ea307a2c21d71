package sandbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProcessTreeCPU(t *testing.T) {
	proc := t.TempDir()
	write := func(pid, line string) {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
	write("10", "10 (runsc-sandbox) S 1 10 10 0 -1 0 0 0 0 0 100 50 7 3 20 0 1 0")
	write("11", "11 (stub (a) b) S 10 10 10 0 -1 0 0 0 0 0 200 0 0 0 20 0 1 0")
	write("12", "12 (grandchild) S 11 10 10 0 -1 0 0 0 0 0 40 0 0 0 20 0 1 0")
	write("20", "20 (unrelated) S 1 20 20 0 -1 0 0 0 0 0 999 0 0 0 20 0 1 0")
	got, err := processTreeCPU(proc, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := 400 * time.Second / 100; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := processTreeCPU(proc, 99); err == nil {
		t.Error("a missing sandbox process gave no error")
	}
}
