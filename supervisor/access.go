package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"podbox.dev/podbox/sandbox"
)

// pickContainer applies the API's rule: the container may be omitted only
// when the pod has exactly one.
func (r *runner) pickContainer(name string) (*containerRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		if len(r.rec.Containers) != 1 {
			names := make([]string, len(r.rec.Containers))
			for i, c := range r.rec.Containers {
				names[i] = c.Name
			}
			return nil, apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", r.name, strings.Join(names, " ")))
		}
		c := *r.rec.Containers[0]
		return &c, nil
	}
	cr, _ := r.container(name)
	if cr == nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, r.name))
	}
	c := *cr
	return &c, nil
}

// logs serves a container's current log, following it while it runs.
func (r *runner) logs(ctx context.Context, opts LogOptions, w io.Writer) error {
	// One request, one LimitBytes: the count goes on across the instances
	// a follow reads.
	opts.sent = new(int64)
	c, err := r.pickContainer(opts.Container)
	if err != nil {
		return err
	}
	if opts.Previous {
		if c.Last == nil {
			return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", c.Name, r.name))
		}
		opts.Follow = false
		return readLog(ctx, r.logPath(c.Name, c.Last.Attempt), opts, w, func() bool { return true })
	}
	attempt := c.RestartCount
	if !c.Running && !c.Terminated && c.Last != nil {
		// Waiting to restart: the newest instance is the last run.
		attempt = c.Last.Attempt
	} else if !c.Running && !c.Terminated {
		reason := c.WaitingReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", c.Name, r.name, reason))
	}
	for {
		stopped := func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			cur, _ := r.container(c.Name)
			return !cur.Running || cur.RestartCount != attempt
		}
		err = readLog(ctx, r.logPath(c.Name, attempt), opts, w, stopped)
		if errors.Is(err, os.ErrNotExist) {
			return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q has no logs", c.Name, r.name))
		}
		if err != nil || !opts.Follow {
			return err
		}
		// Following: go on with the next instance if the container is
		// restarted, for as long as the client listens.
		next, ok := r.nextInstance(ctx, c.Name, attempt)
		if !ok {
			return nil
		}
		attempt = next
		opts.TailLines = -1
	}
}

// nextInstance waits until a container that has stopped runs again, and
// returns the new instance's attempt number; false if it will not restart
// (or the pod goes away, or ctx ends).
func (r *runner) nextInstance(ctx context.Context, name string, attempt int32) (int32, bool) {
	for {
		r.mu.Lock()
		cur, _ := r.container(name)
		count, running, last := cur.RestartCount, cur.Running, cur.Last
		restarting := !cur.Terminated || shouldRestart(r.rec.Pod.Spec.RestartPolicy, cur.ExitCode) || cur.Kind == kindSidecar
		deleting := r.rec.Pod.DeletionTimestamp != nil
		r.mu.Unlock()
		switch {
		case count > attempt && (running || (last != nil && last.Attempt >= count)):
			return count, true
		case deleting || !restarting:
			return 0, false
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-r.gone:
			return 0, false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// exec runs cmd in a running container with the container's environment,
// working directory and user (as CRI exec does) and returns its exit code.
func (r *runner) exec(ctx context.Context, container string, cmd []string, st Streams) (int, error) {
	c, err := r.pickContainer(container)
	if err != nil {
		return -1, err
	}
	live := r.getLive(c.Name)
	if !c.Running || live == nil {
		return -1, apierrors.NewBadRequest(fmt.Sprintf("unable to upgrade connection: container not found (%q)", c.Name))
	}
	if len(cmd) == 0 {
		return -1, apierrors.NewBadRequest("you must specify at least one command for the container")
	}
	code, err := r.execIn(ctx, live, cmd, st)
	if err != nil {
		return -1, apierrors.NewInternalError(fmt.Errorf("exec in container %q: %w", c.Name, err))
	}
	return code, nil
}

// execIn runs cmd in a container instance, as CRI exec does, and returns
// its exit code. A terminal session goes through runsc exec (which owns the
// pty and forwards signals to its foreground process); everything else —
// probes, hooks, cp, exec without -t — through the sandbox's control socket,
// which costs no runsc process.
func (r *runner) execIn(ctx context.Context, live *liveContainer, cmd []string, st Streams) (int, error) {
	if !st.TTY {
		return r.execPipes(ctx, live, cmd, st)
	}
	procFile, err := r.writeExecProcess(live, cmd)
	if err != nil {
		return -1, err
	}
	defer os.Remove(procFile)
	return r.execTTY(ctx, live, procFile, st)
}

// exitCode turns the outcome of a finished runsc exec into the command's
// exit code (runsc exec exits with it).
func exitCode(x *exec.Cmd, err error) (int, error) {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		return x.ProcessState.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// writeExecProcess writes the process file of a terminal session for
// runsc exec --process.
func (r *runner) writeExecProcess(live *liveContainer, cmd []string) (string, error) {
	p := sandbox.ExecProcess(live.proc, cmd)
	sandbox.WithTerminal(p)
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Join(r.dir, "bundles"), "exec-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.Write(b)
	return f.Name(), err
}
