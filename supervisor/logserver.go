package supervisor

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
)

// The log server is the half of the supervisor that must outlive it. A
// container's stdout and stderr are pipes whose write ends the sentry holds;
// if the process reading the other ends died with a crashed supervisor, the
// container would get EPIPE (and usually die of SIGPIPE). So the supervisor
// hands the read ends, with the log file to write, to a log server running in
// podbox's long-lived namespace holder (see ServeLogs), which writes the CRI
// log whether or not a supervisor is running.

// logRequest is sent with the two pipe ends (stdout, stderr) as SCM_RIGHTS.
type logRequest struct {
	Path string `json:"path"`
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
	oob := make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return err
	}
	fds, err := receivedFDs(oob[:oobn])
	if err != nil {
		return err
	}
	var req logRequest
	if err := json.Unmarshal(buf[:n], &req); err != nil || len(fds) != 2 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return fmt.Errorf("bad log request (%d fds): %v", len(fds), err)
	}
	stdout, stderr := os.NewFile(uintptr(fds[0]), "stdout"), os.NewFile(uintptr(fds[1]), "stderr")
	lf, err := openLog(req.Path, time.Now)
	if err != nil {
		stdout.Close()
		stderr.Close()
		return err
	}
	copyStreams(lf, stdout, stderr)
	// EOF on the connection tells the supervisor the log is complete.
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
func copyStreams(lf *logFile, stdout, stderr *os.File) {
	var wg sync.WaitGroup
	for stream, f := range map[string]*os.File{"stdout": stdout, "stderr": stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lf.copyStream(stream, f)
			f.Close()
		}()
	}
	wg.Wait()
	lf.Close()
}

// sendLogs hands a container instance's stream read ends to the log server
// and returns a channel closed when its log is complete.
func sendLogs(server, path string, stdout, stderr *os.File) (<-chan struct{}, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: server, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("reach the log server: %w", err)
	}
	req, _ := json.Marshal(logRequest{Path: path})
	rights := unix.UnixRights(int(stdout.Fd()), int(stderr.Fd()))
	if _, _, err := c.WriteMsgUnix(req, rights, nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("hand logs to the log server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	return done, nil
}
