package supervisor

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/probes"
)

// This file is the pod's loop: one goroutine per pod that asks
// computePodActions (decide.go) what to do, does it, and waits for the next
// event. Everything that changes what a pod needs comes in as an event (a
// kick): a container instance exited (watch), a probe found one unhealthy
// (onProbeResult), a ConfigMap or Secret changed, the pod is being deleted
// or the supervisor is shutting down; timers (back-off end, start retry,
// active deadline) wake it too. So "what happens when a container exits" is
// here and in decide.go: watch records the exit and kicks the loop, the
// decision says restart now, wait for the back-off, or stop the pod.
//
// Actions run one at a time, as in the kubelet's pod worker: an image pull
// or a postStart hook holds up the pod's other starts, never its deletion
// (r.ctx ends them). When the loop ends (deletion or shutdown), it runs the
// teardown itself, so no start can overlap a teardown.

// containerFacts are what the runner knows about a container beyond its
// record, for the decision (part of container).
type containerFacts struct {
	// unhealthyID is the instance whose liveness or startup probe failed;
	// killingID the instance being killed for it.
	unhealthyID, killingID string
	unhealthyType          probes.Type
	// startBlocked: the last start failed; retryAt is when to retry (zero:
	// never, until the pod starts again).
	startBlocked bool
	retryAt      time.Time
}

// kick wakes the loop to compute the pod's actions again.
func (r *runner) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop drives the pod until it is deleted or the supervisor shuts down.
func (r *runner) loop() {
	defer close(r.loopDone)
	r.mu.Lock()
	end, ok := activeDeadline(&r.rec.Pod.Spec, r.rec.StartTime)
	r.mu.Unlock()
	if ok {
		go r.interruptAtDeadline(end)
	}
	for !r.ending() {
		a := computePodActions(r.view(), r.sup.opts.Clock.Now())
		if a.empty() {
			r.idle(a.Wake)
			continue
		}
		r.execute(&a)
	}
	if r.deleting() {
		r.teardown()
		return
	}
	r.shutdown()
}

// ending reports whether the loop must stop: the pod is being deleted or
// the supervisor shuts down.
func (r *runner) ending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.Pod.DeletionTimestamp != nil || r.shuttingDown
}

// idle waits for a kick, or until wake (zero: no timer).
func (r *runner) idle(wake time.Time) {
	var fired <-chan time.Time
	if !wake.IsZero() {
		t := r.sup.opts.Clock.NewTimer(wake.Sub(r.sup.opts.Clock.Now()))
		defer t.Stop()
		fired = t.C()
	}
	select {
	case <-r.wake:
	case <-fired:
	}
}

// interruptAtDeadline ends whatever the pod is doing when its active
// deadline passes (an image pull, a hook), so the loop can stop the pod.
func (r *runner) interruptAtDeadline(end time.Time) {
	select {
	case <-r.loopDone:
		return
	case <-r.sup.opts.Clock.After(end.Sub(r.sup.opts.Clock.Now())):
	}
	r.cancel()
	r.kick()
}

// view copies what computePodActions needs, under the lock.
func (r *runner) view() *podView {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.rec
	v := &podView{
		spec:             &rec.Pod.Spec,
		phase:            rec.Phase,
		sandboxReady:     rec.SandboxReady,
		sandboxFailed:    r.sandboxFailed,
		deleting:         rec.Pod.DeletionTimestamp != nil,
		startTime:        rec.StartTime,
		deadlineExceeded: rec.Reason == reasonDeadlineExceeded,
	}
	see := func(c *containerRecord) containerView {
		cv := containerView{containerRecord: *c}
		f := &r.ctrs[c.Name].containerFacts
		cv.unhealthy = c.ContainerID != "" && f.unhealthyID == c.ContainerID && f.killingID != c.ContainerID
		cv.startBlocked, cv.retryAt = f.startBlocked, f.retryAt
		return cv
	}
	for _, c := range rec.InitContainers {
		v.inits = append(v.inits, see(c))
	}
	for _, c := range rec.Containers {
		v.apps = append(v.apps, see(c))
	}
	return v
}

// execute does one sync's actions, in the order podActions gives.
func (r *runner) execute(a *podActions) {
	switch a.Stop {
	case stopFinished:
		r.stopSandbox()
		return
	case stopDeadline:
		r.exceedDeadline()
		return
	}
	if a.CreateSandbox {
		r.createSandbox()
		return
	}
	for _, name := range a.Kill {
		r.killUnhealthy(name)
	}
	for _, b := range a.BackOff {
		r.showBackOff(b)
	}
	if a.StartInit != "" {
		r.startOne(a.StartInit)
	}
	for _, name := range a.Start {
		if r.ctx.Err() != nil {
			return
		}
		r.startOne(name)
	}
}

// sandboxActions create a pod's sandbox, in order.
var sandboxActions = []action{
	{"prepare volumes", (*runner).prepareVolumes},
	{"run pod sandbox", (*runner).runSandbox},
}

// action is one step of creating a pod's sandbox. The first error stops
// the creation (the step has already recorded what the user should see).
type action struct {
	name string
	run  func(r *runner) error
}

// createSandbox runs the sandbox actions; the first image is pulled
// meanwhile. A failure is not retried (the containers show it).
func (r *runner) createSandbox() {
	r.prefetchFirstImage()
	for _, a := range sandboxActions {
		if r.ctx.Err() != nil {
			return
		}
		if err := a.run(r); err != nil {
			r.sup.opts.Log.Warn("pod start stopped", "pod", r.name, "step", a.name, "err", err)
			r.mu.Lock()
			r.sandboxFailed = true
			r.mu.Unlock()
			return
		}
	}
}

// startOne starts a container: a new instance replaces an exited one
// (after its back-off, which the decision has waited for), then the image
// is made ready and the instance started. A failed start is shown on the
// container and blocks it: a missing ConfigMap, Secret or key is retried
// every configRetryInterval, anything else is not retried.
func (r *runner) startOne(name string) {
	r.mu.Lock()
	cr, spec := r.container(name)
	_, exited := cr.finished()
	r.mu.Unlock()
	if exited {
		r.replaceInstance(name)
	}
	err := r.prepareImage(spec) // shows its own errors
	if err == nil {
		err = r.ctx.Err()
	}
	var cfg errConfig
	var shown errShown
	if err == nil {
		err = r.startContainer(spec)
		if err != nil && !errors.As(err, &cfg) && !errors.As(err, &shown) {
			r.waitingError(name, "RunContainerError", err)
		}
	}
	r.mu.Lock()
	f := &r.ctrs[name].containerFacts
	f.startBlocked, f.retryAt = err != nil, time.Time{}
	if errors.As(err, &cfg) {
		f.retryAt = r.sup.opts.Clock.Now().Add(configRetryInterval)
	}
	r.mu.Unlock()
	if err == nil && !r.isInit(spec) {
		r.update(func(rec *podRecord) { rec.Initialized = true })
	}
}

// errConfig is a start that failed for want of a ConfigMap, Secret or key:
// retried until it appears.
type errConfig struct{ err error }

func (e errConfig) Error() string { return e.err.Error() }
func (e errConfig) Unwrap() error { return e.err }

// errShown is a failed start whose reason the container already shows.
type errShown struct{ err error }

func (e errShown) Error() string { return e.err.Error() }
func (e errShown) Unwrap() error { return e.err }

// showBackOff shows a container waiting for its crash loop back-off as the
// kubelet's doBackOff does: the BackOff event, and the container waiting
// in CrashLoopBackOff with the crashed instance as its last state.
func (r *runner) showBackOff(b backOff) {
	p := r.rec.Pod
	r.event(r.fieldPath(b.Name), warning, "BackOff", fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", b.Name, p.Name, p.Namespace, p.UID))
	r.update(func(rec *podRecord) {
		c, _ := r.container(b.Name)
		c.Last = c.current()
		c.Terminated = false
		c.WaitingReason = "CrashLoopBackOff"
		c.WaitingMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", b.Delay, b.Name, p.Name, p.Namespace, p.UID)
	})
}

// replaceInstance removes the exited instance from the runtime and makes
// the container's record that of a new instance, the old one as lastState,
// with the crash loop back-off this restart puts in force.
func (r *runner) replaceInstance(name string) {
	if old := r.getLive(name); old != nil {
		r.removeInstance(old)
	}
	now := r.sup.opts.Clock.Now()
	r.update(func(rec *podRecord) {
		c, _ := r.container(name)
		if fin, ok := c.finished(); ok {
			c.Backoff, c.BackoffAt = nextBackoff(c, fin), now
		}
		if c.Terminated {
			c.Last = c.current()
		}
		*c = c.newInstance(c.RestartCount+1, c.Last)
	})
}

// killUnhealthy kills an instance whose liveness or startup probe failed,
// with the probe's grace period, so that the restart policy restarts it.
func (r *runner) killUnhealthy(name string) {
	r.mu.Lock()
	cr, c := r.container(name)
	f := &r.ctrs[name].containerFacts
	f.killingID = cr.ContainerID
	t := f.unhealthyType
	live := r.ctrs[name].live
	r.mu.Unlock()
	if live == nil {
		return
	}
	probe := c.LivenessProbe
	if t == probes.Startup {
		probe = c.StartupProbe
	}
	restart := r.rec.Pod.Spec.RestartPolicy != corev1.RestartPolicyNever
	r.event(r.fieldPath(name), corev1.EventTypeNormal, "Killing", probes.KillMessage(name, t, restart))
	grace := time.Duration(probes.KillGracePeriod(r.rec.Pod, probe, t)) * time.Second
	go r.killInstance(live, max(grace, minGrace))
}

// exceedDeadline ends the pod when it has been active longer than
// activeDeadlineSeconds, as the kubelet does: phase Failed, reason
// DeadlineExceeded, its containers stopped with the pod's grace period and
// its sandbox removed.
func (r *runner) exceedDeadline() {
	const msg = "Pod was active on the node longer than the specified deadline"
	r.event("", warning, reasonDeadlineExceeded, msg)
	r.update(func(rec *podRecord) {
		rec.Reason, rec.Message = reasonDeadlineExceeded, msg
	})
	r.cancel()
	r.setKillDeadline(terminationGrace(&r.rec.Pod.Spec))
	r.stopInOrder(r.liveContainers())
	r.stopSandbox()
}

const reasonDeadlineExceeded = "DeadlineExceeded"
