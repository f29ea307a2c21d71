package supervisor

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/probes"
)

// This file connects the probes package to the pod: the supervisor runs
// every probe from outside the sandbox. exec probes run in the container
// (the runtime's Exec); HTTP, TCP and gRPC probes dial the pod's IP (the
// runtime's Dial).

// startProbes starts the probers of a container with probes, once for the
// runner's life: a new instance (a new container ID) resets its workers.
func (r *runner) startProbes(c *corev1.Container) {
	if c.StartupProbe == nil && c.LivenessProbe == nil && c.ReadinessProbe == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctrs[c.Name].prober != nil || r.ctx.Err() != nil {
		return
	}
	name := c.Name
	r.ctrs[name].prober = probes.NewContainerProber(probes.ContainerConfig{
		Container:      c,
		NeverRestarted: r.rec.Pod.Spec.RestartPolicy == corev1.RestartPolicyNever && !isSidecar(c),
		Clock:          r.sup.opts.Clock,
		State:          func() probes.ContainerState { return r.probeState(name) },
		Target:         func() probes.Target { return r.probeTarget(c) },
		OnResult:       func(u probes.Update) { r.onProbeResult(c, u) },
		OnEvent:        func(e probes.Event) { r.event(r.fieldPath(name), corev1.EventTypeWarning, e.Reason, e.Message) },
	})
}

func (r *runner) probeState(name string) probes.ContainerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	cr, _ := r.container(name)
	return probes.ContainerState{
		ID:             cr.ContainerID,
		Running:        cr.Running,
		StartedAt:      cr.StartedAt,
		Terminated:     cr.Terminated,
		PodTerminating: r.rec.Pod.DeletionTimestamp != nil,
		PodFinished:    r.rec.Phase == corev1.PodSucceeded || r.rec.Phase == corev1.PodFailed,
	}
}

func (r *runner) probeTarget(c *corev1.Container) probes.Target {
	r.mu.Lock()
	ip := r.rec.PodIP
	r.mu.Unlock()
	return probes.Target{
		PodIP:     ip,
		Container: c,
		Dial:      r.sup.rt.Dial,
		Exec: func(ctx context.Context, cmd []string) ([]byte, int, error) {
			live := r.getLive(c.Name)
			if live == nil {
				return nil, -1, errNotRunning
			}
			// Capped: a probe printing without end (cat /dev/zero) must
			// not grow the supervisor; the rest is drained and dropped.
			out := probes.NewCappedBuffer(probes.MaxOutput)
			code, err := r.sup.rt.Exec(ctx, live.id, cmd, cri.Streams{Stdout: out, Stderr: out})
			return out.Bytes(), code, err
		},
	}
}

// onProbeResult records readiness and startup results for the current
// instance; a failed liveness or startup probe marks the instance unhealthy
// and wakes the pod's loop, which kills it (killUnhealthy) so that the
// restart policy restarts it.
func (r *runner) onProbeResult(c *corev1.Container, u probes.Update) {
	unhealthy := false
	r.update(func(rec *podRecord) {
		cr, _ := r.container(c.Name)
		if cr.ContainerID != u.ContainerID {
			return // about an instance that is gone
		}
		switch u.Type {
		case probes.Readiness:
			cr.ProbeReady = u.Result == probes.Success
		case probes.Startup:
			cr.ProbeStarted = u.Result == probes.Success
		}
		if u.Result == probes.Failure && u.Type != probes.Readiness && cr.Running && rec.Pod.DeletionTimestamp == nil {
			f := &r.ctrs[c.Name].containerFacts
			f.unhealthyID, f.unhealthyType = cr.ContainerID, u.Type
			unhealthy = true
		}
	})
	if unhealthy {
		r.kick()
	}
}

// killInstance stops one instance: its stop signal, then SIGKILL after
// grace. Its exit is handled like any other (restart policy).
func (r *runner) killInstance(l *liveContainer, grace time.Duration) {
	_ = r.sup.rt.StopContainer(context.Background(), l.id, l.stopSignal)
	select {
	case <-l.exited:
	case <-r.sup.opts.Clock.After(grace):
		_ = r.killAll(l)
	}
}

// stopProbes stops probers: liveness and startup only, while a pod
// terminates (readiness goes on), or all of them.
func (r *runner) stopProbes(all bool) {
	r.mu.Lock()
	var ps []*probes.ContainerProber
	for _, c := range r.ctrs {
		if c.prober != nil {
			ps = append(ps, c.prober)
		}
	}
	r.mu.Unlock()
	for _, p := range ps {
		if all {
			p.Stop()
		} else {
			p.StopLivenessAndStartup()
		}
	}
}
