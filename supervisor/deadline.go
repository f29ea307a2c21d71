package supervisor

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

const reasonDeadlineExceeded = "DeadlineExceeded"

// enforceDeadline ends the pod when it has been active longer than
// activeDeadlineSeconds (counted from its start time), as the kubelet does:
// phase Failed, reason DeadlineExceeded, its containers stopped with the
// pod's grace period and its sandbox removed.
func (r *runner) enforceDeadline(d time.Duration) {
	r.mu.Lock()
	started := r.rec.StartTime
	r.mu.Unlock()
	select {
	case <-r.ctx.Done():
		return
	case <-r.sup.opts.Clock.After(time.Until(started.Add(d))):
	}
	r.mu.Lock()
	phase := r.rec.Phase
	r.mu.Unlock()
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		return
	}
	const msg = "Pod was active on the node longer than the specified deadline"
	r.event("", warning, reasonDeadlineExceeded, msg)
	r.update(func(rec *podRecord) {
		rec.Reason, rec.Message = reasonDeadlineExceeded, msg
	})
	r.stopStarting()
	<-r.started
	r.restarts.Wait()
	grace := int64(30)
	if g := r.rec.Pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	r.setKillDeadline(grace)
	r.stopInOrder(r.liveContainers())
	r.stopSandbox()
}
