package supervisor

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Builders of container views in the states the record has.
func cvWaiting(name string) containerView {
	return containerView{containerRecord: containerRecord{Name: name, WaitingReason: "ContainerCreating"}}
}

func cvRunning(name string) containerView {
	c := cvWaiting(name)
	c.ContainerID, c.Running, c.WaitingReason, c.StartedAt = "gvisor://"+name, true, "", t0
	return c
}

// exited is an instance that exited with code at finished.
func cvExited(name string, code int32, finished time.Time) containerView {
	c := cvRunning(name)
	c.Running, c.Terminated, c.ExitCode, c.FinishedAt = false, true, code, finished
	return c
}

// inBackOff is an exited instance whose back-off the container shows.
func cvBackOff(name string, code int32, finished time.Time, backoff time.Duration) containerView {
	c := cvExited(name, code, finished)
	c.Last = c.current()
	c.Terminated, c.WaitingReason = false, "CrashLoopBackOff"
	c.Backoff, c.BackoffAt = backoff, finished.Add(-time.Second)
	return c
}

func withBackoff(c containerView, d time.Duration, at time.Time) containerView {
	c.Backoff, c.BackoffAt = d, at
	return c
}

func sidecar(c containerView) containerView { c.Kind = kindSidecar; return c }
func initC(c containerView) containerView   { c.Kind = kindInit; return c }

func view(policy corev1.RestartPolicy, inits, apps []containerView) *podView {
	return &podView{spec: &corev1.PodSpec{RestartPolicy: policy}, phase: corev1.PodRunning, sandboxReady: true, startTime: t0, inits: inits, apps: apps}
}

func TestComputePodActions(t *testing.T) {
	now := t0.Add(time.Hour)
	always, onFailure, never := corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever
	deadline := func(v *podView, secs int64) *podView { v.spec.ActiveDeadlineSeconds = &secs; return v }
	set := func(v *podView, f func(*podView)) *podView { f(v); return v }
	blocked := func(c containerView, retry time.Time) containerView {
		c.startBlocked, c.retryAt = true, retry
		return c
	}
	unhealthy := func(c containerView) containerView { c.unhealthy = true; return c }
	// An instance that was started (postStart failed, say) but whose exit
	// is not recorded yet, with an older exit as its last state.
	startedNotRecorded := func(name string) containerView {
		c := cvExited(name, 1, now.Add(-time.Minute))
		c.Last = c.current()
		c.ContainerID, c.Terminated, c.WaitingReason = "gvisor://"+name+"-2", false, "ContainerCreating"
		return c
	}

	for _, tc := range []struct {
		name string
		v    *podView
		want podActions
	}{
		{"a new pod gets its sandbox", set(view(always, nil, []containerView{cvWaiting("a")}), func(v *podView) { v.sandboxReady = false }),
			podActions{CreateSandbox: true}},
		{"a sandbox that failed is not retried", set(view(always, nil, []containerView{cvWaiting("a")}), func(v *podView) { v.sandboxReady, v.sandboxFailed = false, true }),
			podActions{}},
		{"app containers start in spec order", view(always, nil, []containerView{cvWaiting("a"), cvWaiting("b")}),
			podActions{Start: []string{"a", "b"}}},
		{"init containers first, one at a time", view(always, []containerView{initC(cvWaiting("i1")), initC(cvWaiting("i2"))}, []containerView{cvWaiting("a")}),
			podActions{StartInit: "i1"}},
		{"a running init container holds the next", view(always, []containerView{initC(cvRunning("i1")), initC(cvWaiting("i2"))}, []containerView{cvWaiting("a")}),
			podActions{}},
		{"a completed init container lets the next start", view(always, []containerView{initC(cvExited("i1", 0, now)), initC(cvWaiting("i2"))}, []containerView{cvWaiting("a")}),
			podActions{StartInit: "i2"}},
		{"init containers done: apps start", view(always, []containerView{initC(cvExited("i1", 0, now)), initC(cvExited("i2", 0, now))}, []containerView{cvWaiting("a")}),
			podActions{Start: []string{"a"}}},
		{"a failed init container restarts at once the first time", view(onFailure, []containerView{initC(cvExited("i1", 1, now))}, []containerView{cvWaiting("a")}),
			podActions{StartInit: "i1"}},
		{"a failed init container backs off", view(always, []containerView{initC(withBackoff(cvExited("i1", 1, now.Add(-3*time.Second)), 10*time.Second, now.Add(-20*time.Second)))}, []containerView{cvWaiting("a")}),
			podActions{BackOff: []backOff{{Name: "i1", Until: now.Add(7 * time.Second), Delay: 10 * time.Second}}, Wake: now.Add(7 * time.Second)}},
		{"a failed init container under Never stops nothing itself (the phase does)", view(never, []containerView{initC(cvExited("i1", 1, now))}, []containerView{cvWaiting("a")}),
			podActions{}},
		{"a sidecar starts, then the next init container", view(always, []containerView{sidecar(cvWaiting("s")), initC(cvWaiting("i"))}, []containerView{cvWaiting("a")}),
			podActions{StartInit: "s"}},
		{"a running sidecar lets the next init container start", view(always, []containerView{sidecar(cvRunning("s")), initC(cvWaiting("i"))}, []containerView{cvWaiting("a")}),
			podActions{StartInit: "i"}},
		{"an exited sidecar restarts beside the init sequence", view(never, []containerView{sidecar(cvExited("s", 0, now)), initC(cvRunning("i"))}, []containerView{cvWaiting("a")}),
			podActions{Start: []string{"s"}}},
		{"a sidecar whose start failed holds the next init container", view(always, []containerView{sidecar(blocked(cvWaiting("s"), time.Time{})), initC(cvWaiting("i"))}, []containerView{cvWaiting("a")}),
			podActions{}},
		{"an unhealthy container is killed", view(always, nil, []containerView{unhealthy(cvRunning("a")), cvRunning("b")}),
			podActions{Kill: []string{"a"}}},
		{"Always restarts a completed container", view(always, nil, []containerView{cvExited("a", 0, now)}),
			podActions{Start: []string{"a"}}},
		{"OnFailure restarts a failed container", view(onFailure, nil, []containerView{cvExited("a", 2, now), cvRunning("b")}),
			podActions{Start: []string{"a"}}},
		{"OnFailure leaves a completed container", view(onFailure, nil, []containerView{cvExited("a", 0, now), cvRunning("b")}),
			podActions{}},
		{"Never leaves a failed container", view(never, nil, []containerView{cvExited("a", 1, now), cvRunning("b")}),
			podActions{}},
		{"a back-off is shown once, then only waited for", view(always, nil, []containerView{cvBackOff("a", 1, now.Add(-5*time.Second), 20*time.Second)}),
			podActions{Wake: now.Add(15 * time.Second)}},
		{"the back-off over, the container restarts", view(always, nil, []containerView{cvBackOff("a", 1, now.Add(-20*time.Second), 20*time.Second)}),
			podActions{Start: []string{"a"}}},
		{"an instance whose exit is not recorded is waited for", view(always, nil, []containerView{startedNotRecorded("a")}),
			podActions{}},
		{"a failed start is not retried", view(always, nil, []containerView{blocked(cvWaiting("a"), time.Time{}), cvWaiting("b")}),
			podActions{Start: []string{"b"}}},
		{"a config error is retried when due", view(always, nil, []containerView{blocked(cvWaiting("a"), now.Add(4*time.Second)), blocked(cvWaiting("b"), now)}),
			podActions{Start: []string{"b"}, Wake: now.Add(4 * time.Second)}},
		{"the active deadline wakes the loop", deadline(view(always, nil, []containerView{cvRunning("a")}), 7200),
			podActions{Wake: t0.Add(2 * time.Hour)}},
		{"the active deadline passed stops the pod", deadline(view(always, nil, []containerView{cvRunning("a")}), 3600),
			podActions{Stop: stopDeadline}},
		{"a deadline stop is done once", set(view(always, nil, []containerView{cvExited("a", 137, now)}), func(v *podView) { v.deadlineExceeded, v.phase, v.sandboxReady = true, corev1.PodFailed, false }),
			podActions{}},
		{"a finished pod's sandbox is stopped", set(view(never, nil, []containerView{cvExited("a", 0, now)}), func(v *podView) { v.phase = corev1.PodSucceeded }),
			podActions{Stop: stopFinished}},
		{"a finished pod without sandbox has nothing to do", set(view(never, nil, []containerView{cvExited("a", 0, now)}), func(v *podView) { v.phase, v.sandboxReady = corev1.PodSucceeded, false }),
			podActions{}},
		{"a pod being deleted is the teardown's", set(view(always, nil, []containerView{cvWaiting("a")}), func(v *podView) { v.deleting = true }),
			podActions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := computePodActions(tc.v, now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("computePodActions:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestPhaseStopsPod checks the decision and the phase together: the pod
// is stopped exactly when the kubelet's phase turns terminal.
func TestPhaseStopsPod(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		inits  []containerView
		apps   []containerView
		stop   bool
	}{
		{"Never, all exited", corev1.RestartPolicyNever, nil, []containerView{cvExited("a", 0, now), cvExited("b", 1, now)}, true},
		{"Never, one running", corev1.RestartPolicyNever, nil, []containerView{cvExited("a", 0, now), cvRunning("b")}, false},
		{"OnFailure, all completed", corev1.RestartPolicyOnFailure, nil, []containerView{cvExited("a", 0, now)}, true},
		{"OnFailure, one failed", corev1.RestartPolicyOnFailure, nil, []containerView{cvExited("a", 0, now), cvExited("b", 1, now)}, false},
		{"Always never finishes", corev1.RestartPolicyAlways, nil, []containerView{cvExited("a", 0, now)}, false},
		{"Never, init failed", corev1.RestartPolicyNever, []containerView{initC(cvExited("i", 1, now))}, []containerView{cvWaiting("a")}, true},
		{"OnFailure, init failed", corev1.RestartPolicyOnFailure, []containerView{initC(cvExited("i", 1, now))}, []containerView{cvWaiting("a")}, false},
		{"Never, apps done, sidecar running", corev1.RestartPolicyNever, []containerView{sidecar(cvRunning("s"))}, []containerView{cvExited("a", 0, now)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := view(tc.policy, tc.inits, tc.apps)
			v.phase = podPhase(tc.policy, records(tc.inits), records(tc.apps), false, true)
			got := computePodActions(v, now).Stop == stopFinished
			if got != tc.stop {
				t.Errorf("phase %s: stop = %v, want %v", v.phase, got, tc.stop)
			}
		})
	}
}

func records(cs []containerView) []*containerRecord {
	var out []*containerRecord
	for i := range cs {
		out = append(out, &cs[i].containerRecord)
	}
	return out
}

// TestCrashBackOffSchedule follows one container crashing again and again:
// restarted at once, then after 10, 20, 40 ... s up to 300 s, and from
// scratch once an instance ran longer than twice the cap.
func TestCrashBackOffSchedule(t *testing.T) {
	c := &containerRecord{Name: "a", ContainerID: "x"}
	now := t0
	var waits []time.Duration
	run := func(d time.Duration) {
		now = now.Add(d) // the instance runs d, then exits with 1
		c.Running, c.Terminated, c.ExitCode, c.FinishedAt = false, true, 1, now
		fin, _ := c.finished()
		wait := time.Duration(0)
		if b, ok := crashBackOff(c, fin, now); ok {
			wait = b.Until.Sub(now)
		}
		waits = append(waits, wait)
		now = now.Add(wait)
		c.Backoff, c.BackoffAt = nextBackoff(c, fin), now
		c.Terminated, c.Running = false, true
	}
	for range 8 {
		run(time.Second)
	}
	run(11 * time.Minute) // a long run resets the back-off
	run(time.Second)
	s := func(n int) time.Duration { return time.Duration(n) * time.Second }
	want := []time.Duration{0, s(10), s(20), s(40), s(80), s(160), s(300), s(300), 0, s(10)}
	if !reflect.DeepEqual(waits, want) {
		t.Errorf("waits = %v, want %v", waits, want)
	}
}
