package supervisor

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Crash loop back-off, as the kubelet's: a container that keeps exiting is
// restarted at once the first time, then after 10, 20, 40 ... s, capped at
// 300 s; the back-off resets once an instance has run for 10 minutes
// (flowcontrol.Backoff forgets an entry idle for twice the maximum).
const (
	crashBackoffInitial = 10 * time.Second
	crashBackoffMax     = 300 * time.Second
)

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

// afterExit decides what happens once an instance has exited: a restart
// by the pod's restart policy, or, when no container runs or will run
// again, the end of the pod's sandbox (the kubelet's KillPod).
func (r *runner) afterExit(name string, exitCode int32) {
	cr, _ := r.container(name)
	policy := r.rec.Pod.Spec.RestartPolicy
	switch cr.Kind {
	case kindInit:
		return // runInitContainers decides
	case kindSidecar:
		policy = corev1.RestartPolicyAlways
	}
	if shouldRestart(policy, exitCode) {
		// Checked and counted under the lock that teardown cancels under,
		// so teardown never misses a restart it must wait for.
		r.mu.Lock()
		stopping := r.ctx.Err() != nil
		if !stopping {
			r.restarts.Add(1)
		}
		r.mu.Unlock()
		if stopping {
			return
		}
		go func() {
			defer r.restarts.Done()
			r.restartWithBackoff(name)
		}()
		return
	}
	r.mu.Lock()
	done := r.ctx.Err() == nil
	for _, c := range r.rec.Containers {
		if !c.Terminated || shouldRestart(r.rec.Pod.Spec.RestartPolicy, c.ExitCode) {
			done = false
		}
	}
	r.mu.Unlock()
	if done {
		go r.stopSandbox()
	}
}

// restartWithBackoff restarts a container after the crash loop back-off.
func (r *runner) restartWithBackoff(name string) {
	if err := r.waitCrashBackoff(name); err != nil {
		return
	}
	r.replaceInstance(name)
	_, spec := r.container(name)
	if err := r.startContainer(spec); err != nil {
		r.waitingError(name, "RunContainerError", err)
	}
}

// waitCrashBackoff waits as the kubelet's doBackOff does before a restart:
// the back-off is keyed by pod and container and measured from the exit of
// the newest instance. While waiting, the container shows CrashLoopBackOff
// with the crashed instance as its lastState.
func (r *runner) waitCrashBackoff(name string) error {
	p := r.rec.Pod
	key := string(p.UID) + "_" + name
	bo, clk := r.sup.crashBackoff, r.sup.opts.Clock
	r.mu.Lock()
	cr, _ := r.container(name)
	finished := cr.FinishedAt
	r.mu.Unlock()

	if bo.IsInBackOffSince(key, finished) {
		delay := bo.Get(key)
		r.event(r.fieldPath(name), warning, "BackOff", fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", name, p.Name, p.Namespace, p.UID))
		r.update(func(rec *podRecord) {
			c, _ := r.container(name)
			c.Last = c.current()
			c.Terminated = false
			c.WaitingReason = "CrashLoopBackOff"
			c.WaitingMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, name, p.Name, p.Namespace, p.UID)
		})
		if err := r.sleep(finished.Add(delay).Sub(clk.Now())); err != nil {
			return err
		}
	}
	bo.Next(key, finished)
	r.recordBackoff(name, bo.Get(key), finished)
	return nil
}

// replaceInstance removes the exited instance from the runtime and makes
// the container's record that of a new instance, the old one as lastState.
func (r *runner) replaceInstance(name string) {
	if old := r.getLive(name); old != nil {
		_ = r.sup.rt.RemoveContainer(context.Background(), old.id)
	}
	r.update(func(rec *podRecord) {
		c, _ := r.container(name)
		if c.Terminated {
			c.Last = c.current()
		}
		*c = c.newInstance(c.RestartCount+1, c.Last)
	})
}

// stopSandbox ends a pod whose containers have all finished for good: its
// sandbox and network go, its record (and phase) stays until deletion.
func (r *runner) stopSandbox() {
	r.stopProbes(true)
	lives := r.liveContainers()
	if err := r.sup.rt.StopPodSandbox(context.Background(), r.rec.SandboxID); err != nil {
		r.sup.opts.Log.Warn("stop pod sandbox", "pod", r.name, "err", err)
	}
	// Let the watchers record the exits before the sandbox counts as gone.
	for _, l := range lives {
		select {
		case <-l.exited:
		case <-time.After(5 * time.Second):
		}
	}
	r.update(func(rec *podRecord) { rec.SandboxReady = false })
}
