package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestQOSClass pins the kubelet's QoS rules on defaulted pods (requests
// default to limits), init containers included: the supervisor's status
// once left them out and said Guaranteed where the kubelet says Burstable.
func TestQOSClass(t *testing.T) {
	q := resource.MustParse
	res := func(reqs, lims corev1.ResourceList) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: reqs, Limits: lims}
	}
	both := corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("1Gi")}
	storage := corev1.ResourceList{corev1.ResourceEphemeralStorage: q("1Gi")}
	for _, tc := range []struct {
		name       string
		init, main corev1.ResourceRequirements
		want       corev1.PodQOSClass
	}{
		{"nothing set", res(nil, nil), res(nil, nil), corev1.PodQOSBestEffort},
		{"only ephemeral storage", res(nil, nil), res(storage, storage), corev1.PodQOSBestEffort},
		{"equal requests and limits", res(both, both), res(both, both), corev1.PodQOSGuaranteed},
		{"limits only: requests default to them", res(nil, both), res(nil, both), corev1.PodQOSGuaranteed},
		{"a smaller CPU request", res(nil, both), res(corev1.ResourceList{corev1.ResourceCPU: q("500m")}, both), corev1.PodQOSBurstable},
		{"memory request only", res(nil, nil), res(corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}, nil), corev1.PodQOSBurstable},
		{"guaranteed app, init container without resources", res(nil, nil), res(both, both), corev1.PodQOSBurstable},
		{"init container with a smaller request", res(corev1.ResourceList{corev1.ResourceCPU: q("100m")}, both), res(both, both), corev1.PodQOSBurstable},
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "i", Resources: tc.init}},
			Containers:     []corev1.Container{{Name: "main", Image: "i", Resources: tc.main}},
		}}
		SetDefaults(p)
		if got := QOSClass(p); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestHostname(t *testing.T) {
	long := "a23456789-123456789-123456789-123456789-123456789-123456789-12-4567"
	for _, tc := range []struct{ name, hostname, want string }{
		{"web", "", "web"},
		{"web", "db-0", "db-0"},
		{long, "", "a23456789-123456789-123456789-123456789-123456789-123456789-12"},
		{long[:62] + ".x", "", long[:62]},
	} {
		p := &corev1.Pod{}
		p.Name, p.Spec.Hostname = tc.name, tc.hostname
		if got := Hostname(p); got != tc.want {
			t.Errorf("Hostname(%q, %q) = %q, want %q", tc.name, tc.hostname, got, tc.want)
		}
	}
}
