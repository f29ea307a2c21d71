package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// runHook runs a lifecycle handler (postStart or preStop) in a container
// instance, as the kubelet's handler runner does: exec fails on a non-zero
// exit, sleep waits (ending early when ctx ends). It returns what went
// wrong, for the log; events deliberately carry no details, as the kubelet's.
func (r *runner) runHook(ctx context.Context, live *liveContainer, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := r.execIn(ctx, live, h.Exec.Command, Streams{Stdout: &out, Stderr: &out})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", h.Exec.Command, code, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-r.sup.opts.Clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return nil
	case h.HTTPGet != nil:
		return errors.New("httpGet hooks need the pod network, which podbox does not have yet")
	}
	return errors.New("invalid handler: a lifecycle hook needs exec, httpGet or sleep")
}

// postStart runs the container's postStart hook, if any; the container is
// not reported Running until it returns. A failure kills the instance, which
// is then restarted by the restart policy.
func (r *runner) postStart(c *corev1.Container, live *liveContainer) bool {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return true
	}
	if err := r.runHook(r.ctx, live, c.Lifecycle.PostStart); err != nil {
		r.sup.opts.Log.Warn("postStart hook failed", "pod", r.name, "container", c.Name, "err", err)
		r.event(r.fieldPath(c.Name), warning, "FailedPostStartHook", "PostStartHook failed")
		_ = r.runsc.Kill(context.Background(), live.id, "KILL")
		return false
	}
	return true
}

// preStop runs the container's preStop hook, if any, within the deletion's
// grace budget (it ends when deadline passes).
func (r *runner) preStop(c *corev1.Container, live *liveContainer, deadline time.Time) {
	if c == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.runHook(ctx, live, c.Lifecycle.PreStop) }()
	select {
	case err := <-done:
		if err != nil {
			r.sup.opts.Log.Warn("preStop hook failed", "pod", r.name, "container", c.Name, "err", err)
			r.event(r.fieldPath(c.Name), warning, "FailedPreStopHook", "PreStopHook failed")
		}
	case <-ctx.Done():
		r.event(r.fieldPath(c.Name), warning, "FailedPreStopHook", "PreStop hook not completed in grace period")
	}
}
