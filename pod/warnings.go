package pod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Warnings are the messages an accepted pod earns for settings that only
// mean something to a cluster's scheduler: podbox runs every pod on this
// machine, so they are kept in the object but have no effect. The API
// server sends each as a `Warning: 299 - "..."` header and the CLI prints it
// as kubectl prints server warnings:
//
//	Warning: spec.nodeSelector: ignored: podbox runs every pod on this machine
//
// Call it after SetDefaults (schedulerName is then set).
func Warnings(p *corev1.Pod) []string {
	s := &p.Spec
	path := field.NewPath("spec")
	var out []string
	warn := func(set bool, name string) {
		if set {
			out = append(out, path.Child(name).String()+": ignored: podbox runs every pod on this machine, without a scheduler")
		}
	}
	warn(len(s.NodeSelector) > 0, "nodeSelector")
	warn(s.Affinity != nil, "affinity")
	warn(len(s.Tolerations) > 0, "tolerations")
	warn(len(s.TopologySpreadConstraints) > 0, "topologySpreadConstraints")
	warn(s.PriorityClassName != "", "priorityClassName")
	warn(s.SchedulerName != "" && s.SchedulerName != DefaultSchedulerName, "schedulerName")
	warn(s.NodeName != "", "nodeName")
	return out
}
