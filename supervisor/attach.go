package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"podbox.dev/podbox/sandbox"
)

// attachPath is where the log server offers a container instance's stdin.
// It depends only on the instance, so a restarted supervisor finds it. The
// name is a digest of the ID, not the ID: a unix socket path must fit in
// 108 bytes, and an ID with a 63-character container name would not.
func (r *runner) attachPath(id string) string {
	return filepath.Join(r.sup.opts.Dirs.Runtime, "attach", attachName(id))
}

// attachName is 32 hex digits of the SHA-256 of a container instance's ID.
func attachName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// stdinPipe makes the stdin pipe of a container with `stdin: true` (nil
// files otherwise, or without a log server to hold it) and the log request
// that hands its write end to the log server.
func (r *runner) stdinPipe(name string, live *liveContainer) (rd, wr *os.File, lr logRequest, err error) {
	r.mu.Lock()
	_, spec := r.container(name)
	stdin, once := spec != nil && spec.Stdin, spec != nil && spec.StdinOnce
	r.mu.Unlock()
	if !stdin || r.sup.opts.LogServer == "" {
		return nil, nil, lr, nil
	}
	if err := os.MkdirAll(filepath.Dir(r.attachPath(live.id)), 0o700); err != nil {
		return nil, nil, lr, err
	}
	rd, wr, err = os.Pipe()
	if err != nil {
		return nil, nil, lr, err
	}
	return rd, wr, logRequest{Attach: r.attachPath(live.id), StdinOnce: once}, nil
}

// attach connects a client to a running container: its input goes to the
// container's stdin (when the container has `stdin: true`), and the
// container's output from now on (stdout and stderr, from its log) to
// st.Stdout, until the container stops or the client goes away.
func (r *runner) attach(ctx context.Context, container string, st Streams) error {
	c, err := r.pickContainer(container)
	if err != nil {
		return err
	}
	live := r.getLive(c.Name)
	if !c.Running || live == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not running; cannot attach", c.Name))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	_, spec := r.container(c.Name)
	hasStdin, hasTTY := spec.Stdin, spec.TTY
	r.mu.Unlock()
	if st.TTY && !hasTTY {
		return apierrors.NewBadRequest(fmt.Sprintf("container %s did not allocate a TTY (tty: true)", c.Name))
	}
	// The output from now on starts where the log ends before any input
	// reaches the container: what the input makes it print is shown.
	logPath := r.logPath(c.Name, c.RestartCount)
	var from int64
	if fi, err := os.Stat(logPath); err == nil {
		from = fi.Size()
	}
	// The log server hands out the container's stdin, or its terminal
	// (also for resizing).
	if (st.Stdin != nil && hasStdin) || (st.TTY && hasTTY) {
		in, conn, err := attachStdin(r.attachPath(live.id))
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("attach to the stdin of container %q: %w", c.Name, err))
		}
		defer conn.Close()
		if in != nil {
			r.pumpAttach(ctx, in, conn, st, hasTTY)
		}
	}
	out := st.Stdout
	if out == nil {
		out = io.Discard
	}
	stopped := func() bool {
		select {
		case <-live.exited:
			return true
		default:
			return false
		}
	}
	err = readLog(ctx, logPath, LogOptions{Follow: true, from: &from}, out, stopped)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// pumpAttach copies the client's input to the container's stdin (or
// terminal) and applies resizes to its terminal, in the background. When
// the input ends, the stdin is let go of (the log server closes it for good
// with stdinOnce); a terminal is kept until the attach ends, for resizing.
func (r *runner) pumpAttach(ctx context.Context, in *os.File, conn io.Closer, st Streams, tty bool) {
	if st.Stdin != nil {
		go func() {
			_, _ = io.Copy(in, st.Stdin)
			if !tty {
				in.Close()
				conn.Close()
			}
		}()
	}
	if !tty {
		if st.Stdin == nil {
			in.Close()
		}
		return
	}
	go func() {
		defer in.Close()
		for {
			select {
			case sz, ok := <-st.Resize:
				if !ok {
					<-ctx.Done()
					return
				}
				_ = sandbox.Resize(in, sz.Width, sz.Height)
			case <-ctx.Done():
				return
			}
		}
	}()
}
