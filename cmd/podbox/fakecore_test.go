package main

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// fakeCore serves the commands' narrow interfaces (coreclient.go) from a
// client-go clientset, in tests the fake one: its typed clients have the
// same methods, only the getters' result types differ.
type fakeCore struct{ c typedcorev1.CoreV1Interface }

// core adapts cs for the commands.
func core(cs kubernetes.Interface) fakeCore { return fakeCore{cs.CoreV1()} }

func (f fakeCore) Pods(ns string) podInterface { return f.c.Pods(ns) }

func (f fakeCore) Events(ns string) resourceAPI[*corev1.Event, *corev1.EventList] {
	return f.c.Events(ns)
}

func (f fakeCore) ConfigMaps(ns string) resourceAPI[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return f.c.ConfigMaps(ns)
}

func (f fakeCore) Secrets(ns string) resourceAPI[*corev1.Secret, *corev1.SecretList] {
	return f.c.Secrets(ns)
}

func (f fakeCore) PersistentVolumeClaims(ns string) resourceAPI[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList] {
	return f.c.PersistentVolumeClaims(ns)
}
