package gvisor

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/sandbox"
)

// Memory limits without cgroups. Rootless on a host without a delegated
// cgroup v2 subtree, nothing in the kernel can hold a sandbox to a limit, and
// the sentry never reads linux.resources. What the sentry does have is its
// own per-container memory accounting (one in-sandbox cgroup per container,
// see sandbox.cgroupMount). The runtime samples it and does what the
// kernel's OOM killer does to a container over its cgroup's memory.max:
// SIGKILL, reported as OOMKilled with exit code 137, then the pod's restart
// policy. A fast allocation can overshoot the limit by what it allocates
// within one sampling period; docs/resources.md says so.

// A pod with memory limits is sampled every memorySampleFast while any
// container (or the pod) uses at least half of its limit, and every
// memorySampleSlow otherwise: a sample is one control-socket call per running
// container plus one for the pod (about a millisecond each, measured), so
// idle pods far from their limits cost little, while one nearing its limit
// is watched closely. No process is started.
const (
	memorySampleFast = 250 * time.Millisecond
	memorySampleSlow = time.Second
)

// statsSource reads the sentry's accounting; *sandbox.Runsc is one.
type statsSource interface {
	Stats(sandboxID, containerID string) (sandbox.Stats, error)
	// PodMemory is the sentry's total: what the pod really uses. Stats of
	// the sandbox ID cannot tell it: the pause container has no cgroup of
	// its own, and the sentry answers 0 for it.
	PodMemory(sandboxID string) (sandbox.SandboxMemory, error)
}

// memSample is one running container instance's usage against its limit
// (0: none).
type memSample struct {
	name  string
	id    string
	usage uint64
	limit uint64
}

// oomVictims decides which container instances to kill: every container
// over its own limit; and, if the pod's total is over the pod's limit
// (podLimit 0: none) and no container was over its own, the biggest one, as
// the kernel picks the largest task in a pod cgroup under pressure.
func oomVictims(samples []memSample, podUsage, podLimit uint64) []memSample {
	var out []memSample
	for _, s := range samples {
		if s.limit > 0 && s.usage > s.limit {
			out = append(out, s)
		}
	}
	if len(out) > 0 || podLimit == 0 || podUsage <= podLimit || len(samples) == 0 {
		return out
	}
	biggest := samples[0]
	for _, s := range samples[1:] {
		if s.usage > biggest.usage {
			biggest = s
		}
	}
	return []memSample{biggest}
}

// memoryLimit is a container's limits.memory in bytes, 0 if it has none.
func memoryLimit(c *corev1.Container) uint64 {
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && q.Sign() > 0 {
		return uint64(q.Value())
	}
	return 0
}

// podMemoryLimit is the pod-level memory limit (pod.PodLimit) in bytes, 0
// for none.
func podMemoryLimit(spec *corev1.PodSpec) uint64 {
	q, ok := pod.PodLimit(spec, corev1.ResourceMemory)
	if !ok || q.Sign() <= 0 {
		return 0
	}
	return uint64(q.Value())
}

// hasMemoryLimits reports whether any container of the pod has a memory
// limit, i.e. whether the pod needs a memory watcher at all.
func hasMemoryLimits(spec *corev1.PodSpec) bool {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if memoryLimit(&cs[i]) > 0 {
				return true
			}
		}
	}
	return false
}

// memoryWatcher samples one pod on a clock and reports the instances to
// kill; it holds only what it needs to not kill an instance twice.
type memoryWatcher struct {
	clock     clock.WithTicker
	stats     statsSource
	sandboxID string
	podLimit  uint64
	// running returns the running instances with their limits (usage 0).
	running func() []memSample
	// kill ends an instance as OOMKilled; reason is for the event.
	kill func(s memSample, reason string)
	// killed are instance IDs already killed (they take a moment to die).
	killed map[string]bool
}

// run samples until ctx ends, every fast period while the pod is near a
// limit and every slow one otherwise.
func (w *memoryWatcher) run(ctx context.Context, fast, slow time.Duration) {
	period := fast
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.clock.After(period):
			period = slow
			if w.sample() {
				period = fast
			}
		}
	}
}

// sample reads every running instance's usage and kills what is over; it
// reports whether anything is at half its limit or more. An instance whose
// stats cannot be read (it is just starting or exiting) is left out of this
// round.
func (w *memoryWatcher) sample() (hot bool) {
	var samples []memSample
	running := w.running()
	// Forget killed instances once they are gone.
	live := map[string]bool{}
	for _, s := range running {
		live[s.id] = true
	}
	for id := range w.killed {
		if !live[id] {
			delete(w.killed, id)
		}
	}
	for _, s := range running {
		if w.killed[s.id] {
			continue
		}
		st, err := w.stats.Stats(w.sandboxID, s.id)
		if err != nil {
			continue
		}
		s.usage = st.MemoryBytes
		samples = append(samples, s)
	}
	var podUsage uint64
	if w.podLimit > 0 {
		// The sentry's total: every container plus what belongs to none
		// of them (the pause, memory left by exited containers such as
		// SysV shared memory, the sentry's page tables for the pod's
		// processes), as a pod cgroup on a cluster counts it.
		if m, err := w.stats.PodMemory(w.sandboxID); err == nil {
			podUsage = m.Total
		}
	}
	for _, s := range samples {
		hot = hot || (s.limit > 0 && s.usage >= s.limit/2)
	}
	hot = hot || (w.podLimit > 0 && podUsage >= w.podLimit/2)
	sort.Slice(samples, func(i, j int) bool { return samples[i].name < samples[j].name })
	for _, v := range oomVictims(samples, podUsage, w.podLimit) {
		w.killed[v.id] = true
		reason := fmt.Sprintf("Memory cgroup out of memory: killed container %s (usage %d bytes, limit %d bytes)", v.name, v.usage, v.limit)
		if v.limit == 0 || v.usage <= v.limit {
			reason = fmt.Sprintf("Memory cgroup out of memory: killed container %s, the largest (usage %d bytes), pod usage %d bytes over the pod's limit %d bytes", v.name, v.usage, podUsage, w.podLimit)
		}
		w.kill(v, reason)
	}
	return hot
}

// watchMemory enforces the pod's memory limits until the sandbox is
// stopped.
func (rt *Runtime) watchMemory(sb *podSandbox) {
	spec := &sb.cfg.Pod.Spec
	if !hasMemoryLimits(spec) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt.mu.Lock()
	if sb.stopMemoryWatch != nil {
		sb.stopMemoryWatch()
	}
	sb.stopMemoryWatch = cancel
	rt.mu.Unlock()
	w := &memoryWatcher{
		clock:     rt.opts.Clock,
		stats:     sb.runsc,
		sandboxID: sb.cfg.ID,
		podLimit:  podMemoryLimit(spec),
		running:   func() []memSample { return rt.memoryInstances(sb) },
		kill:      func(s memSample, reason string) { rt.oomKill(sb, s, reason) },
		killed:    map[string]bool{},
	}
	go w.run(ctx, memorySampleFast, memorySampleSlow)
}

// memoryInstances lists the sandbox's running instances.
func (rt *Runtime) memoryInstances(sb *podSandbox) []memSample {
	var out []memSample
	for _, inst := range rt.instancesOf(sb.cfg.ID) {
		c := sb.spec(inst.name)
		if !inst.running() || c == nil {
			continue
		}
		out = append(out, memSample{name: inst.name, id: inst.id, limit: memoryLimit(c)})
	}
	return out
}

// oomKill kills an instance as the kernel's OOM killer would; its exit is
// then reported as OOMKilled and the restart policy applies.
func (rt *Runtime) oomKill(sb *podSandbox, s memSample, reason string) {
	inst, err := rt.instance(s.id)
	if err != nil {
		return
	}
	inst.oomKilled.Store(true)
	rt.opts.Log.Warn("memory limit exceeded", "pod", sb.cfg.Pod.Name, "container", s.name, "usage", s.usage, "limit", s.limit)
	if sb.cfg.Warn != nil {
		sb.cfg.Warn("OOMKilling", reason)
	}
	_ = rt.killAll(inst)
}
