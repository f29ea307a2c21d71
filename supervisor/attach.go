package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// attachPath is where the log server offers a container instance's stdin.
// It depends only on the instance, so a restarted supervisor finds it.
func (r *runner) attachPath(id string) string {
	return filepath.Join(r.sup.opts.Dirs.Runtime, "attach", id)
}

// stdinPipe makes the stdin pipe of a container with `stdin: true` (nil
// files otherwise, or without a log server to hold it) and the log request
// that hands its write end to the log server.
func (r *runner) stdinPipe(name string, restart int32, live *liveContainer) (rd, wr *os.File, lr logRequest, err error) {
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
	if st.Stdin != nil {
		r.mu.Lock()
		_, spec := r.container(c.Name)
		hasStdin := spec.Stdin
		r.mu.Unlock()
		if hasStdin {
			stdin, conn, err := attachStdin(r.attachPath(live.id))
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("attach to the stdin of container %q: %w", c.Name, err))
			}
			defer conn.Close()
			if stdin != nil {
				go func() {
					_, _ = io.Copy(stdin, st.Stdin)
					// The client's input ended: let go of stdin (the log
					// server closes it for good with stdinOnce).
					stdin.Close()
					conn.Close()
				}()
			}
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
	// From the end of the log on, as the output a terminal would show now.
	err = readLog(ctx, r.logPath(c.Name, c.RestartCount), LogOptions{Follow: true, TailLines: 0}, out, stopped)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
