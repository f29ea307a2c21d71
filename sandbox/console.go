package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// StartOnTerminal starts a `runsc exec` of a process with `terminal: true`
// on a new host pseudo-terminal and returns the terminal's master. This is
// what `runsc exec --detach --console-socket` does in its child (and so what
// containerd's shim gets), without the detached child whose exit status
// only a subreaper could collect: runsc runs with the pty replica as its
// stdio and controlling terminal, hands the replica to the sentry as the
// process's terminal, and forwards the signals it gets (SIGWINCH when the
// master is resized, see Resize) to the process's foreground group. The
// caller owns the master: reading it is the process's output, writing it
// is its input. cmd.Wait reports the process's exit status.
func StartOnTerminal(cmd *exec.Cmd) (*os.File, error) {
	master, replica, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	defer replica.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = replica, replica, replica
	// Ctty is the child's fd 0, the replica.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		return nil, err
	}
	return master, nil
}

// Resize sets the size of the terminal whose master is f. It may run while
// the session's end closes f, so it holds the descriptor through f's own
// reference count (f.Fd does not: the number could be closed, even reused,
// before the ioctl) and fails once f is closed.
func Resize(f *os.File, width, height uint16) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := conn.Control(func(fd uintptr) {
		err = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: width, Row: height})
	}); cerr != nil {
		return cerr
	}
	return err
}

// WithTerminal makes p run on a terminal, as containerd's oci.WithTTY does:
// `terminal: true`, and TERM=xterm unless the process sets TERM itself.
func WithTerminal(p *specs.Process) {
	p.Terminal = true
	for _, e := range p.Env {
		if strings.HasPrefix(e, "TERM=") {
			return
		}
	}
	p.Env = append(slices.Clip(p.Env), "TERM=xterm")
}
