package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

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

func (r *runner) sandboxPod() sandbox.Pod {
	p := r.rec.Pod
	return sandbox.Pod{ID: r.rec.SandboxID, Name: p.Name, Namespace: p.Namespace, UID: string(p.UID), Hostname: pod.Hostname(p), NetNS: r.netnsPath(), Mounts: r.networkMounts(),
		SharePID: p.Spec.ShareProcessNamespace != nil && *p.Spec.ShareProcessNamespace}
}

// startSandbox boots the sentry with the pause container as its root.
func (r *runner) startSandbox() error {
	fail := func(err error) error {
		r.awaitAllPrefetches()
		for _, c := range r.rec.Pod.Spec.Containers {
			r.waitingError(c.Name, "CreateContainerError", fmt.Errorf("create pod sandbox: %w", err))
		}
		return err
	}
	if _, err := r.ensureDir("overlay"); err != nil {
		return fail(err)
	}
	bundle, err := r.ensureDir("bundles", "pause")
	if err != nil {
		return fail(err)
	}
	pause := sandbox.PauseSpec(r.sandboxPod(), r.sup.pauseRootfs)
	sandbox.WithRootfsImage(pause, r.sup.pauseImage)
	for k, v := range r.volumeHints() {
		pause.Annotations[k] = v
	}
	report, pauseOut, err := r.pauseMakesCgroups(pause)
	if err != nil {
		return fail(err)
	}
	if err := sandbox.WriteBundle(bundle, pause); err != nil {
		return fail(err)
	}
	res, err := r.sandboxResources()
	if err != nil {
		return fail(err)
	}
	err = r.runsc.RunSandbox(r.ctx, r.rec.SandboxID, bundle, res, pauseOut)
	if pauseOut != nil {
		pauseOut.Close() // the sentry holds its own copy
		r.watchPauseReport(report)
	}
	if err != nil {
		return fail(err)
	}
	r.update(func(rec *podRecord) { rec.SandboxReady = true })
	go r.watchMemory()
	return nil
}

// containerID names a container instance for runsc:
// <sandbox ID>-<container name>.<restart count as 8 hex digits>.
//
// runsc resolves an ID it is given by prefix and refuses one that is a
// prefix of another container's (runsc/container/state_file.go,
// findContainerID: "id %q is ambiguous"), so kill, wait and delete of a
// container whose ID begins another's all fail. The old form
// <sandbox>-<name>-<restart> made `a` (…-a-0) a prefix of `a-0` (…-a-0-0)
// and `app` at restart 1 (…-app-1) one of `app-1` (…-app-1-0). In this form
// no instance's ID is a prefix of another's in the same sandbox: a
// container name is a DNS label and cannot hold the '.' that ends it, and
// the restart count after it has a fixed width. The sandbox (pause) ID
// itself, 16 hex digits, begins them all; it is only named once its
// containers are deleted (deleteContainers), or through `runsc list`.
func containerID(sandboxID, name string, restart int32) string {
	return fmt.Sprintf("%s-%s.%08x", sandboxID, name, uint32(restart))
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
	live := &liveContainer{
		name:       c.Name,
		stopSignal: stopSignal,
		id:         containerID(r.rec.SandboxID, c.Name, restart),
		proc:       proc,
		exited:     make(chan struct{}),
	}

	bundle, err := r.ensureDir("bundles", c.Name)
	if err != nil {
		return err
	}
	mounts, err := r.volumeMounts(c, proc.Env)
	if err != nil {
		r.waitingError(c.Name, "CreateContainerConfigError", err)
		return errShown{err}
	}
	// Staging mounts live only while runsc sets the container up: released
	// right after it ran, or on any way out before.
	release := sync.OnceFunc(func() { r.releaseVolumeMounts(c) })
	defer release()
	if c.TerminationMessagePath != "" {
		f, err := r.terminationFile(c.Name, restart)
		if err != nil {
			return err
		}
		mounts = append(mounts, sandbox.FileMount(f, c.TerminationMessagePath, false))
	}
	spec := sandbox.ContainerSpec(r.sandboxPod(), c.Name, img.image.Ref, proc, img.rootfs, mounts...)
	if c.TTY {
		sandbox.WithTerminal(spec.Process)
	}
	if err := sandbox.WriteBundle(bundle, spec); err != nil {
		return err
	}
	if err := r.capPids(live.id); err != nil {
		return err
	}
	if c.TTY {
		err = r.runWithTerminal(c.Name, restart, live, bundle)
	} else {
		err = r.runWithLogs(c.Name, restart, live, bundle)
	}
	release()
	if err != nil {
		_ = r.runsc.Delete(context.Background(), live.id)
		return err
	}
	// One runsc process created and started it (sandbox.Runsc.Run).
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

// runWithLogs creates and starts the container from bundle with its
// stdout and stderr on pipes whose other ends feed the CRI log file of this
// instance.
func (r *runner) runWithLogs(name string, restart int32, live *liveContainer, bundle string) error {
	if _, err := r.ensureDir("logs", name); err != nil {
		return err
	}
	lf, err := openLog(r.logPath(name, restart), r.sup.opts.Clock.Now)
	if err != nil {
		return err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		lf.Close()
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		lf.Close()
		outR.Close()
		outW.Close()
		return err
	}
	// stdin: true keeps a pipe on the container's stdin, held by the log
	// server (see serveStdin); without a log server there is none.
	inR, inW, lr, err := r.stdinPipe(name, live)
	if err != nil {
		lf.Close()
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return err
	}
	startErr := r.runsc.Run(r.ctx, live.id, bundle, inR, outW, errW)
	// The sentry holds its own copies of the write ends (and of stdin's
	// read end) now.
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
		defer inW.Close()
	}
	if startErr != nil {
		outR.Close()
		errR.Close()
		lf.Close()
		return startErr
	}
	live.logs.Add(1)
	if server := r.sup.opts.LogServer; server != "" {
		// The log server (in the long-lived namespace holder) reads the
		// streams, so they survive a crash of this supervisor.
		lf.Close()
		lr.Path = r.logPath(name, restart)
		done, err := sendLogs(server, lr, outR, errR, inW)
		outR.Close()
		errR.Close()
		if err != nil {
			live.logs.Done()
			return err
		}
		go func() { <-done; live.logs.Done() }()
		return nil
	}
	go func() { copyStreams(lf, outR, errR); live.logs.Done() }()
	return nil
}

// process merges the image config with the container spec (Kubernetes
// rules) and resolves the user the process runs as.
func (r *runner) process(c *corev1.Container, img resolvedImage) (sandbox.Process, error) {
	p, err := pod.MergeProcess(r.rec.Pod, c, img.image.Config, pod.WithRuntime(r.envRuntime()))
	if err != nil {
		return sandbox.Process{}, err
	}
	uid, gid, err := sandbox.ResolveUser(img.rootfs, p.User)
	if err != nil {
		return sandbox.Process{}, err
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = uint32(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = uint32(*sc.RunAsGroup)
		}
	}
	if err := verifyRunAsNonRoot(r.rec.Pod, c, img.image.Config.User); err != nil {
		return sandbox.Process{}, err
	}
	return sandbox.Process{Args: p.Args, Env: p.Env, Cwd: p.Cwd, UID: uid, GID: gid,
		AdditionalGids: mergeGroups(supplementalGroups(r.rec.Pod), imageGroups(r.rec.Pod, img.rootfs, uid)), Security: containerSecurity(c)}, nil
}

// watch records the container's exit.
//
// It first waits for the end of the instance's output streams, and only
// then asks runsc for the exit status. Each container has a PID namespace
// of its own, so when its init exits every process in it is gone and the
// sentry closes the streams; `runsc wait` then returns at once. A `runsc
// wait` process costs about 4 MiB PSS, and one per container for the
// container's whole life was 15 % of an idle pod's memory. A container
// that closes its own stdout and stderr merely gets its `runsc wait`
// earlier; with a shared PID namespace (or an adopted instance, whose
// streams this supervisor does not hold) runsc is asked at once.
func (r *runner) watch(name string, live *liveContainer) {
	if !sharesPIDNamespace(r.rec.Pod) {
		live.logs.Wait()
	}
	code, err := r.runsc.Wait(context.Background(), live.id)
	if err != nil {
		// The sandbox went away under us (killed): report as kubelet does
		// for a container it can no longer find.
		r.sup.opts.Log.Warn("wait for container", "pod", r.name, "container", name, "err", err)
		code = 137
	}
	if sharesPIDNamespace(r.rec.Pod) {
		// The init has exited, but in a shared PID namespace its children
		// were reparented to the pause process and live on, holding the
		// output streams (the wait below would never end) and whatever
		// they hold. The container's runtime kills the rest of a container
		// whose init has exited (runc's delete kills every process of a
		// container without a PID namespace of its own).
		_ = r.killAll(live)
	}
	live.logs.Wait() // the fallback message reads the log
	r.mu.Lock()
	cr, spec := r.container(name)
	restart := cr.RestartCount
	r.mu.Unlock()
	msg := r.terminationMessage(spec, restart, int32(code))
	r.update(func(rec *podRecord) {
		cr, _ := r.container(name)
		cr.Running, cr.Terminated = false, true
		cr.ExitCode = int32(code)
		cr.Reason = exitReason(int32(code))
		if live.oomKilled.Load() || (code == 137 && r.podCgroupOOMKilled()) {
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
	err := r.runsc.KillAll(context.Background(), l.id, "KILL")
	if err != nil {
		r.sup.opts.Log.Debug("kill container", "pod", r.name, "id", l.id, "err", err)
	}
	return err
}

// sharesPIDNamespace reports whether the pod's containers share one PID
// namespace (shareProcessNamespace), where a container's processes may
// outlive its init.
func sharesPIDNamespace(p *corev1.Pod) bool {
	return p.Spec.ShareProcessNamespace != nil && *p.Spec.ShareProcessNamespace
}

// removeInstance deletes an exited instance from runsc once its output is
// in its log.
func (r *runner) removeInstance(l *liveContainer) {
	_ = r.runsc.Delete(context.Background(), l.id)
	l.logs.Wait()
}
