package supervisor

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// This file is the pod's brain: computePodActions compares what the pod's
// spec asks for with what its record says happened, and returns what to do
// now. It is pure (no runtime, no lock, no clock but the time it is given),
// so every rule of the kubelet it follows is unit-tested in decide_test.go.
// The pod's loop (loop.go) executes the actions and calls it again after
// every event: a container exit, a probe result, a timer, a deletion.

// podView is what computePodActions looks at: a copy of the pod's record
// and of the runner's facts about its containers, taken under the lock.
type podView struct {
	spec *corev1.PodSpec
	// phase is the record's phase; a terminal phase never changes.
	phase corev1.PodPhase
	// sandboxReady: the sandbox runs; sandboxFailed: creating it failed
	// (the failure is shown on the containers and is not retried).
	sandboxReady, sandboxFailed bool
	// deleting: the pod has a deletionTimestamp (deletion is executed by
	// the loop's teardown, not by the actions).
	deleting bool
	// startTime is when the pod was accepted; the active deadline counts
	// from it. deadlineExceeded is set once the deadline ended the pod.
	startTime        time.Time
	deadlineExceeded bool
	inits, apps      []containerView
}

// containerView is one container's record and the runner's transient facts
// about it.
type containerView struct {
	containerRecord
	// unhealthy: the current instance failed its liveness or startup
	// probe and has not been killed for it yet.
	unhealthy bool
	// startBlocked: the last start of this instance failed (the container
	// shows why); retryAt is when to try again (zero: not until the pod is
	// started again, as the kubelet leaves a RunContainerError).
	startBlocked bool
	retryAt      time.Time
}

// stopReason says why every container of the pod must stop.
type stopReason string

const (
	stopNone     stopReason = ""
	stopFinished stopReason = "finished" // the phase is terminal: nothing runs again
	stopDeadline stopReason = "deadline" // activeDeadlineSeconds passed
)

// podActions is what one sync does, in this order: stop the pod, or create
// its sandbox, or start the next init container; kill unhealthy containers;
// show back-offs; start containers.
type podActions struct {
	Stop          stopReason
	CreateSandbox bool
	// StartInit is the init container (regular or sidecar) to start next.
	StartInit string
	// Kill are running containers whose liveness or startup probe failed.
	Kill []string
	// BackOff are exited containers whose restart waits for the crash
	// loop back-off, with the time it ends.
	BackOff []backOff
	// Start are app containers and sidecars to start (or restart) now, in
	// spec order.
	Start []string
	// Wake is when to sync again if nothing happens first (the earliest
	// back-off end, start retry or active deadline); zero for never.
	Wake time.Time
}

type backOff struct {
	Name  string
	Until time.Time
	// Delay is the back-off's length, for the CrashLoopBackOff message.
	Delay time.Duration
}

// empty reports whether the actions do nothing now (Wake aside).
func (a *podActions) empty() bool {
	return a.Stop == stopNone && !a.CreateSandbox && a.StartInit == "" && len(a.Kill) == 0 && len(a.BackOff) == 0 && len(a.Start) == 0
}

func (a *podActions) wakeAt(t time.Time) {
	if !t.IsZero() && (a.Wake.IsZero() || t.Before(a.Wake)) {
		a.Wake = t
	}
}

// computePodActions is the kubelet's computePodActions for one pod of
// podbox: what to do now, given the spec, the record and the time.
func computePodActions(v *podView, now time.Time) podActions {
	var a podActions
	if v.deleting {
		return a // deletion is the teardown's
	}
	if v.phase == corev1.PodSucceeded || v.phase == corev1.PodFailed || v.deadlineExceeded {
		// Done for good (every app container exited and none restarts, an
		// init container failed under restartPolicy Never, or the
		// deadline passed): what still runs is stopped, once.
		switch {
		case !v.sandboxReady:
		case v.deadlineExceeded:
			a.Stop = stopDeadline
		default:
			a.Stop = stopFinished
		}
		return a
	}
	if end, ok := activeDeadline(v.spec, v.startTime); ok {
		if !now.Before(end) {
			a.Stop = stopDeadline
			return a
		}
		a.wakeAt(end)
	}
	if v.sandboxFailed {
		return a // not retried: the containers show why
	}
	if !v.sandboxReady {
		a.CreateSandbox = true
		return a
	}
	if !initsDone(v, now, &a) {
		return a
	}
	for _, c := range v.apps {
		syncContainer(c, v.spec.RestartPolicy, now, &a)
	}
	return a
}

// initsDone walks the init containers in spec order, as the kubelet's
// computeInitContainerActions does: a regular init container must complete
// (exit 0) before the next starts; a sidecar only has to have started, and
// is then restarted like an app container whenever it exits. It returns
// whether every init container is done, so app containers may start.
func initsDone(v *podView, now time.Time, a *podActions) bool {
	startInit := func(c containerView) func() { return func() { a.StartInit = c.Name } }
	for _, c := range v.inits {
		if c.Kind == kindSidecar {
			if c.ContainerID == "" {
				startOrRetry(c, now, a, startInit(c))
				return false
			}
			syncContainer(c, corev1.RestartPolicyAlways, now, a)
			continue
		}
		fin, exited := c.finished()
		switch {
		case c.Running:
		case c.ContainerID == "":
			startOrRetry(c, now, a, startInit(c))
		case !exited:
			// Started, its exit not recorded yet.
		case fin.ExitCode == 0:
			continue
		case v.spec.RestartPolicy == corev1.RestartPolicyNever:
			// The phase is Failed now: the next sync stops the pod.
		default:
			restartOrBackOff(c, fin, now, a, startInit(c))
		}
		return false
	}
	return true
}

// syncContainer decides for one app container or sidecar under its restart
// policy: start it if it never ran, kill it if a probe found it unhealthy,
// restart it (after the crash loop back-off) once it has exited.
func syncContainer(c containerView, policy corev1.RestartPolicy, now time.Time, a *podActions) {
	fin, exited := c.finished()
	switch {
	case c.Running:
		if c.unhealthy {
			a.Kill = append(a.Kill, c.Name)
		}
	case c.ContainerID == "":
		startOrRetry(c, now, a, func() { a.Start = append(a.Start, c.Name) })
	case !exited:
		// Started, its exit not recorded yet.
	case shouldRestart(policy, fin.ExitCode):
		restartOrBackOff(c, fin, now, a, func() { a.Start = append(a.Start, c.Name) })
	}
}

// restartOrBackOff restarts an exited container now, or once its crash
// loop back-off ends: the back-off is shown once (while the container still
// shows its exit), then the pod's loop only has to wake up in time.
func restartOrBackOff(c containerView, fin *terminatedInstance, now time.Time, a *podActions, restart func()) {
	b, wait := crashBackOff(&c.containerRecord, fin, now)
	if !wait {
		restart()
		return
	}
	if c.Terminated {
		a.BackOff = append(a.BackOff, b)
	}
	a.wakeAt(b.Until)
}

// startOrRetry starts a container that has no instance yet, unless its
// last start failed: then only once its retry time has come.
func startOrRetry(c containerView, now time.Time, a *podActions, start func()) {
	if !c.startBlocked {
		start()
		return
	}
	if c.retryAt.IsZero() {
		return
	}
	if now.Before(c.retryAt) {
		a.wakeAt(c.retryAt)
		return
	}
	start()
}

// activeDeadline is when a pod started at start has been active for its
// activeDeadlineSeconds, if it has one.
func activeDeadline(spec *corev1.PodSpec, start time.Time) (time.Time, bool) {
	if d := spec.ActiveDeadlineSeconds; d != nil {
		return start.Add(time.Duration(*d) * time.Second), true
	}
	return time.Time{}, false
}

// shouldRestart is the kubelet's ShouldContainerBeRestarted for an exited
// container.
func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// Crash loop back-off, as the kubelet's: a container that keeps exiting is
// restarted at once the first time, then after 10, 20, 40 ... s, capped at
// 300 s; the back-off starts over once an instance has run for longer than
// twice the cap (flowcontrol.Backoff forgets an entry idle that long).
const (
	crashBackoffInitial = 10 * time.Second
	crashBackoffMax     = 300 * time.Second
)

// crashBackOff is the kubelet's doBackOff for a container whose newest
// instance exited (fin): whether its restart must still wait, and until
// when. The back-off in force is the record's (Backoff, set at BackoffAt
// by the previous restart), so a restarted supervisor goes on with it.
func crashBackOff(c *containerRecord, fin *terminatedInstance, now time.Time) (backOff, bool) {
	if c.Backoff <= 0 || backoffExpired(c, fin) {
		return backOff{}, false
	}
	until := fin.FinishedAt.Add(c.Backoff)
	if !now.Before(until) {
		return backOff{}, false
	}
	return backOff{Name: c.Name, Until: until, Delay: c.Backoff}, true
}

// nextBackoff is the back-off that a restart of the container (whose newest
// instance exited, fin) puts in force for its next exit: flowcontrol's
// Backoff.Next.
func nextBackoff(c *containerRecord, fin *terminatedInstance) time.Duration {
	if c.Backoff <= 0 || backoffExpired(c, fin) {
		return crashBackoffInitial
	}
	return min(2*c.Backoff, crashBackoffMax)
}

// backoffExpired is flowcontrol's hasExpired: the instance ran (exited)
// more than twice the cap after the back-off was last set.
func backoffExpired(c *containerRecord, fin *terminatedInstance) bool {
	return fin.FinishedAt.Sub(c.BackoffAt) > 2*crashBackoffMax
}

// finished returns the exit of the container's current instance, once it
// has exited: shown as terminated, or as waiting in CrashLoopBackOff with
// the exit as its last state.
func (c *containerRecord) finished() (*terminatedInstance, bool) {
	switch {
	case c.ContainerID == "" || c.Running:
		return nil, false
	case c.Terminated:
		return c.current(), true
	case c.Last != nil && c.Last.ContainerID == c.ContainerID:
		return c.Last, true
	}
	return nil, false
}
