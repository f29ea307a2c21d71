package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PortForward opens a TCP connection to 127.0.0.1:port inside the
// sandbox's network stack and returns it (`runsc port-forward --stream`).
// That loopback exists only in the sentry, so this is the one way to reach
// a service bound to localhost in the pod. sockDir holds the short-lived
// unix socket runsc connects to; its path must stay under the 108-byte
// limit of socket addresses.
//
// runsc connects to the socket, hands its end to the sentry, which dials
// the port, and exits; the accepted end is the connection. If nothing
// listens on the port the sentry closes its end, so the caller sees EOF.
func (r *Runsc) PortForward(ctx context.Context, id string, port uint16, sockDir string) (net.Conn, error) {
	dir, err := os.MkdirTemp(sockDir, "pf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	defer l.Close()

	cmd := r.Command(ctx, "port-forward", "--stream", path, id, strconv.Itoa(int(port)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("runsc port-forward: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	var conn net.Conn
	select {
	case conn = <-accepted:
	case err := <-exited:
		l.Close()
		if c := <-accepted; c != nil {
			c.Close()
		}
		return nil, portForwardError(port, err, stderr.String())
	}
	// The request reached the sentry once runsc exits successfully.
	if err := <-exited; err != nil {
		conn.Close()
		return nil, portForwardError(port, err, stderr.String())
	}
	return conn, nil
}

func portForwardError(port uint16, err error, stderr string) error {
	if err == nil {
		err = fmt.Errorf("runsc exited without connecting")
	}
	return fmt.Errorf("forward to port %d in the pod: %w: %s", port, err, strings.TrimSpace(stderr))
}
