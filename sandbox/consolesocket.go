package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ConsoleSocket receives the master end of the pseudo-terminal that
// `runsc run --console-socket` makes for a container whose process has
// `terminal: true` (as containerd's shim does): runsc opens a host pty,
// hands the replica to the sentry as the container's terminal and sends the
// master over the socket as SCM_RIGHTS. The receiver owns the master:
// reading it is the container's output, writing it is its input, and
// Resize on it resizes the terminal.
type ConsoleSocket struct {
	dir string
	l   *net.UnixListener
}

// NewConsoleSocket listens on a fresh socket in a private directory under
// dir. dir should be short: a unix socket path is limited to 107 bytes.
func NewConsoleSocket(dir string) (*ConsoleSocket, error) {
	d, err := os.MkdirTemp(dir, "console-")
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(d, "s"), Net: "unix"})
	if err != nil {
		os.RemoveAll(d)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &ConsoleSocket{dir: d, l: l}, nil
}

// Path is what to pass as --console-socket.
func (c *ConsoleSocket) Path() string { return filepath.Join(c.dir, "s") }

// Receive waits for runsc to send the pty master, until ctx ends.
func (c *ConsoleSocket) Receive(ctx context.Context) (*os.File, error) {
	stop := context.AfterFunc(ctx, func() { c.l.Close() })
	defer stop()
	conn, err := c.l.AcceptUnix()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive the console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive the console: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive the console: got %d file descriptors, want 1", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// Close stops listening and removes the socket.
func (c *ConsoleSocket) Close() error {
	err := c.l.Close()
	os.RemoveAll(c.dir)
	return err
}
