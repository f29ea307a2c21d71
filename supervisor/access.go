package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"podbox.dev/podbox/cri"
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
func (r *runner) exec(ctx context.Context, container string, cmd []string, st cri.Streams) (int, error) {
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
	code, err := r.sup.rt.Exec(ctx, live.id, cmd, st)
	if err != nil {
		return -1, apierrors.NewInternalError(fmt.Errorf("exec in container %q: %w", c.Name, err))
	}
	return code, nil
}
