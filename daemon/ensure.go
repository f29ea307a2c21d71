package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"podbox.dev/podbox/dirs"
)

// startTimeout bounds how long Ensure waits for a daemon it started to
// answer.
const startTimeout = 20 * time.Second

// Ensure makes sure the user's daemon answers on its socket, starting
// `podbox daemon` in the background (in its own session, its output appended
// to the daemon log) if it does not. If that daemon dies on start, its own
// explanation (a host check, say) is returned. A refusal of the socket (an
// error that dirs.IsUnsafe) is returned as it is: no daemon is started then.
func Ensure(ctx context.Context, d dirs.Dirs) error {
	if err := Ping(d); err == nil || dirs.IsUnsafe(err) {
		return err
	}
	if err := d.Ensure(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(d.DaemonLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(exe, Command)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the podbox supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(startTimeout)
	for {
		if err := Ping(d); err == nil || dirs.IsUnsafe(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("the podbox supervisor did not answer within %s; see %s", startTimeout, d.DaemonLog())
		case <-exited:
			out := logSince(d.DaemonLog(), offset)
			if bytes.Contains(out, []byte(errAlreadyRunning.Error())) {
				// Another command started it at the same moment: use that one.
				exited = nil
				continue
			}
			return fmt.Errorf("the podbox supervisor failed to start:\n%s", bytes.TrimSpace(out))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Ping connects to the daemon's socket (through the ownership checks of
// dirs.DialSocket) and hangs up. An error that dirs.IsUnsafe is a refusal to
// be reported; any other means that no daemon answers.
func Ping(d dirs.Dirs) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := dirs.DialSocket(ctx, d.Socket())
	if err != nil {
		return err
	}
	return c.Close()
}

// logSince is what was appended to the file at path after offset (all of
// it if it has shrunk since).
func logSince(path string, offset int64) []byte {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return b
	}
	return b[offset:]
}
