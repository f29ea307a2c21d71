package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/image"
	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/volume"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// Options configures a Supervisor.
type Options struct {
	Dirs dirs.Dirs
	// Runtime runs the pods' sandboxes and containers (cri/gvisor; a fake
	// in tests).
	Runtime cri.Runtime
	// Images is the image store pods pull into and run from.
	Images Images
	// Objects holds the ConfigMaps and Secrets pods refer to.
	Objects *objects.Store
	// Clock is the supervisor's time source (a fake one in tests); the real
	// clock when nil.
	Clock clock.WithTicker
	// Log receives the supervisor's own log.
	Log *slog.Logger
	// Adopt makes the supervisor take over the sandboxes of a predecessor
	// that shared its namespaces (it crashed and was restarted by the
	// namespace holder) instead of replacing them.
	Adopt bool
}

// Images is what the supervisor needs of the image store (*image.Store).
type Images interface {
	Lookup(ref string) (*image.Image, error)
	Pull(ctx context.Context, ref string, opts ...image.PullOption) (*image.Image, error)
	Rootfs(img *image.Image) (string, error)
	// Lease marks images as used by a pod (holder "namespace/name"), so
	// they cannot be removed; Release ends all of a holder's leases.
	Lease(holder string, imageIDs ...v1.Hash) error
	Release(holder string) error
}

// Supervisor owns all pods of one user.
type Supervisor struct {
	opts             Options
	allocatableCache // this host's allocatable resources (env.go)
	// rt is opts.Runtime, which runs the pods.
	rt cri.Runtime

	// events are the pods' Events; pullBackoff is the kubelet's image pull
	// back-off, keyed by pod UID and image (the crash loop back-off lives
	// in each container's record, decide.go).
	events      *eventLog
	claims      *volume.Claims
	pullBackoff *flowcontrol.Backoff

	// watch delivers pod changes to watchers and owns resource versions;
	// an idle watcher gets a bookmark every bookmarkInterval (none if 0).
	watch            broadcaster
	bookmarkInterval time.Duration

	mu   sync.Mutex
	pods map[string]*runner // by namespace/name
	// terminating holds the pods deleted with grace 0 until their teardown
	// ends: gone from the API, so their name is free for a new pod at once
	// (as on a cluster, where the kubelet tears down in the background).
	// Everything a teardown removes is keyed by the pod's UID (pod
	// directory, sandbox ID, network namespace, IP, host ports), never by
	// its name.
	terminating map[types.UID]*runner

	// usage keeps the pods' last resource samples for `top`.
	usage usageCache
}

// New prepares a supervisor: it cleans up what a previous supervisor left
// behind and resumes the pods it had. It must run inside podbox's user
// namespace (rootless.Inside).
func New(ctx context.Context, opts Options) (*Supervisor, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Supervisor{
		opts:        opts,
		rt:          opts.Runtime,
		pods:        map[string]*runner{},
		terminating: map[types.UID]*runner{},
		events:      newEventLog(opts.Clock),
		pullBackoff: flowcontrol.NewFakeBackOff(pullBackoffInitial, pullBackoffMax, opts.Clock),
		claims:      volume.OpenClaims(opts.Dirs.Volumes()),
		// As often as the API server's watch cache sends them.
		bookmarkInterval: time.Minute,
	}
	s.watchObjects()
	if err := os.MkdirAll(opts.Dirs.Pods(), 0o700); err != nil {
		return nil, err
	}
	s.unstageVolumes()
	records, err := s.loadRecords()
	if err != nil {
		return nil, err
	}
	adoptable, err := s.rt.Recover(ctx, knownSandboxes(records), opts.Adopt)
	if err != nil {
		return nil, err
	}
	for _, rec := range records {
		s.watch.seed(rvOf(rec.Pod))
	}
	// Pods that are not being deleted first: a pod force-deleted before the
	// restart may share its name with one created after it (see
	// startRunner).
	for _, deleted := range []bool{false, true} {
		for dir, rec := range records {
			if (rec.Pod.DeletionTimestamp != nil) == deleted {
				s.startRunner(dir, rec, adoptable[rec.SandboxID])
			}
		}
	}
	return s, nil
}

// loadRecords reads every pod record, by pod directory.
func (s *Supervisor) loadRecords() (map[string]*podRecord, error) {
	entries, err := os.ReadDir(s.opts.Dirs.Pods())
	if err != nil {
		return nil, err
	}
	records := map[string]*podRecord{}
	for _, e := range entries {
		dir := filepath.Join(s.opts.Dirs.Pods(), e.Name())
		rec, err := loadRecord(dir)
		if err != nil {
			s.opts.Log.Warn("skip unreadable pod record", "dir", dir, "err", err)
			continue
		}
		records[dir] = rec
	}
	return records, nil
}

// knownSandboxes are the sandboxes of the recorded pods, for the runtime's
// Recover: the addresses of pods that are not being deleted stay theirs.
func knownSandboxes(records map[string]*podRecord) []*cri.SandboxConfig {
	out := make([]*cri.SandboxConfig, 0, len(records))
	for dir, rec := range records {
		cfg := &cri.SandboxConfig{ID: rec.SandboxID, Pod: rec.Pod.DeepCopy(), Dir: dir}
		if rec.Pod.DeletionTimestamp == nil {
			cfg.PodIP = rec.PodIP
		}
		out = append(out, cfg)
	}
	return out
}

// startRunner gives a recorded pod its runner: adopting its running sandbox,
// or starting it again, or finishing its deletion.
func (s *Supervisor) startRunner(dir string, rec *podRecord, adopt bool) {
	key := pod.Key(rec.Pod.Namespace, rec.Pod.Name)
	_, taken := s.pods[key]
	if rec.Pod.DeletionTimestamp != nil && !adopt {
		// Deleted before the crash: only the files and leases remain. A
		// pod of the same name created since holds the name's lease.
		if !taken {
			_ = s.opts.Images.Release(key)
		}
		s.removeMemoryVolumes(rec.SandboxID)
		os.RemoveAll(dir)
		return
	}
	r := newRunner(s, dir, rec)
	forced := rec.Pod.DeletionGracePeriodSeconds != nil && *rec.Pod.DeletionGracePeriodSeconds == 0
	if rec.Pod.DeletionTimestamp != nil && (forced || taken) {
		s.terminating[rec.Pod.UID] = r
	} else {
		s.pods[key] = r
	}
	switch {
	case adopt:
		r.adopt()
		if rec.Pod.DeletionTimestamp != nil {
			r.delete(rec.Pod.DeletionGracePeriodSeconds)
		}
	default:
		r.resume()
	}
}

// Create admits a new pod and starts it in the background. The pod is
// defaulted and validated exactly as an API server would.
func (s *Supervisor) Create(in *corev1.Pod) (*corev1.Pod, error) {
	p, now, err := s.admit(in)
	if err != nil {
		return nil, err
	}
	key := pod.Key(p.Namespace, p.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pods[key]; ok {
		return nil, apierrors.NewAlreadyExists(podsResource, p.Name)
	}
	if err := s.rt.ReserveHostPorts(context.Background(), sandboxID(p.UID), p); err != nil {
		// Before anything of the pod exists: the apply is refused.
		return nil, apierrors.NewForbidden(podsResource, p.Name, err)
	}
	dir := filepath.Join(s.opts.Dirs.Pods(), fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	r := newRunner(s, dir, newRecord(p, now))
	if err := r.save(); err != nil {
		os.RemoveAll(dir)
		return nil, apierrors.NewInternalError(err)
	}
	s.pods[key] = r
	s.events.record(p, "", normal, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", p.Namespace, p.Name, s.events.host))
	go r.loop()
	return r.object(), nil
}

// admit defaults and validates a new pod and gives it its identity (name
// from generateName, uid, creation time), as the API server does before
// storing a pod. in is not changed.
func (s *Supervisor) admit(in *corev1.Pod) (*corev1.Pod, time.Time, error) {
	p := in.DeepCopy()
	pod.SetDefaults(p)
	if err := pod.Validate(p); err != nil {
		return nil, time.Time{}, err
	}
	if p.GenerateName != "" && p.Name == "" {
		p.Name = p.GenerateName + string(uuid.NewUUID())[:5]
	}
	now := s.opts.Clock.Now()
	p.UID = uuid.NewUUID()
	p.CreationTimestamp = metav1.NewTime(now)
	p.ResourceVersion = ""
	p.Status = corev1.PodStatus{}
	return p, now, nil
}

// DryRunCreate answers what Create would answer, and refuses what it would
// refuse, without creating anything: no record, no runtime call, no event,
// no watch event (the API's dryRun=All). Host ports are not reserved, so a
// clash with another pod's host port shows only at Create; the returned
// pod, never stored, has no resourceVersion.
func (s *Supervisor) DryRunCreate(in *corev1.Pod) (*corev1.Pod, error) {
	p, now, err := s.admit(in)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	_, exists := s.pods[pod.Key(p.Namespace, p.Name)]
	s.mu.Unlock()
	if exists {
		return nil, apierrors.NewAlreadyExists(podsResource, p.Name)
	}
	// The status a new pod first shows, from a runner that never runs.
	r := newRunner(s, "", newRecord(p, now))
	defer r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshLocked()
	return r.objectLocked(), nil
}

// Get returns one pod with its current status.
func (s *Supervisor) Get(namespace, name string) (*corev1.Pod, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return nil, err
	}
	return r.object(), nil
}

// List returns the pods of a namespace, or of all namespaces for "".
func (s *Supervisor) List(namespace string) []corev1.Pod {
	s.mu.Lock()
	rs := make([]*runner, 0, len(s.pods))
	for _, r := range s.pods {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	out := []corev1.Pod{}
	for _, r := range rs {
		p := r.object()
		if namespace == "" || p.Namespace == namespace {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Delete starts a graceful deletion. gracePeriod nil means the pod's
// terminationGracePeriodSeconds; a later call may only shorten it. The pod
// disappears from Get once its sandbox is gone; with grace 0 at once.
func (s *Supervisor) Delete(namespace, name string, gracePeriod *int64) (*corev1.Pod, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return nil, err
	}
	p := r.delete(gracePeriod)
	if r.forceDeleted() {
		s.release(r)
	}
	return p, nil
}

// DryRunDelete answers the pod as Delete would leave it (deletion
// timestamp and the grace period in force), and changes nothing.
func (s *Supervisor) DryRunDelete(namespace, name string, gracePeriod *int64) (*corev1.Pod, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return nil, err
	}
	return r.dryRunDelete(gracePeriod), nil
}

// release frees a force-deleted pod's name while its teardown goes on.
func (s *Supervisor) release(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pod.Key(r.namespace, r.name)
	if s.pods[key] == r {
		delete(s.pods, key)
		s.terminating[r.uid()] = r
	}
}

// forget removes a fully deleted pod from the supervisor.
func (s *Supervisor) forget(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pod.Key(r.namespace, r.name)
	if s.pods[key] == r {
		delete(s.pods, key)
	}
	if s.terminating[r.uid()] == r {
		delete(s.terminating, r.uid())
	}
	r.publishDeleted()
}

// releaseImages ends a torn-down pod's image leases, unless a pod of the
// same name (created after a forced delete) holds them now: leases are
// kept by pod name, and that pod's images must stay protected. Checked
// under s.mu, so a new pod's lease (taken after Create) cannot be lost.
func (s *Supervisor) releaseImages(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.pods[pod.Key(r.namespace, r.name)]; ok && other != r {
		return
	}
	if err := s.opts.Images.Release(r.leaseHolder()); err != nil {
		s.opts.Log.Warn("release the pod's images", "pod", r.name, "err", err)
	}
}

func (s *Supervisor) runner(namespace, name string) (*runner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.pods[pod.Key(namespace, name)]
	if !ok || r.forceDeleted() {
		return nil, apierrors.NewNotFound(podsResource, name)
	}
	return r, nil
}

// Events returns the events of a namespace ("" for all namespaces).
func (s *Supervisor) Events(namespace string) []corev1.Event {
	return s.events.list(namespace, "")
}

// Logs writes a container's log to w (see LogOptions).
func (s *Supervisor) Logs(ctx context.Context, namespace, name string, opts LogOptions, w io.Writer) error {
	r, err := s.runner(namespace, name)
	if err != nil {
		return err
	}
	return r.logs(ctx, opts, w)
}

// Exec runs a command in a running container and returns its exit code.
func (s *Supervisor) Exec(ctx context.Context, namespace, name, container string, cmd []string, st cri.Streams) (int, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return -1, err
	}
	return r.exec(ctx, container, cmd, st)
}

// Shutdown stops every sandbox before the supervisor exits, finishing the
// deletions under way and keeping the records of the other pods, which the
// next supervisor starts again.
func (s *Supervisor) Shutdown() {
	s.mu.Lock()
	rs := make([]*runner, 0, len(s.pods)+len(s.terminating))
	for _, r := range s.pods {
		rs = append(rs, r)
	}
	for _, r := range s.terminating {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.deleting() {
				<-r.gone
				return
			}
			r.requestShutdown()
		}()
	}
	wg.Wait()
}

var errNotRunning = errors.New("not running")

// Attach connects st to a running container's stdin and output.
func (s *Supervisor) Attach(ctx context.Context, namespace, name, container string, st cri.Streams) error {
	r, err := s.runner(namespace, name)
	if err != nil {
		return err
	}
	return r.attach(ctx, container, st)
}

// PortForward connects to port on the pod's loopback, as kubectl
// port-forward does.
func (s *Supervisor) PortForward(ctx context.Context, namespace, name string, port uint16) (net.Conn, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return nil, err
	}
	conn, err := s.rt.PortForward(ctx, r.rec.SandboxID, port)
	if errors.Is(err, cri.ErrNotRunning) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to forward port because pod is not running. Current status=%s", r.object().Status.Phase))
	}
	return conn, err
}
