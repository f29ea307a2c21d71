package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/probes"
)

// runHook runs a lifecycle handler (postStart or preStop) in a container
// instance, as the kubelet's handler runner does: exec fails on a non-zero
// exit, sleep waits (ending early when ctx ends). It returns what went
// wrong, for the log; events deliberately carry no details, as the kubelet's.
func (r *runner) runHook(ctx context.Context, c *corev1.Container, live *liveContainer, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		// Capped as the kubelet caps it: a hook printing gigabytes is
		// drained, not held (it has no timeout; postStart waits for it).
		out := probes.NewCappedBuffer(probes.MaxOutput)
		code, err := r.sup.rt.Exec(ctx, live.id, h.Exec.Command, cri.Streams{Stdout: out, Stderr: out})
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
		return r.httpHook(ctx, c, h.HTTPGet)
	}
	return errors.New("invalid handler: a lifecycle hook needs exec, httpGet or sleep")
}

// httpHook sends a hook's GET to the pod (its IP unless the hook names a
// host), as the kubelet does: the probes' request and client (same-host
// redirects only, 10 KiB of body read, the pod dialer and its rule for the
// host's loopback); only a failure to get a response fails the hook, the
// status code is not checked (kubernetes#56963).
func (r *runner) httpHook(ctx context.Context, c *corev1.Container, h *corev1.HTTPGetAction) error {
	r.mu.Lock()
	podIP := r.rec.PodIP
	r.mu.Unlock()
	if h.Host == "" && podIP == "" {
		return errors.New("httpGet hook: the pod has no IP (the pod network is unavailable)")
	}
	get, err := probes.NewHTTPGet(h, c, podIP, probes.LifecycleUserAgent, 0, r.sup.rt.Dial)
	if err != nil {
		return err
	}
	if status, _, err := get.Get(ctx); err != nil && status == 0 {
		return err
	}
	return nil
}

// postStart runs the container's postStart hook, if any; the container is
// not reported Running until it returns. A failure kills the instance, which
// is then restarted by the restart policy.
func (r *runner) postStart(c *corev1.Container, live *liveContainer) bool {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return true
	}
	if err := r.runHook(r.ctx, c, live, c.Lifecycle.PostStart); err != nil {
		r.sup.opts.Log.Warn("postStart hook failed", "pod", r.name, "container", c.Name, "err", err)
		r.event(r.fieldPath(c.Name), warning, "FailedPostStartHook", "PostStartHook failed")
		_ = r.killAll(live)
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
	// The deadline is on the supervisor's clock (a fake one in tests), so
	// the hook's context ends by that clock, not by the wall's.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-r.sup.opts.Clock.After(deadline.Sub(r.sup.opts.Clock.Now())):
			cancel()
		}
	}()
	done := make(chan error, 1)
	go func() { done <- r.runHook(ctx, c, live, c.Lifecycle.PreStop) }()
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
