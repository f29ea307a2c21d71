package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"podbox.dev/podbox/cri"
)

// attach connects a client to a running container: its input goes to the
// container's stdin (when the container has `stdin: true`), and the
// container's output from now on (stdout and stderr, from its log) to
// st.Stdout, until the container stops or the client goes away.
func (r *runner) attach(ctx context.Context, container string, st cri.Streams) error {
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
	// The runtime connects the input to the container's stdin, or its
	// terminal (also for resizing), until ctx ends.
	if (st.Stdin != nil && hasStdin) || (st.TTY && hasTTY) {
		if err := r.sup.rt.Attach(ctx, live.id, st); err != nil {
			return apierrors.NewInternalError(fmt.Errorf("attach to the stdin of container %q: %w", c.Name, err))
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
