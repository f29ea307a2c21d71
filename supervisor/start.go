package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/image"
	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/sandbox"
)

// Image pull back-off, as the kubelet's: 10 s doubling to 300 s.
const (
	pullBackoffInitial = 10 * time.Second
	pullBackoffMax     = 300 * time.Second
	// errImagePullShown is how long ErrImagePull shows before the pod's
	// next sync turns it into ImagePullBackOff.
	errImagePullShown = time.Second
)

// prepareImage resolves a container's image by its pull policy, pulling
// where needed, and unpacks it; once per container for the runner's life.
// A prefetch of it under way (prefetch.go) is waited for.
func (r *runner) prepareImage(c *corev1.Container) error {
	if err, ok := r.awaitPrefetch(c.Name); ok {
		return err
	}
	return r.resolveImage(c)
}

func (r *runner) resolveImage(c *corev1.Container) error {
	if r.getImage(c.Name).image != nil {
		return nil
	}
	img, err := r.pullWithBackoff(c)
	if err != nil {
		return err
	}
	// Leased before unpacking, so an image prune cannot take it away.
	if err := r.sup.opts.Images.Lease(r.leaseHolder(), img.ID); err != nil {
		r.waitingError(c.Name, "CreateContainerError", err)
		return err
	}
	rootfs, err := r.sup.opts.Images.Rootfs(img)
	if err != nil {
		r.waitingError(c.Name, "CreateContainerError", err)
		return err
	}
	r.setImage(c.Name, resolvedImage{image: img, rootfs: rootfs})
	r.update(func(rec *podRecord) {
		cr, _ := r.container(c.Name)
		cr.Image = img.Ref
		cr.ImageID = img.ImageID()
		cr.WaitingReason, cr.WaitingMessage = "ContainerCreating", ""
	})
	return nil
}

// pullWithBackoff gets a container's image as the kubelet's image manager
// does: a failure shows as ErrImagePull, then ImagePullBackOff until the
// back-off window (per pod and image) has passed, then it tries again; the
// pod stays Pending throughout. It returns only with the image or when the
// pod is being deleted.
func (r *runner) pullWithBackoff(c *corev1.Container) (*image.Image, error) {
	key := string(r.rec.Pod.UID) + "_" + c.Image
	bo, clk := r.sup.pullBackoff, r.sup.opts.Clock
	path := r.fieldPath(c.Name)
	for {
		img, err := r.ensureImage(c)
		if err == nil {
			return img, nil
		}
		reason := "ErrImagePull"
		var never errNeverPull
		if errors.As(err, &never) {
			reason = "ErrImageNeverPull"
			r.event(path, warning, reason, err.Error())
		} else {
			r.event(path, warning, "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, err))
			r.event(path, warning, "Failed", "Error: "+reason)
		}
		r.setWaiting(c.Name, reason, err.Error())
		failedAt := clk.Now()
		bo.Next(key, failedAt)
		window := bo.Get(key)
		if err := r.sleep(min(errImagePullShown, window)); err != nil {
			return nil, err
		}
		if bo.IsInBackOffSinceUpdate(key, clk.Now()) {
			msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
			r.event(path, normal, "BackOff", msg)
			r.event(path, warning, "Failed", "Error: ImagePullBackOff")
			r.setWaiting(c.Name, "ImagePullBackOff", msg)
			if err := r.sleep(failedAt.Add(window).Sub(clk.Now())); err != nil {
				return nil, err
			}
		}
	}
}

// sleep waits on the supervisor's clock, or until the pod is being deleted.
func (r *runner) sleep(d time.Duration) error {
	if d <= 0 {
		return r.ctx.Err()
	}
	select {
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-r.sup.opts.Clock.After(d):
		return nil
	}
}

type errNeverPull struct{ image string }

func (e errNeverPull) Error() string {
	return fmt.Sprintf("Container image %q is not present with pull policy of Never", e.image)
}

// ensureImage applies the pull policy: a present image is used unless the
// policy is Always; a missing one is pulled unless the policy is Never.
func (r *runner) ensureImage(c *corev1.Container) (*image.Image, error) {
	store := r.sup.opts.Images
	path := r.fieldPath(c.Name)
	if c.ImagePullPolicy != corev1.PullAlways {
		img, err := store.Lookup(c.Image)
		if err == nil {
			r.event(path, normal, "Pulled", fmt.Sprintf("Container image %q already present on machine", c.Image))
			return img, nil
		}
		if !errors.Is(err, image.ErrNotFound) {
			return nil, err
		}
		if c.ImagePullPolicy == corev1.PullNever {
			return nil, errNeverPull{c.Image}
		}
	}
	r.event(path, normal, "Pulling", fmt.Sprintf("Pulling image %q", c.Image))
	var res image.PullResult
	img, err := store.Pull(r.ctx, c.Image, image.WithResult(&res))
	if err != nil {
		return nil, err
	}
	r.event(path, normal, "Pulled", fmt.Sprintf("Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.",
		c.Image, res.Duration.Round(time.Millisecond), res.Total.Round(time.Millisecond), res.Size))
	return img, nil
}

// sandboxConfig is what the runtime needs to know of the pod.
func (r *runner) sandboxConfig() *cri.SandboxConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &cri.SandboxConfig{ID: r.rec.SandboxID, Pod: r.rec.Pod.DeepCopy(), Dir: r.dir, PodIP: r.rec.PodIP,
		Warn: func(reason, message string) { r.event("", warning, reason, message) }}
}

// firstInstances are the instances each container of the pod starts next
// in a new sandbox.
func (r *runner) firstInstances() []cri.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cri.Instance
	for _, cr := range append(append([]*containerRecord{}, r.rec.InitContainers...), r.rec.Containers...) {
		out = append(out, cri.Instance{Name: cr.Name, Attempt: cr.RestartCount})
	}
	return out
}

// runSandbox has the runtime make the pod's network and boot its sandbox.
func (r *runner) runSandbox() error {
	cfg := r.sandboxConfig()
	cfg.Annotations = r.volumeHints()
	cfg.FirstInstances = r.firstInstances()
	st, err := r.sup.rt.RunPodSandbox(r.ctx, cfg)
	if err != nil {
		r.awaitAllPrefetches()
		for _, c := range r.rec.Pod.Spec.Containers {
			r.waitingError(c.Name, "CreateContainerError", err)
		}
		return err
	}
	r.update(func(rec *podRecord) {
		if st.PodIP != "" {
			rec.PodIP, rec.HostIP = st.PodIP, st.HostIP
		}
		rec.SandboxReady = true
	})
	return nil
}

func (r *runner) startContainer(c *corev1.Container) error {
	img := r.getImage(c.Name)
	proc, err := r.process(c, img)
	if err != nil {
		// A missing ConfigMap, Secret or key: retried until it appears.
		r.configFailed(c, err)
		return errConfig{err}
	}
	r.mu.Lock()
	cr, _ := r.container(c.Name)
	restart, keep := cr.RestartCount, []int32{cr.RestartCount}
	if cr.Last != nil {
		keep = append(keep, cr.Last.Attempt)
	}
	r.mu.Unlock()
	r.pruneInstances(c.Name, keep...)
	stopSignal := img.image.Config.StopSignal
	if stopSignal == "" {
		stopSignal = "TERM"
	}
	mounts, err := r.volumeMounts(c, proc.Env)
	if err != nil {
		r.waitingError(c.Name, "CreateContainerConfigError", err)
		return errShown{err}
	}
	// Staging mounts live only while the runtime sets the container up:
	// released right after it ran, or on any way out before.
	release := sync.OnceFunc(func() { r.releaseVolumeMounts(c) })
	defer release()
	cfg := &cri.ContainerConfig{Name: c.Name, Attempt: restart, Image: img.image.Ref, Rootfs: img.rootfs, Process: proc, Mounts: mounts,
		TTY: c.TTY, Stdin: c.Stdin, StdinOnce: c.StdinOnce, LogPath: r.logPath(c.Name, restart)}
	if c.TerminationMessagePath != "" {
		f, err := r.terminationFile(c.Name, restart)
		if err != nil {
			return err
		}
		cfg.TerminationMessagePath, cfg.TerminationFile = c.TerminationMessagePath, f
	}
	id, err := r.sup.rt.StartContainer(r.ctx, r.rec.SandboxID, cfg)
	release()
	if err != nil {
		return err
	}
	live := &liveContainer{name: c.Name, id: id, stopSignal: stopSignal, exited: make(chan struct{})}
	// The runtime created and started it in one step (runsc run).
	r.event(r.fieldPath(c.Name), normal, "Created", "Created container: "+c.Name)
	r.setLive(c.Name, live)
	started := r.sup.opts.Clock.Now()
	r.event(r.fieldPath(c.Name), normal, "Started", "Started container "+c.Name)
	// Reported Running only once the postStart hook has returned.
	ok := r.postStart(c, live)
	r.startProbes(c)
	r.update(func(rec *podRecord) {
		cr, _ := r.container(c.Name)
		cr.ContainerID = "gvisor://" + live.id
		cr.StartedAt = started
		if ok {
			cr.Running, cr.Terminated = true, false
			cr.WaitingReason, cr.WaitingMessage = "", ""
		}
	})
	go r.watch(c.Name, live)
	return nil
}

// process is the container's process in the sandbox (pod.SandboxProcess),
// its environment resolved against this pod's runtime facts.
func (r *runner) process(c *corev1.Container, img resolvedImage) (sandbox.Process, error) {
	return pod.SandboxProcess(r.rec.Pod, c, img.image.Config, img.rootfs, pod.WithRuntime(r.envRuntime()))
}

// watch records the container's exit, once the runtime reports it with
// the instance's output all in its log.
func (r *runner) watch(name string, live *liveContainer) {
	st, err := r.sup.rt.WaitContainer(context.Background(), live.id)
	if err != nil {
		// Report as kubelet does for a container it can no longer find.
		r.sup.opts.Log.Warn("wait for container", "pod", r.name, "container", name, "err", err)
		st = cri.ExitStatus{ExitCode: 137}
	}
	code := st.ExitCode
	r.mu.Lock()
	cr, spec := r.container(name)
	restart := cr.RestartCount
	r.mu.Unlock()
	msg := r.terminationMessage(spec, restart, code)
	r.update(func(rec *podRecord) {
		cr, _ := r.container(name)
		cr.Running, cr.Terminated = false, true
		cr.ExitCode = code
		cr.Reason = exitReason(code)
		if st.OOMKilled {
			cr.Reason = "OOMKilled"
		}
		cr.Message = msg
		cr.FinishedAt = r.sup.opts.Clock.Now()
	})
	close(live.exited)
	r.kick() // the loop decides: restart, back off, or stop the pod
}

// killAll sends SIGKILL to every process of the instance: the final kill
// of deletion, liveness and OOM kills, as the kubelet's runtime kills a
// whole container (the graceful stop signal goes to its init only, as the
// CRI's StopContainer does). It fails harmlessly for an instance already
// deleted; IDs are never reused, so it cannot reach another instance.
func (r *runner) killAll(l *liveContainer) error {
	err := r.sup.rt.KillContainer(context.Background(), l.id)
	if err != nil {
		r.sup.opts.Log.Debug("kill container", "pod", r.name, "id", l.id, "err", err)
	}
	return err
}

// removeInstance deletes an exited instance from the runtime (which waits
// until its output is in its log).
func (r *runner) removeInstance(l *liveContainer) {
	_ = r.sup.rt.RemoveContainer(context.Background(), l.id)
}
