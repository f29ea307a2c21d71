package gvisor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/sandbox"
)

// podSandbox is the runtime's state of one pod's sandbox. cfg and runsc do
// not change once it runs; the rest is guarded by the Runtime's mu.
type podSandbox struct {
	cfg   cri.SandboxConfig
	runsc *sandbox.Runsc
	// ip is the pod's address on the pod network (invalid: none).
	ip netip.Addr
	// pauseCg is the pause container's report on the capped cgroups it
	// made for the first instances of the containers (pidscap.go).
	pauseCg *pauseCgroups
	// stopMemoryWatch ends the memory watcher (oom.go), if one runs.
	stopMemoryWatch context.CancelFunc
}

// ensureSandbox returns the state of the sandbox cfg describes, made now
// if the runtime has none (a sandbox known from Recover gets cfg).
func (rt *Runtime) ensureSandbox(cfg *cri.SandboxConfig) *podSandbox {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	sb := rt.sandboxes[cfg.ID]
	if sb == nil {
		sb = &podSandbox{}
		rt.sandboxes[cfg.ID] = sb
	}
	sb.cfg = *cfg
	sb.runsc = rt.runsc(cfg.Dir)
	return sb
}

// sandbox returns a sandbox's state, nil if the runtime has none.
func (rt *Runtime) sandbox(id string) *podSandbox {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.sandboxes[id]
}

func (sb *podSandbox) setIP(rt *Runtime, ip netip.Addr) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	sb.ip = ip
}

// sharesPID reports whether the pod's containers share one PID namespace
// (shareProcessNamespace), where a container's processes may outlive its
// init.
func (sb *podSandbox) sharesPID() bool {
	p := sb.cfg.Pod
	return p.Spec.ShareProcessNamespace != nil && *p.Spec.ShareProcessNamespace
}

// spec finds a container of the pod, app or init, by name.
func (sb *podSandbox) spec(name string) *corev1.Container {
	for _, cs := range [][]corev1.Container{sb.cfg.Pod.Spec.InitContainers, sb.cfg.Pod.Spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	return nil
}

func (rt *Runtime) sandboxPod(sb *podSandbox) sandbox.Pod {
	p := sb.cfg.Pod
	return sandbox.Pod{ID: sb.cfg.ID, Name: p.Name, Namespace: p.Namespace, UID: string(p.UID), Hostname: pod.Hostname(p), NetNS: rt.netnsPath(sb.cfg.ID),
		Mounts: networkMounts(sb.cfg.Dir), SharePID: sb.sharesPID()}
}

// ensureDir creates a directory inside the pod dir.
func ensureDir(podDir string, parts ...string) (string, error) {
	d := filepath.Join(append([]string{podDir}, parts...)...)
	return d, os.MkdirAll(d, 0o700)
}

// RunPodSandbox makes the pod's network, then boots the sentry with the
// pause container as its root.
func (rt *Runtime) RunPodSandbox(ctx context.Context, cfg *cri.SandboxConfig) (*cri.SandboxStatus, error) {
	sb := rt.ensureSandbox(cfg)
	st, err := rt.createNetwork(sb)
	if err != nil {
		return nil, err
	}
	if err := rt.startSandbox(ctx, sb); err != nil {
		return nil, fmt.Errorf("create pod sandbox: %w", err)
	}
	rt.watchMemory(sb)
	return st, nil
}

func (rt *Runtime) startSandbox(ctx context.Context, sb *podSandbox) error {
	if _, err := ensureDir(sb.cfg.Dir, "overlay"); err != nil {
		return err
	}
	bundle, err := ensureDir(sb.cfg.Dir, "bundles", "pause")
	if err != nil {
		return err
	}
	pause := sandbox.PauseSpec(rt.sandboxPod(sb), rt.pauseRootfs)
	sandbox.WithRootfsImage(pause, rt.pauseImage)
	for k, v := range sb.cfg.Annotations {
		pause.Annotations[k] = v
	}
	report, pauseOut, err := rt.pauseMakesCgroups(sb, pause)
	if err != nil {
		return err
	}
	if err := sandbox.WriteBundle(bundle, pause); err != nil {
		return err
	}
	res, err := rt.sandboxResources(sb)
	if err != nil {
		return err
	}
	err = sb.runsc.RunSandbox(ctx, sb.cfg.ID, bundle, res, pauseOut)
	if pauseOut != nil {
		pauseOut.Close() // the sentry holds its own copy
		rt.watchPauseReport(sb, report)
	}
	return err
}

// AdoptPodSandbox takes over a sandbox a crashed predecessor left running:
// its host ports are served again and its memory watched.
func (rt *Runtime) AdoptPodSandbox(_ context.Context, cfg *cri.SandboxConfig) (*cri.SandboxStatus, error) {
	sb := rt.ensureSandbox(cfg)
	st := rt.adoptNetwork(sb)
	rt.watchMemory(sb)
	return st, nil
}

// StopPodSandbox deletes the sandbox's containers and the sandbox, then
// removes its network; its address stays reserved. The containers' exits
// are reported by WaitContainer.
func (rt *Runtime) StopPodSandbox(ctx context.Context, sandboxID string) error {
	sb := rt.sandbox(sandboxID)
	var ip netip.Addr
	r := rt.runscForState()
	if sb != nil {
		rt.mu.Lock()
		ip = sb.ip
		if sb.stopMemoryWatch != nil {
			sb.stopMemoryWatch()
			sb.stopMemoryWatch = nil
		}
		rt.mu.Unlock()
		r = sb.runsc
	}
	rt.deleteContainers(ctx, r, sandboxID)
	return rt.removeNetwork(sandboxID, ip)
}

// deleteContainers removes the sandbox's containers from runsc, then the
// sandbox itself. runsc resolves IDs by prefix and refuses an ambiguous one,
// and the sandbox's ID begins every container's (as do, in pods started
// before cri.ContainerID's form, some containers' IDs each other's):
// deleting the longest ID first means no ID still present is ever longer
// than the one being deleted, so none is ambiguous. Containers runsc knows
// but the runtime no longer tracks (an instance whose delete failed
// earlier) go too, found by `runsc list`. The sandbox may never have been
// created; deleting an unknown ID fails harmlessly.
func (rt *Runtime) deleteContainers(ctx context.Context, r *sandbox.Runsc, sandboxID string) {
	ids := map[string]bool{}
	for _, inst := range rt.instancesOf(sandboxID) {
		ids[inst.id] = true
	}
	if all, err := r.List(ctx); err == nil {
		for _, id := range all {
			if strings.HasPrefix(id, sandboxID+"-") {
				ids[id] = true
			}
		}
	}
	for _, id := range longestFirst(ids) {
		if err := r.Delete(ctx, id); err != nil {
			rt.opts.Log.Warn("delete container", "id", id, "err", err)
		}
	}
	_ = r.Delete(ctx, sandboxID)
}

// RemovePodSandbox releases the address and cgroup of a stopped sandbox
// and forgets it.
func (rt *Runtime) RemovePodSandbox(_ context.Context, sandboxID string) error {
	rt.mu.Lock()
	sb := rt.sandboxes[sandboxID]
	delete(rt.sandboxes, sandboxID)
	for id, inst := range rt.instances {
		if inst.sb == sb {
			delete(rt.instances, id)
		}
	}
	var ip netip.Addr
	var uid string
	if sb != nil {
		ip, uid = sb.ip, string(sb.cfg.Pod.UID)
	}
	rt.mu.Unlock()
	rt.releaseAddress(ip, uid)
	if cg := rt.opts.Cgroups; cg != nil {
		if err := cg.RemovePodCgroup(sandboxID); err != nil {
			return fmt.Errorf("remove pod cgroup: %w", err)
		}
	}
	return nil
}
