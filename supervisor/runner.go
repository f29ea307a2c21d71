package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"podbox.dev/podbox/image"
	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/probes"
)

// runner drives one pod. It alone changes the pod's record (under mu) and
// persists it; everything else reads derived copies through object().
type runner struct {
	sup             *Supervisor
	dir             string
	namespace, name string

	mu  sync.Mutex
	rec *podRecord
	// ctrs are the pod's containers, init and app, by name.
	ctrs map[string]*container
	// vols are the pod's volumes (volumes.go), made on first use.
	vols *podVolumes
	// sandboxFailed is set when creating the sandbox failed.
	sandboxFailed bool

	// ctx ends what the pod is doing (a start, a pull, a hook): cancelled
	// when deletion starts, at the active deadline and at shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	// wake kicks the pod's loop; loopDone is closed when the loop (and the
	// teardown or shutdown it ends with) has returned; shuttingDown asks
	// it to end because the supervisor exits.
	wake         chan struct{}
	loopDone     chan struct{}
	shuttingDown bool
	// gone is closed when the pod is torn down and forgotten.
	gone   chan struct{}
	forced bool // deleted with grace 0: invisible while it is torn down
	// killAt is when containers still running get SIGKILL during deletion;
	// killAtChanged is closed (and replaced) whenever it moves.
	killAt        time.Time
	killAtChanged chan struct{}
	// lastPublished is the pod as last announced to watchers (watch.go);
	// deletedPublished is set once its deletion was announced, after which
	// nothing more is.
	lastPublished    *corev1.Pod
	deletedPublished bool
}

// container is one of the pod's containers: its spec and its record (the
// only source of truth, persisted with the pod's), and what exists only
// while this supervisor runs: its resolved image, its live instance, its
// prober, an image prefetch under way and the decision's facts about it.
// The runner's mu guards every field but spec, which never changes.
type container struct {
	spec     *corev1.Container
	rec      *containerRecord
	image    resolvedImage
	live     *liveContainer
	prober   *probes.ContainerProber
	prefetch chan error
	containerFacts
}

// containersOf pairs the pod's container specs with their records.
func containersOf(rec *podRecord) map[string]*container {
	out := map[string]*container{}
	for i := range rec.Pod.Spec.InitContainers {
		out[rec.InitContainers[i].Name] = &container{spec: &rec.Pod.Spec.InitContainers[i], rec: rec.InitContainers[i]}
	}
	for i := range rec.Pod.Spec.Containers {
		out[rec.Containers[i].Name] = &container{spec: &rec.Pod.Spec.Containers[i], rec: rec.Containers[i]}
	}
	return out
}

// resolvedImage is a container's image and its unpacked tree.
type resolvedImage struct {
	image  *image.Image
	rootfs string
}

// liveContainer is one started instance of a container; it does not change
// after start, except that exited is closed when its exit is recorded.
type liveContainer struct {
	name string
	// id is the runtime's ID of the instance.
	id string
	// stopSignal is the image's STOPSIGNAL, SIGTERM by default.
	stopSignal string
	exited     chan struct{}
}

// sandboxID is the ID of a pod's sandbox: 16 hex digits of its UID.
func sandboxID(uid types.UID) string {
	return strings.ReplaceAll(string(uid), "-", "")[:16]
}

func newRecord(p *corev1.Pod, now time.Time) *podRecord {
	rec := &podRecord{Pod: p, SandboxID: sandboxID(p.UID), StartTime: now, Phase: corev1.PodPending}
	// With init containers, every container waits with PodInitializing.
	waiting := "ContainerCreating"
	if len(p.Spec.InitContainers) > 0 {
		waiting = "PodInitializing"
	}
	for _, c := range p.Spec.InitContainers {
		kind := kindInit
		if isSidecar(&c) {
			kind = kindSidecar
		}
		rec.InitContainers = append(rec.InitContainers, &containerRecord{Name: c.Name, Kind: kind, Image: c.Image, WaitingReason: waiting,
			HasReadiness: c.ReadinessProbe != nil && kind == kindSidecar, HasStartup: c.StartupProbe != nil && kind == kindSidecar})
	}
	for _, c := range p.Spec.Containers {
		rec.Containers = append(rec.Containers, &containerRecord{Name: c.Name, Image: c.Image, WaitingReason: waiting,
			HasReadiness: c.ReadinessProbe != nil, HasStartup: c.StartupProbe != nil})
	}
	return rec
}

// isSidecar reports whether an init container is a native sidecar.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func newRunner(s *Supervisor, dir string, rec *podRecord) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &runner{
		sup: s, dir: dir, rec: rec,
		namespace: rec.Pod.Namespace, name: rec.Pod.Name,
		ctrs: containersOf(rec),
		ctx:  ctx, cancel: cancel,
		wake:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
		gone:     make(chan struct{}),
	}
}

// update changes the record under the lock, recomputes phase and
// conditions, and persists it.
func (r *runner) update(change func(rec *podRecord)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change(r.rec)
	r.commitLocked(watch.Modified)
}

// commitLocked recomputes phase and conditions, announces the change to
// watchers and persists the record. The caller holds r.mu.
func (r *runner) commitLocked(t watch.EventType) {
	r.refreshLocked()
	r.publishLocked(t)
	if err := r.rec.save(r.dir); err != nil {
		r.sup.opts.Log.Error("persist pod record", "pod", r.name, "err", err)
	}
}

// save persists a new pod's first record and announces the pod.
func (r *runner) save() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshLocked()
	r.publishLocked(watch.Added)
	return r.rec.save(r.dir)
}

func (r *runner) refreshLocked() {
	rec := r.rec
	// A terminal phase never changes again (kubelet: no illegal transitions).
	if rec.Reason == reasonDeadlineExceeded {
		rec.Phase = corev1.PodFailed
	}
	if rec.Phase != corev1.PodSucceeded && rec.Phase != corev1.PodFailed {
		rec.Phase = podPhase(rec.Pod.Spec.RestartPolicy, rec.InitContainers, rec.Containers, rec.TornDown, rec.Initialized)
	}
	rec.Conditions = conditions(rec.Phase, rec.SandboxReady, rec.Initialized, rec.InitContainers, rec.Containers, rec.Conditions, r.sup.opts.Clock.Now())
}

// object returns the pod as the API shows it: metadata and spec as created,
// status derived from the record.
func (r *runner) object() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.objectLocked()
}

func (r *runner) objectLocked() *corev1.Pod {
	p := r.rec.Pod.DeepCopy()
	p.Status = corev1.PodStatus{
		Phase:             r.rec.Phase,
		Conditions:        append([]corev1.PodCondition(nil), r.rec.Conditions...),
		ContainerStatuses: sortedStatuses(r.rec.Containers),
		InitContainerStatuses: func() []corev1.ContainerStatus {
			var out []corev1.ContainerStatus
			for _, c := range r.rec.InitContainers {
				out = append(out, c.status())
			}
			return out
		}(),
		QOSClass: pod.QOSClass(p),
		Reason:   r.rec.Reason,
		Message:  r.rec.Message,
	}
	if !r.rec.StartTime.IsZero() {
		p.Status.StartTime = ptr(metav1.NewTime(r.rec.StartTime))
	}
	if ip := r.rec.PodIP; ip != "" {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	if ip := r.rec.HostIP; ip != "" {
		p.Status.HostIP = ip
		p.Status.HostIPs = []corev1.HostIP{{IP: ip}}
	}
	return p
}

// container finds a container, app or init, by name: its record and spec.
// The caller holds r.mu to read or change the record.
func (r *runner) container(name string) (*containerRecord, *corev1.Container) {
	if c := r.ctrs[name]; c != nil {
		return c.rec, c.spec
	}
	return nil, nil
}

// fieldPath is how events name a container.
func (r *runner) fieldPath(name string) string {
	for _, c := range r.rec.Pod.Spec.InitContainers {
		if c.Name == name {
			return "spec.initContainers{" + name + "}"
		}
	}
	return "spec.containers{" + name + "}"
}

// resume restarts a pod found in a record after a supervisor restart. Its
// sandbox is gone (the runtime's Recover removed it), so containers that
// had run count a restart, as the kubelet counts containers it has to
// recreate.
func (r *runner) resume() {
	if r.rec.Phase == corev1.PodSucceeded || r.rec.Phase == corev1.PodFailed {
		go r.loop() // nothing to do until it is deleted
		return
	}
	r.update(func(rec *podRecord) {
		rec.SandboxReady = false
		rec.Initialized = false
		for _, c := range append(append([]*containerRecord{}, rec.InitContainers...), rec.Containers...) {
			switch {
			case c.Running:
				// Lost with the old sandbox, as the kubelet reports a
				// container it can no longer find.
				c.Last = &terminatedInstance{Attempt: c.RestartCount, ContainerID: c.ContainerID, ExitCode: 137, Reason: "ContainerStatusUnknown",
					Message: "The container could not be located when the pod was terminated", StartedAt: c.StartedAt, FinishedAt: r.sup.opts.Clock.Now()}
				c.RestartCount++
			case c.Terminated:
				c.Last = c.current()
				c.RestartCount++
			}
			*c = c.newInstance(c.RestartCount, c.Last)
		}
	})
	go r.loop()
}

// deleting reports whether deletion has begun.
func (r *runner) deleting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.Pod.DeletionTimestamp != nil
}

func (r *runner) forceDeleted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.forced
}

// uid is the pod's UID, which never changes.
func (r *runner) uid() types.UID { return r.rec.Pod.UID }

// leaseHolder names the pod in the image store's leases.
func (r *runner) leaseHolder() string { return r.namespace + "/" + r.name }

func (r *runner) podDir(parts ...string) string {
	return filepath.Join(append([]string{r.dir}, parts...)...)
}

// waitingError marks a container as unable to start, with the kubelet's
// reason (e.g. CreateContainerError, RunContainerError) and its event.
func (r *runner) waitingError(name, reason string, err error) {
	r.sup.opts.Log.Warn("container cannot start", "pod", r.name, "container", name, "reason", reason, "err", err)
	r.event(r.fieldPath(name), warning, "Failed", "Error: "+err.Error())
	r.setWaiting(name, reason, err.Error())
}

// setWaiting shows a container as waiting for a reason.
func (r *runner) setWaiting(name, reason, message string) {
	r.update(func(rec *podRecord) {
		c, _ := r.container(name)
		c.WaitingReason, c.WaitingMessage = reason, message
	})
}

// event records an event about this pod (fieldPath "" for the pod itself).
func (r *runner) event(fieldPath, eventType, reason, message string) {
	r.sup.events.record(r.rec.Pod, fieldPath, eventType, reason, message)
}

func (r *runner) logPath(name string, restart int32) string {
	return r.podDir("logs", name, fmt.Sprintf("%d.log", restart))
}

// ensureDir creates a directory inside the pod dir.
func (r *runner) ensureDir(parts ...string) (string, error) {
	d := r.podDir(parts...)
	return d, os.MkdirAll(d, 0o700)
}

func (r *runner) setLive(name string, l *liveContainer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctrs[name].live = l
}

func (r *runner) setImage(name string, img resolvedImage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctrs[name].image = img
}

func (r *runner) getImage(name string) resolvedImage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctrs[name].image
}

// liveContainers returns the instances that were started.
func (r *runner) liveContainers() []*liveContainer {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*liveContainer
	for _, c := range r.ctrs {
		if c.live != nil {
			out = append(out, c.live)
		}
	}
	return out
}

func (r *runner) getLive(name string) *liveContainer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.ctrs[name]; c != nil {
		return c.live
	}
	return nil
}
