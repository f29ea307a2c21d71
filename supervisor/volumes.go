package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/volume"
)

// Volume set-up retries, as the kubelet's volume manager backs off a
// failing mount: 500 ms doubling to 2m2s. A change to an object a waiting
// volume needs wakes the retry at once.
const (
	mountRetryInitial = 500 * time.Millisecond
	mountRetryMax     = 2*time.Minute + 2*time.Second
)

// podVolumes is a runner's view of its pod's volumes. The set is made once
// (by the first start action, or lazily by a restart after an adoption) and
// never replaced.
type podVolumes struct {
	set *volume.Set
	// wake is signalled (without blocking) when an object a volume waits
	// for changes.
	wake chan struct{}
}

// memoryVolumeDir is where a pod's memory-backed volumes live.
func (s *Supervisor) memoryVolumeDir(sandboxID string) string {
	return filepath.Join(s.opts.Dirs.PodVolumes(), sandboxID)
}

// watchObjects refreshes the pods' volumes when a ConfigMap or Secret
// changes, as the kubelet's sync loop does (here at once rather than within
// a sync period).
func (s *Supervisor) watchObjects() {
	if s.opts.Objects == nil {
		return
	}
	s.opts.Objects.Watch(func(ref objects.Ref) {
		for _, r := range s.runners() {
			go r.objectChanged(ref)
		}
	})
}

func (s *Supervisor) runners() []*runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*runner, 0, len(s.pods))
	for _, r := range s.pods {
		out = append(out, r)
	}
	return out
}

// volumeSet returns the pod's volume set, making it on first use.
func (r *runner) volumeSet() *podVolumes {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vols == nil {
		r.vols = &podVolumes{
			set: volume.New(r.rec.Pod, volume.Options{
				Dir:         r.podDir("volumes"),
				MemoryDir:   r.sup.memoryVolumeDir(r.rec.SandboxID),
				Claims:      r.sup.claims,
				Objects:     r.sup.objects(),
				Allocatable: r.sup.allocatable(),
			}),
			wake: make(chan struct{}, 1),
		}
	}
	return r.vols
}

// objects returns the object store as the volume package's interface,
// keeping a nil store nil.
func (s *Supervisor) objects() volume.Objects {
	if s.opts.Objects == nil {
		return nil
	}
	return s.opts.Objects
}

// prepareVolumes is the start action that sets up the pod's volumes before
// its sandbox starts, as the kubelet mounts volumes before it creates the
// pod sandbox. A volume that cannot be set up (a ConfigMap that does not
// exist yet, a failed hostPath check) is reported with a FailedMount event
// and retried until it can, while the containers wait in
// ContainerCreating; deleting the pod ends the wait.
func (r *runner) prepareVolumes() error {
	pv := r.volumeSet()
	backoff := mountRetryInitial
	for {
		errs := pv.set.Prepare()
		if len(errs) == 0 {
			return nil
		}
		for _, e := range errs {
			r.event("", warning, "FailedMount", e.Error())
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-pv.wake:
		case <-r.sup.opts.Clock.After(backoff):
			backoff = min(2*backoff, mountRetryMax)
		}
	}
}

// volumeHints are the pause container's mount hint annotations.
func (r *runner) volumeHints() map[string]string {
	return r.volumeSet().set.Hints()
}

// volumeMounts are a container's OCI mounts for its volumeMounts; env is
// its final environment (for subPathExpr).
func (r *runner) volumeMounts(c *corev1.Container, env []string) ([]specs.Mount, error) {
	if len(c.VolumeMounts) == 0 {
		return nil, nil
	}
	return r.volumeSet().set.Mounts(c, env)
}

// releaseVolumeMounts removes the staging mounts of a container's subPaths
// once runsc has created it (or failed to): its gofer holds its own copies.
func (r *runner) releaseVolumeMounts(c *corev1.Container) {
	if len(c.VolumeMounts) == 0 {
		return
	}
	if err := r.volumeSet().set.Release(c.Name); err != nil {
		r.sup.opts.Log.Warn("release subPath mounts", "pod", r.name, "container", c.Name, "err", err)
	}
}

// unstageVolumes releases the subPath staging mounts a supervisor that
// stopped during a container start left in the namespace it shares with
// this one (see volume.Unstage), before anything removes a pod's files.
func (s *Supervisor) unstageVolumes() {
	entries, _ := os.ReadDir(s.opts.Dirs.PodVolumes())
	for _, e := range entries {
		if err := volume.Unstage(filepath.Join(s.opts.Dirs.PodVolumes(), e.Name())); err != nil {
			s.opts.Log.Warn("release subPath mounts", "sandbox", e.Name(), "err", err)
		}
	}
}

// objectChanged rewrites the volumes showing a changed object and wakes a
// start waiting for it.
func (r *runner) objectChanged(ref objects.Ref) {
	pv := r.volumeSet()
	if pv.set.WaitsFor(ref) {
		select {
		case pv.wake <- struct{}{}:
		default:
		}
	}
	if _, err := pv.set.RefreshObject(ref); err != nil {
		r.sup.opts.Log.Warn("refresh volumes", "pod", r.name, "object", ref.String(), "err", err)
	}
}

// refreshVolumes rewrites the downwardAPI files of the pod from its current
// metadata. Call it after changing the pod's labels or annotations (label,
// annotate); the kubelet does the same on its next sync.
func (r *runner) refreshVolumes() {
	r.mu.Lock()
	p := r.rec.Pod.DeepCopy()
	r.mu.Unlock()
	if _, err := r.volumeSet().set.RefreshPod(p); err != nil {
		r.sup.opts.Log.Warn("refresh downwardAPI volumes", "pod", r.name, "err", err)
	}
}

// teardownVolumes removes the pod's volumes when it is deleted; its
// persistent volume claims stay.
func (r *runner) teardownVolumes() {
	if err := r.volumeSet().set.Teardown(); err != nil {
		r.sup.opts.Log.Warn("remove pod volumes", "pod", r.name, "err", err)
	}
}

// ListClaims returns the persistent volume claims of a namespace ("" for
// all).
func (s *Supervisor) ListClaims(namespace string) ([]corev1.PersistentVolumeClaim, error) {
	return s.claims.List(namespace)
}

// GetClaim returns one persistent volume claim.
func (s *Supervisor) GetClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	return s.claims.Get(namespace, name)
}

// DeleteClaim removes a persistent volume claim and its files. A claim a
// pod uses is refused with a Conflict naming the pods: on a cluster the
// pvc-protection finalizer would keep it (Terminating) until they are gone;
// podbox refuses instead of leaving a deletion pending behind the user's
// back.
func (s *Supervisor) DeleteClaim(namespace, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.deletableClaimLocked(namespace, name); err != nil {
		return err
	}
	if err := s.claims.Remove(namespace, name); err != nil {
		return apierrors.NewInternalError(err)
	}
	return nil
}

// DryRunDeleteClaim refuses what DeleteClaim would refuse, and removes
// nothing.
func (s *Supervisor) DryRunDeleteClaim(namespace, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deletableClaimLocked(namespace, name)
}

// deletableClaimLocked returns why the claim cannot be deleted (missing, in
// use), or nil. The caller holds s.mu.
func (s *Supervisor) deletableClaimLocked(namespace, name string) error {
	if _, err := s.claims.Get(namespace, name); err != nil {
		return err
	}
	if users := s.claimUsersLocked(namespace, name); len(users) > 0 {
		return apierrors.NewConflict(volume.ClaimsResource, name,
			fmt.Errorf("the volume is in use by pod %s; delete the pod first", strings.Join(quoteAll(users), ", ")))
	}
	return nil
}

func (s *Supervisor) claimUsersLocked(namespace, name string) []string {
	var out []string
	for _, r := range s.pods {
		// A force-deleted pod is gone for the user already; its sandbox is
		// being removed and its claim is no longer its.
		if r.namespace != namespace || r.forceDeleted() {
			continue
		}
		for _, v := range r.rec.Pod.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name {
				out = append(out, r.name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// removeMemoryVolumes removes what is left of a pod's memory-backed volumes
// when only its files remain (deleted before a supervisor crash).
func (s *Supervisor) removeMemoryVolumes(sandboxID string) {
	if err := volume.Unstage(s.memoryVolumeDir(sandboxID)); err != nil {
		s.opts.Log.Warn("keep pod volumes", "sandbox", sandboxID, "err", err)
		return
	}
	if err := os.RemoveAll(s.memoryVolumeDir(sandboxID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.opts.Log.Warn("remove pod volumes", "sandbox", sandboxID, "err", err)
	}
}
