package gvisor

import (
	"runtime"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/sandbox"
)

// sandboxResources is how the pod's sandbox is held to the pod's limits:
// always pinned to SandboxCPUs host CPUs, and, with a delegated cgroup v2
// subtree, in a pod cgroup with memory.max and cpu.max set to the pod-level
// limits (pod.PodLimit).
func (rt *Runtime) sandboxResources(sb *podSandbox) (sandbox.SandboxResources, error) {
	spec := &sb.cfg.Pod.Spec
	res := sandbox.SandboxResources{CPUs: pod.SandboxCPUs(spec, runtime.NumCPU())}
	cg := rt.opts.Cgroups
	if cg == nil {
		return res, nil
	}
	var cpuMilli int64
	if q, ok := pod.PodLimit(spec, corev1.ResourceCPU); ok {
		cpuMilli = q.MilliValue()
	}
	dir, err := cg.PodCgroup(sb.cfg.ID, podMemoryLimit(spec), cpuMilli, podTasks(sb.cfg.Pod))
	if err != nil {
		return res, err
	}
	res.Cgroup = dir
	return res, nil
}

// podTasks is how many tasks the pod's containers may hold in all: its
// process cap for each container (the cap is per in-sandbox cgroup, one per
// container, see sandbox.PrepareContainerCgroup) plus the pause.
func podTasks(p *corev1.Pod) int {
	return pod.PidsLimit(&p.ObjectMeta)*(len(p.Spec.InitContainers)+len(p.Spec.Containers)) + 1
}

// podCgroupOOMKilled reports whether the kernel's OOM killer has acted in the
// pod's cgroup (delegated cgroup v2 only): the sandbox then dies with all its
// containers, and each is reported OOMKilled, as a cluster reports the
// containers of a pod whose pod-level cgroup ran out of memory.
func (rt *Runtime) podCgroupOOMKilled(sandboxID string) bool {
	if rt.opts.Cgroups == nil {
		return false
	}
	return sandbox.OOMKills(rt.opts.Cgroups.Dir+"/pod-"+sandboxID) > 0
}
