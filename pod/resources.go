package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodLimit is the pod-level limit of a resource as the kubelet sizes a pod's
// cgroup: the sum over app containers and sidecars, or the largest regular
// init container's if that is bigger (init containers run one at a time,
// before the others). It is unset (ok false) unless every container has a
// limit for the resource, because one unlimited container leaves the pod
// unlimited.
func PodLimit(spec *corev1.PodSpec, name corev1.ResourceName) (q resource.Quantity, ok bool) {
	sum := resource.Quantity{}
	for i := range spec.Containers {
		l, has := spec.Containers[i].Resources.Limits[name]
		if !has {
			return resource.Quantity{}, false
		}
		sum.Add(l)
	}
	initMax := resource.Quantity{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		l, has := c.Resources.Limits[name]
		if !has {
			return resource.Quantity{}, false
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum.Add(l)
		} else if l.Cmp(initMax) > 0 {
			initMax = l.DeepCopy()
		}
	}
	if initMax.Cmp(sum) > 0 {
		return initMax, len(spec.Containers) > 0
	}
	return sum, len(spec.Containers) > 0
}

// SandboxCPUs is how many host CPUs podbox gives a pod's sandbox out of
// hostCPUs: its pod-level CPU limit rounded up to whole CPUs (at least one),
// or all of them when the pod has no CPU limit or a limit above the host's.
// The sandbox runs pinned to that many CPUs and its sentry has that many
// vCPUs; a fractional limit is not throttled further (no cgroup rootless).
func SandboxCPUs(spec *corev1.PodSpec, hostCPUs int) int {
	q, ok := PodLimit(spec, corev1.ResourceCPU)
	if !ok {
		return hostCPUs
	}
	milli := q.MilliValue()
	n := int((milli + 999) / 1000)
	return max(1, min(n, hostCPUs))
}

// DescribeSandboxCPUs is the effective CPU setting of a pod's sandbox as
// describe shows it, e.g. "1 (limits.cpu 500m rounded up; host 2)".
func DescribeSandboxCPUs(spec *corev1.PodSpec, hostCPUs int) string {
	n := SandboxCPUs(spec, hostCPUs)
	q, ok := PodLimit(spec, corev1.ResourceCPU)
	if !ok {
		return fmt.Sprintf("%d (no CPU limit: all of the host's)", n)
	}
	return fmt.Sprintf("%d (limits.cpu %s rounded up to whole CPUs; host %d)", n, q.String(), hostCPUs)
}
