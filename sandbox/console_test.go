package sandbox

import (
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func TestResize(t *testing.T) {
	master, replica, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer replica.Close()
	if err := Resize(master, 120, 40); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(replica.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col != 120 || ws.Row != 40 {
		t.Fatalf("size %+v, %v; want 120x40", ws, err)
	}
	// Resizes may come while the session's end closes the master: they
	// fail from then on (and under -race, none races with the close).
	done := make(chan struct{})
	go func() {
		defer close(done)
		for Resize(master, 80, 24) == nil {
		}
	}()
	master.Close()
	<-done
}
