package pod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/util/qos"
)

// QOSClass is the pod's QoS class as the kubelet computes it (and kubectl
// describe shows it): BestEffort when no container, init containers
// included, has a CPU or memory request or limit; Guaranteed when every one
// has both, each request equal to its limit; Burstable otherwise. It is the
// one place podbox computes it, for the API's status and the CLI alike;
// the computation is Kubernetes' own (kubectl's copy of the kubelet's
// ComputePodQOS), pod-level resources included.
func QOSClass(p *corev1.Pod) corev1.PodQOSClass {
	return qos.ComputePodQOS(p)
}
