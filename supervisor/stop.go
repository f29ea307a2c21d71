package supervisor

import (
	"context"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// terminationGrace is the pod's terminationGracePeriodSeconds, 30 when
// unset (the API's default).
func terminationGrace(spec *corev1.PodSpec) int64 {
	if t := spec.TerminationGracePeriodSeconds; t != nil {
		return *t
	}
	return 30
}

// minGrace is the kubelet's floor between the stop signal and SIGKILL.
const minGrace = 2 * time.Second

// killUnanswered bounds the wait for a container's exit after a SIGKILL
// the runtime could not send; deletion then goes on and deletes the
// container.
const killUnanswered = 5 * time.Second

// delete marks the pod for deletion (deletionTimestamp = now + grace) and
// tears it down in the background. A second call may only shorten the grace
// period. Grace 0 (force) hides the pod at once.
func (r *runner) delete(gracePeriod *int64) *corev1.Pod {
	r.mu.Lock()
	grace := r.deletionGraceLocked(gracePeriod)
	r.mu.Unlock()

	// The kill deadline is set before the deletion shows: the pod's loop
	// may see the deletionTimestamp at once, and its stoppers read the
	// deadline when they start.
	r.setKillDeadline(grace)
	r.update(func(rec *podRecord) { r.markDeleted(rec.Pod, grace) })
	if grace == 0 {
		r.mu.Lock()
		r.forced = true
		// Gone from the API at once, as a pod deleted with grace 0 is.
		r.publishLocked(watch.Deleted)
		r.mu.Unlock()
	}
	r.cancel() // ends a start under way; the loop then tears the pod down
	r.kick()
	return r.object()
}

// dryRunDelete returns the pod as delete would leave it, changing nothing.
func (r *runner) dryRunDelete(gracePeriod *int64) *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.objectLocked()
	r.markDeleted(p, r.deletionGraceLocked(gracePeriod))
	return p
}

// deletionGraceLocked is the grace period a deletion asking for
// gracePeriod (nil: the pod's own) gets: none for a finished pod, and never
// longer than that of a deletion already under way. The caller holds r.mu.
func (r *runner) deletionGraceLocked(gracePeriod *int64) int64 {
	grace := terminationGrace(&r.rec.Pod.Spec)
	if gracePeriod != nil {
		grace = *gracePeriod
	}
	// A pod that already finished has nothing to stop gracefully.
	if r.rec.Phase == corev1.PodSucceeded || r.rec.Phase == corev1.PodFailed {
		grace = 0
	}
	if grace < 0 {
		grace = 1
	}
	if cur := r.rec.Pod.DeletionGracePeriodSeconds; cur != nil && *cur < grace {
		grace = *cur
	}
	return grace
}

// markDeleted sets the deletion metadata of p for a deletion with grace.
func (r *runner) markDeleted(p *corev1.Pod, grace int64) {
	p.DeletionGracePeriodSeconds = &grace
	p.DeletionTimestamp = ptr(metav1.NewTime(r.sup.opts.Clock.Now().Add(time.Duration(grace) * time.Second)))
}

// teardown ends the loop of a pod being deleted, as the kubelet does:
// every running container gets its stop signal and, after the grace period
// (at least 2 s), SIGKILL (stopInOrder); then the sandbox stops as any
// finished pod's does (stopSandbox), what is left of it is removed with the
// pod's volumes and files, and the pod is forgotten.
func (r *runner) teardown() {
	r.stopProbes(false)
	r.stopInOrder(r.liveContainers())
	r.stopSandbox()
	if err := r.sup.rt.RemovePodSandbox(context.Background(), r.rec.SandboxID); err != nil {
		r.sup.opts.Log.Warn("remove pod sandbox", "pod", r.name, "err", err)
	}
	r.teardownVolumes()
	r.update(func(rec *podRecord) { rec.TornDown = true })
	r.sup.releaseImages(r)
	if err := os.RemoveAll(r.dir); err != nil {
		r.sup.opts.Log.Error("remove pod files", "dir", r.dir, "err", err)
	}
	r.sup.forget(r)
	close(r.gone)
}

// stopInOrder stops containers as the kubelet does on deletion: app (and
// still running init) containers in parallel, then native sidecars one by
// one in reverse spec order, all within the one kill deadline.
func (r *runner) stopInOrder(lives []*liveContainer) {
	byName := map[string]*liveContainer{}
	var wg sync.WaitGroup
	for _, l := range lives {
		if cr, _ := r.container(l.name); cr != nil && cr.Kind == kindSidecar {
			byName[l.name] = l
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stopContainer(l)
		}()
	}
	wg.Wait()
	inits := r.rec.Pod.Spec.InitContainers
	for i := len(inits) - 1; i >= 0; i-- {
		if l, ok := byName[inits[i].Name]; ok {
			r.stopContainer(l)
		}
	}
}

// setKillDeadline sets when running containers get SIGKILL: grace seconds
// (at least minGrace) from now, unless an earlier deadline is already set.
// Waiting stoppers are woken to re-read it.
func (r *runner) setKillDeadline(grace int64) {
	d := r.sup.opts.Clock.Now().Add(max(time.Duration(grace)*time.Second, minGrace))
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.killAt.IsZero() && !d.Before(r.killAt) {
		return
	}
	r.killAt = d
	if r.killAtChanged != nil {
		close(r.killAtChanged)
	}
	r.killAtChanged = make(chan struct{})
}

func (r *runner) killDeadline() (time.Time, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.killAt, r.killAtChanged
}

// stopContainer sends SIGTERM and, if the container has not exited by the
// kill deadline (which a later delete may move closer), SIGKILL.
func (r *runner) stopContainer(l *liveContainer) {
	select {
	case <-l.exited:
		return
	default:
	}
	r.event(r.fieldPath(l.name), normal, "Killing", "Stopping container "+l.name)
	deadline, _ := r.killDeadline()
	_, spec := r.container(l.name)
	r.preStop(spec, l, deadline)
	// The preStop hook and the stop signal share the grace period, but the
	// container always gets at least 2 s between the signal and SIGKILL.
	floor := r.sup.opts.Clock.Now().Add(minGrace)
	if err := r.sup.rt.StopContainer(context.Background(), l.id, l.stopSignal); err != nil {
		r.sup.opts.Log.Warn("signal container", "id", l.id, "err", err)
	}
	for {
		deadline, changed := r.killDeadline()
		if deadline.Before(floor) {
			deadline = floor
		}
		timer := r.sup.opts.Clock.NewTimer(deadline.Sub(r.sup.opts.Clock.Now()))
		select {
		case <-l.exited:
			timer.Stop()
			return
		case <-changed:
			timer.Stop()
		case <-timer.C():
			if err := r.killAll(l); err != nil {
				// Not signalled (already gone, or the runtime refused):
				// teardown's delete ends whatever is left, so the wait
				// for the exit is bounded rather than forever.
				select {
				case <-l.exited:
				case <-r.sup.opts.Clock.After(killUnanswered):
				}
				return
			}
			<-l.exited
			return
		}
	}
}

// requestShutdown asks the pod's loop to stop the pod's sandbox because
// the supervisor exits, and waits for it: a later supervisor has namespaces
// of its own and cannot adopt the sandbox, so it starts the pod again (see
// resume). Stopping it here means no sandbox runs unsupervised meanwhile.
func (r *runner) requestShutdown() {
	r.mu.Lock()
	r.shuttingDown = true
	r.mu.Unlock()
	r.cancel()
	r.kick()
	<-r.loopDone
}

// shutdown is the end of the loop of a pod that is not being deleted when
// the supervisor exits: its record stays.
func (r *runner) shutdown() {
	r.stopProbes(true)
	r.stopSandbox()
}

// stopSandbox is the one way a pod's sandbox stops: when its containers
// have finished for good or its deadline passed, at the end of its
// deletion, and when the supervisor shuts down. Whatever still runs is
// ended, the sandbox and its network go, and the exits are recorded; the
// record (and phase) stays.
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
		case <-r.sup.opts.Clock.After(5 * time.Second):
		}
	}
	r.update(func(rec *podRecord) { rec.SandboxReady = false })
}
