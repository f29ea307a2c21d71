package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func limited(cpu string) corev1.Container {
	c := corev1.Container{Name: "c"}
	if cpu != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	return c
}

func TestSandboxCPUs(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		host int
		want int
	}{
		{"no limit: every CPU", corev1.PodSpec{Containers: []corev1.Container{limited("")}}, 8, 8},
		{"half a CPU rounds up to one", corev1.PodSpec{Containers: []corev1.Container{limited("500m")}}, 8, 1},
		{"sum of containers", corev1.PodSpec{Containers: []corev1.Container{limited("1500m"), limited("1")}}, 8, 3},
		{"one unlimited container: every CPU", corev1.PodSpec{Containers: []corev1.Container{limited("1"), limited("")}}, 8, 8},
		{"more than the host", corev1.PodSpec{Containers: []corev1.Container{limited("16")}}, 2, 2},
		{"bigger init container", corev1.PodSpec{InitContainers: []corev1.Container{limited("4")}, Containers: []corev1.Container{limited("1")}}, 8, 4},
	} {
		if got := SandboxCPUs(&tc.spec, tc.host); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
