package gvisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/cri/crilog"
	"podbox.dev/podbox/sandbox"
)

// instance is one started (or adopted) instance of a container. Only
// oomKilled, status and exited change after start: exited is closed once
// status is set.
type instance struct {
	sb   *podSandbox
	id   string
	name string
	// proc is what it runs, for execs with its environment and user.
	proc sandbox.Process
	tty  bool
	// logs is done when its output is all in its log.
	logs sync.WaitGroup
	// oomKilled is set when the memory watcher kills the instance.
	oomKilled atomic.Bool
	status    cri.ExitStatus
	exited    chan struct{}
}

func newInstance(sb *podSandbox, id string, cfg *cri.ContainerConfig) *instance {
	return &instance{sb: sb, id: id, name: cfg.Name, proc: cfg.Process, tty: cfg.TTY, exited: make(chan struct{})}
}

// running reports whether the instance has not exited yet.
func (inst *instance) running() bool {
	select {
	case <-inst.exited:
		return false
	default:
		return true
	}
}

func (rt *Runtime) instance(id string) (*instance, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if inst := rt.instances[id]; inst != nil {
		return inst, nil
	}
	return nil, fmt.Errorf("container instance %s is unknown to the runtime", id)
}

// instancesOf returns the instances of a sandbox the runtime tracks.
func (rt *Runtime) instancesOf(sandboxID string) []*instance {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []*instance
	for _, inst := range rt.instances {
		if inst.sb.cfg.ID == sandboxID {
			out = append(out, inst)
		}
	}
	return out
}

// track registers a started instance and starts its exit watch.
func (rt *Runtime) track(inst *instance) {
	rt.mu.Lock()
	rt.instances[inst.id] = inst
	rt.mu.Unlock()
	go rt.watch(inst)
}

func (rt *Runtime) runningSandbox(id string) (*podSandbox, error) {
	sb := rt.sandbox(id)
	if sb == nil {
		return nil, fmt.Errorf("sandbox %s is not running", id)
	}
	return sb, nil
}

// StartContainer writes the instance's bundle, caps its processes and runs
// it (runsc run creates and starts it in one process) with its output on
// its log.
func (rt *Runtime) StartContainer(ctx context.Context, sandboxID string, cfg *cri.ContainerConfig) (string, error) {
	sb, err := rt.runningSandbox(sandboxID)
	if err != nil {
		return "", err
	}
	inst := newInstance(sb, cri.ContainerID(sandboxID, cfg.Name, cfg.Attempt), cfg)
	bundle, err := ensureDir(sb.cfg.Dir, "bundles", cfg.Name)
	if err != nil {
		return "", err
	}
	mounts := cfg.Mounts
	if cfg.TerminationMessagePath != "" {
		mounts = append(mounts, sandbox.FileMount(cfg.TerminationFile, cfg.TerminationMessagePath, false))
	}
	spec := sandbox.ContainerSpec(rt.sandboxPod(sb), cfg.Name, cfg.Image, cfg.Process, cfg.Rootfs, mounts...)
	if cfg.TTY {
		sandbox.WithTerminal(spec.Process)
	}
	if err := sandbox.WriteBundle(bundle, spec); err != nil {
		return "", err
	}
	if err := rt.capPids(ctx, sb, inst.id); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.LogPath), 0o700); err != nil {
		return "", err
	}
	if cfg.TTY {
		err = rt.runWithTerminal(ctx, inst, cfg, bundle)
	} else {
		err = rt.runWithLogs(ctx, inst, cfg, bundle)
	}
	if err != nil {
		_ = sb.runsc.Delete(context.Background(), inst.id)
		return "", err
	}
	rt.track(inst)
	return inst.id, nil
}

// runWithLogs creates and starts the container from bundle with its
// stdout and stderr on pipes whose other ends feed the CRI log file of this
// instance.
func (rt *Runtime) runWithLogs(ctx context.Context, inst *instance, cfg *cri.ContainerConfig, bundle string) error {
	lf, err := crilog.Open(cfg.LogPath, rt.opts.Clock.Now)
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
	inR, inW, lr, err := rt.stdinPipe(inst.id, cfg)
	if err != nil {
		lf.Close()
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return err
	}
	startErr := inst.sb.runsc.Run(ctx, inst.id, bundle, inR, outW, errW)
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
	inst.logs.Add(1)
	if server := rt.opts.LogServer; server != "" {
		// The log server (in the long-lived namespace holder) reads the
		// streams, so they survive a crash of this supervisor.
		lf.Close()
		lr.Path = cfg.LogPath
		done, err := sendLogs(server, lr, outR, errR, inW)
		outR.Close()
		errR.Close()
		if err != nil {
			inst.logs.Done()
			return err
		}
		go func() { <-done; inst.logs.Done() }()
		return nil
	}
	go func() { copyStreams(lf, outR, errR); inst.logs.Done() }()
	return nil
}

// AdoptContainer registers an instance a crashed predecessor started; its
// log server goes on writing its log, so there is nothing here to wait for
// but its exit.
func (rt *Runtime) AdoptContainer(ctx context.Context, sandboxID, id string, cfg *cri.ContainerConfig) error {
	sb, err := rt.runningSandbox(sandboxID)
	if err != nil {
		return err
	}
	_, err = sb.runsc.State(ctx, id)
	rt.track(newInstance(sb, id, cfg))
	return err
}

// watch records the instance's exit.
//
// It first waits for the end of the instance's output streams, and only
// then asks runsc for the exit status. Each container has a PID namespace
// of its own, so when its init exits every process in it is gone and the
// sentry closes the streams; `runsc wait` then returns at once. A `runsc
// wait` process costs about 4 MiB PSS, and one per container for the
// container's whole life was 15 % of an idle pod's memory. A container
// that closes its own stdout and stderr merely gets its `runsc wait`
// earlier; with a shared PID namespace (or an adopted instance, whose
// streams this runtime does not hold) runsc is asked at once.
func (rt *Runtime) watch(inst *instance) {
	sb := inst.sb
	if !sb.sharesPID() {
		inst.logs.Wait()
	}
	code, err := sb.runsc.Wait(context.Background(), inst.id)
	if err != nil {
		// The sandbox went away under us (killed): report as kubelet does
		// for a container it can no longer find.
		rt.opts.Log.Warn("wait for container", "pod", sb.cfg.Pod.Name, "container", inst.name, "err", err)
		code = 137
	}
	if sb.sharesPID() {
		// The init has exited, but in a shared PID namespace its children
		// were reparented to the pause process and live on, holding the
		// output streams (the wait below would never end) and whatever
		// they hold. The container's runtime kills the rest of a container
		// whose init has exited (runc's delete kills every process of a
		// container without a PID namespace of its own).
		_ = rt.killAll(inst)
	}
	inst.logs.Wait() // the supervisor's fallback message reads the log
	inst.status = cri.ExitStatus{ExitCode: int32(code), OOMKilled: inst.oomKilled.Load() || (code == 137 && rt.podCgroupOOMKilled(sb.cfg.ID))}
	close(inst.exited)
}

// WaitContainer waits for the watch of the instance to see its exit.
func (rt *Runtime) WaitContainer(ctx context.Context, id string) (cri.ExitStatus, error) {
	inst, err := rt.instance(id)
	if err != nil {
		return cri.ExitStatus{}, err
	}
	select {
	case <-inst.exited:
		return inst.status, nil
	case <-ctx.Done():
		return cri.ExitStatus{}, ctx.Err()
	}
}

// StopContainer signals the instance's init.
func (rt *Runtime) StopContainer(ctx context.Context, id, signal string) error {
	inst, err := rt.instance(id)
	if err != nil {
		return err
	}
	return inst.sb.runsc.Kill(ctx, id, signal)
}

// KillContainer sends SIGKILL to every process of the instance.
func (rt *Runtime) KillContainer(_ context.Context, id string) error {
	inst, err := rt.instance(id)
	if err != nil {
		return err
	}
	return rt.killAll(inst)
}

// killAll sends SIGKILL to every process of the instance: the final kill
// of deletion, liveness and OOM kills, as the kubelet's runtime kills a
// whole container (the graceful stop signal goes to its init only, as the
// CRI's StopContainer does). It fails harmlessly for an instance already
// deleted; IDs are never reused, so it cannot reach another instance.
func (rt *Runtime) killAll(inst *instance) error {
	err := inst.sb.runsc.KillAll(context.Background(), inst.id, "KILL")
	if err != nil {
		rt.opts.Log.Debug("kill container", "pod", inst.sb.cfg.Pod.Name, "id", inst.id, "err", err)
	}
	return err
}

// RemoveContainer deletes an instance from runsc and waits for the end of
// its log.
func (rt *Runtime) RemoveContainer(ctx context.Context, id string) error {
	rt.mu.Lock()
	inst := rt.instances[id]
	delete(rt.instances, id)
	rt.mu.Unlock()
	if inst == nil {
		return nil
	}
	err := inst.sb.runsc.Delete(ctx, id)
	inst.logs.Wait()
	return err
}
