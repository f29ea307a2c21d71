package pod

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// selectableFields are the pod fields a field selector may name, as the API
// server supports them for pods, with how each is read from a pod.
var selectableFields = map[string]func(*corev1.Pod) string{
	"metadata.name":            func(p *corev1.Pod) string { return p.Name },
	"metadata.namespace":       func(p *corev1.Pod) string { return p.Namespace },
	"spec.nodeName":            func(p *corev1.Pod) string { return p.Spec.NodeName },
	"spec.restartPolicy":       func(p *corev1.Pod) string { return string(p.Spec.RestartPolicy) },
	"spec.schedulerName":       func(p *corev1.Pod) string { return p.Spec.SchedulerName },
	"spec.serviceAccountName":  func(p *corev1.Pod) string { return p.Spec.ServiceAccountName },
	"spec.hostNetwork":         func(p *corev1.Pod) string { return strconv.FormatBool(p.Spec.HostNetwork) },
	"status.phase":             func(p *corev1.Pod) string { return string(p.Status.Phase) },
	"status.podIP":             func(p *corev1.Pod) string { return p.Status.PodIP },
	"status.nominatedNodeName": func(p *corev1.Pod) string { return p.Status.NominatedNodeName },
}

// Fields returns the values of a pod's selectable fields, for matching a
// field selector (fields.Selector.Matches).
func Fields(p *corev1.Pod) fields.Set {
	set := make(fields.Set, len(selectableFields))
	for k, get := range selectableFields {
		set[k] = get(p)
	}
	return set
}

// CheckFieldSelector refuses a selector naming a field pods cannot be
// selected by, with the API server's message.
func CheckFieldSelector(sel fields.Selector) error {
	for _, r := range sel.Requirements() {
		if selectableFields[r.Field] == nil {
			return fieldNotSupported(r.Field)
		}
	}
	return nil
}

type fieldNotSupported string

func (f fieldNotSupported) Error() string { return "field label not supported: " + string(f) }
