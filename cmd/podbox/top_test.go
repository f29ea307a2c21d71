package main

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

func podMetrics(ns, name string, containers ...metricsv1beta1.ContainerMetrics) metricsv1beta1.PodMetrics {
	return metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Containers: containers}
}

func containerMetrics(name string, nanocores, bytes int64) metricsv1beta1.ContainerMetrics {
	return metricsv1beta1.ContainerMetrics{Name: name, Usage: corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(nanocores, resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(bytes, resource.BinarySI),
	}}
}

func TestPrintPodMetrics(t *testing.T) {
	metrics := func() []metricsv1beta1.PodMetrics {
		return []metricsv1beta1.PodMetrics{
			podMetrics("default", "web", containerMetrics("web", 12_400_000, 30<<20), containerMetrics("side", 1_000_000, 4<<20+5)),
			podMetrics("default", "db", containerMetrics("db", 250_000_000, 2<<20)),
		}
	}
	for _, tc := range []struct {
		name string
		opts topOptions
		want string
	}{
		{"pods", topOptions{}, "" +
			"NAME   CPU(cores)   MEMORY(bytes)\n" +
			"db     250m         2Mi\n" +
			"web    14m          34Mi\n"},
		{"containers, all namespaces", topOptions{containers: true, allNamespaces: true}, "" +
			"NAMESPACE   POD   NAME   CPU(cores)   MEMORY(bytes)\n" +
			"default     db    db     250m         2Mi\n" +
			"default     web   web    13m          30Mi\n" +
			"default     web   side   1m           4Mi\n"},
		{"sorted by memory, no headers", topOptions{sortBy: "memory", noHeaders: true}, "" +
			"web   14m    34Mi\n" +
			"db    250m   2Mi\n"},
	} {
		var b bytes.Buffer
		printPodMetrics(&b, metrics(), tc.opts)
		if b.String() != tc.want {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", tc.name, b.String(), tc.want)
		}
	}
}
