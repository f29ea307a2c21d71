package pod

import (
	"strings"

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
	return append(out, allCapsWarnings(s, path)...)
}

// allCapsWarnings says, for each `capabilities.add: [ALL]`, that ALL means
// every capability but SYS_ADMIN here (sandbox.WithheldCapability): the
// manifest still runs, with one capability fewer than it asked for.
func allCapsWarnings(s *corev1.PodSpec, path *field.Path) []string {
	var out []string
	for _, l := range []struct {
		name string
		cs   []corev1.Container
	}{{"initContainers", s.InitContainers}, {"containers", s.Containers}} {
		for i, c := range l.cs {
			if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
				continue
			}
			for j, a := range c.SecurityContext.Capabilities.Add {
				if strings.EqualFold(string(a), "ALL") {
					p := path.Child(l.name).Index(i).Child("securityContext", "capabilities", "add").Index(j)
					out = append(out, p.String()+": ALL grants every capability except SYS_ADMIN: podbox withholds it so that no container can lift the sandbox's limits")
				}
			}
		}
	}
	return out
}
