// Package pod turns Kubernetes Pod manifests into the validated, defaulted
// corev1.Pod objects podbox runs, and computes the process a container runs
// by merging its image config with the container spec.
//
// The package deliberately reuses the Kubernetes API types and apimachinery's
// decoding and validation helpers so that what podbox accepts, rejects and
// prints matches what a cluster would: a manifest that works here should work
// on a cluster and vice versa, and error messages should read the same.
//
// The usual pipeline is Decode → SetDefaults → Validate, then MergeProcess for
// every container when it is about to be started.
package pod

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Key returns the "namespace/name" string that identifies a pod, the same key
// format client-go's cache uses, so pods can be addressed the way kubectl users
// expect (and so two namespaces may hold pods of the same name).
func Key(namespace, name string) string {
	return namespace + "/" + name
}

// Hostname is the pod's hostname as the kubelet derives it: spec.hostname
// or the pod name, at most 63 characters without a trailing '-' or '.'. It
// is the one place podbox computes it, for the sandbox's hostname and the
// pod's /etc/hostname and /etc/hosts alike.
func Hostname(p *corev1.Pod) string {
	h := p.Name
	if p.Spec.Hostname != "" {
		h = p.Spec.Hostname
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}
