package gvisor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"podbox.dev/podbox/cri/crilog"
)

// The log server is the half of the runtime that must outlive the
// supervisor it runs in. A container's stdout and stderr are pipes whose
// write ends the sentry holds; if the process reading the other ends died
// with a crashed supervisor, the container would get EPIPE (and usually die
// of SIGPIPE). So the runtime hands the read ends, with the log file to write, to a log server running in
// podbox's long-lived namespace holder (see ServeLogs), which writes the CRI
// log whether or not a supervisor is running.

// logRequest is sent with the two pipe ends (stdout, stderr) as SCM_RIGHTS.
type logRequest struct {
	Path string `json:"path"`
	// Attach, for a container with `stdin: true`, is where the log server
	// offers the container's stdin (sent as a third fd, the pipe's write
	// end) to attaching clients; see serveStdin.
	Attach    string `json:"attach,omitempty"`
	StdinOnce bool   `json:"stdinOnce,omitempty"`
	// TTY: the only fd is the master of the container's terminal; its
	// output is the container's stdout, and attach clients get it to
	// write input to and resize.
	TTY bool `json:"tty,omitempty"`
}

// ServeLogs accepts log requests on a unix socket at path until ctx ends.
// Each connection carries one container instance's stdout and stderr; it is
// closed when both streams have ended and the log file is complete.
func ServeLogs(ctx context.Context, path string, log *slog.Logger) error {
	_ = os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("log server: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return err
	}
	go func() { <-ctx.Done(); l.Close() }()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("log server: %w", err)
		}
		go func() {
			if err := serveLogConn(c); err != nil {
				log.Warn("container log", "err", err)
			}
		}()
	}
}

func serveLogConn(c *net.UnixConn) error {
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return err
	}
	fds, err := receivedFDs(oob[:oobn])
	if err != nil {
		return err
	}
	var req logRequest
	err = json.Unmarshal(buf[:n], &req)
	if err == nil && req.TTY && len(fds) == 1 {
		return serveTerminal(req, os.NewFile(uintptr(fds[0]), "pty-master"))
	}
	if err != nil || len(fds) != 2 && (len(fds) != 3 || req.Attach == "") {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return fmt.Errorf("bad log request (%d fds): %v", len(fds), err)
	}
	stdout, stderr := os.NewFile(uintptr(fds[0]), "stdout"), os.NewFile(uintptr(fds[1]), "stderr")
	lf, err := crilog.Open(req.Path, time.Now)
	if err != nil {
		stdout.Close()
		stderr.Close()
		return err
	}
	if len(fds) == 3 {
		stdin := os.NewFile(uintptr(fds[2]), "stdin")
		done := make(chan struct{})
		defer close(done)
		go serveStdin(req.Attach, stdin, req.StdinOnce, done)
	}
	copyStreams(lf, stdout, stderr)
	// EOF on the connection tells the runtime the log is complete.
	return nil
}

func receivedFDs(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// copyStreams writes both streams to the log until both end, then closes
// everything.
func copyStreams(lf *crilog.File, stdout, stderr *os.File) {
	var wg sync.WaitGroup
	for stream, f := range map[string]*os.File{"stdout": stdout, "stderr": stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lf.CopyStream(stream, f)
			f.Close()
		}()
	}
	wg.Wait()
	lf.Close()
}

// sendLogs hands a container instance's stream read ends to the log server
// and returns a channel closed when its log is complete.
func sendLogs(server string, lr logRequest, stdout, stderr, stdin *os.File) (<-chan struct{}, error) {
	fds := []int{int(stdout.Fd()), int(stderr.Fd())}
	if stdin != nil {
		fds = append(fds, int(stdin.Fd()))
	}
	return handOver(server, lr, fds, "logs")
}

// handOver sends a request and descriptors to the log server; the returned
// channel is closed when the server closes the connection (the log is
// complete). what names the descriptors in errors.
func handOver(server string, lr logRequest, fds []int, what string) (<-chan struct{}, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: server, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("reach the log server: %w", err)
	}
	req, _ := json.Marshal(lr)
	if _, _, err := c.WriteMsgUnix(req, unix.UnixRights(fds...), nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("hand the %s to the log server: %w", what, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	return done, nil
}

// serveStdin holds a container's stdin (the write end of its pipe) for as
// long as the container's output flows (until done), so that the container
// keeps its stdin open across supervisor restarts, as `stdin: true` asks.
// Each connection to the attach socket receives a copy of it (SCM_RIGHTS)
// to write the client's input to; when an attach that received it ends
// and stdinOnce is set, the log server closes its own copy, so the
// container reads EOF once the attached client's input has ended.
func serveStdin(path string, stdin *os.File, stdinOnce bool, done <-chan struct{}) {
	_ = os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		stdin.Close()
		return
	}
	var mu sync.Mutex
	closeStdin := func() {
		mu.Lock()
		defer mu.Unlock()
		if stdin != nil {
			stdin.Close()
			stdin = nil
		}
	}
	go func() {
		<-done
		l.Close()
		closeStdin()
	}()
	defer os.Remove(path)
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		mu.Lock()
		var sent bool
		if stdin != nil {
			_, _, err := c.WriteMsgUnix([]byte{'s'}, unix.UnixRights(int(stdin.Fd())), nil)
			sent = err == nil
		} else {
			_, _ = c.Write([]byte{'x'}) // stdin already closed (stdinOnce)
		}
		mu.Unlock()
		go func() {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
			if sent && stdinOnce {
				closeStdin()
			}
		}()
	}
}

// attachStdin connects to a container's attach socket and returns its
// stdin to write to, and the connection whose closing ends the attach.
// It returns nil for a stdin that is already closed (stdinOnce).
func attachStdin(path string) (*os.File, *net.UnixConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	fds, err := receivedFDs(oob[:oobn])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, c, nil
	}
	return os.NewFile(uintptr(fds[0]), "stdin"), c, nil
}

// serveTerminal logs a terminal's output until the container has closed it
// (reads of a master fail with EIO then), offering it to attach clients
// meanwhile.
func serveTerminal(req logRequest, master *os.File) error {
	lf, err := crilog.Open(req.Path, time.Now)
	if err != nil {
		master.Close()
		return err
	}
	if req.Attach != "" {
		if dup, err := dupFile(master); err == nil {
			done := make(chan struct{})
			defer close(done)
			go serveStdin(req.Attach, dup, false, done)
		}
	}
	copyTerminal(lf, master)
	return nil
}

// copyTerminal writes a terminal's output to the log as stdout, then closes
// both.
func copyTerminal(lf *crilog.File, master *os.File) {
	lf.CopyStream("stdout", master)
	master.Close()
	lf.Close()
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// sendTerminal hands a container's terminal master to the log server and
// returns a channel closed when its log is complete.
func sendTerminal(server string, lr logRequest, master *os.File) (<-chan struct{}, error) {
	return handOver(server, lr, []int{int(master.Fd())}, "terminal")
}
