package supervisor

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/probes"
)

// runHook runs a lifecycle handler (postStart or preStop) in a container
// instance, as the kubelet's handler runner does: exec fails on a non-zero
// exit, sleep waits (ending early when ctx ends). It returns what went
// wrong, for the log; events deliberately carry no details, as the kubelet's.
func (r *runner) runHook(ctx context.Context, c *corev1.Container, live *liveContainer, h *corev1.LifecycleHandler) error {
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
		return r.httpHook(ctx, c, h.HTTPGet)
	}
	return errors.New("invalid handler: a lifecycle hook needs exec, httpGet or sleep")
}

// httpHook sends a hook's GET to the pod (its IP unless the hook names a
// host), as the kubelet does: only a failure to get a response fails the
// hook; the status code is not checked (kubernetes#56963).
func (r *runner) httpHook(ctx context.Context, c *corev1.Container, h *corev1.HTTPGetAction) error {
	port, err := probes.ResolvePort(h.Port, c)
	if err != nil {
		return err
	}
	host := h.Host
	if host == "" {
		r.mu.Lock()
		host = r.rec.PodIP
		r.mu.Unlock()
	}
	if host == "" {
		return errors.New("httpGet hook: the pod has no IP (the pod network is unavailable)")
	}
	scheme := "http"
	if h.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-lifecycle/"+probes.UserAgent[len("kube-probe/"):])
	for _, hd := range h.HTTPHeaders {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:     r.sup.dialPod,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
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
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
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
