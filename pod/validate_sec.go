package pod

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"podbox.dev/podbox/sandbox"
)

// RuntimeClassGVisor is the one runtime class podbox runs: gVisor, the name
// clusters give gVisor's RuntimeClass.
const RuntimeClassGVisor = "gvisor"

// validatePodSecurity checks the pod-level security context and runtime
// class beyond what validateSpec does.
func validatePodSecurity(s *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if rc := s.RuntimeClassName; rc != nil && *rc != "" && *rc != RuntimeClassGVisor {
		errs = append(errs, field.Invalid(path.Child("runtimeClassName"), *rc,
			`podbox runs every pod in a gVisor sandbox: remove runtimeClassName or set it to "gvisor"`))
	}
	sc := s.SecurityContext
	if sc == nil {
		return errs
	}
	p := path.Child("securityContext")
	for i, g := range sc.SupplementalGroups {
		for _, msg := range validation.IsValidGroupID(g) {
			errs = append(errs, field.Invalid(p.Child("supplementalGroups").Index(i), g, msg))
		}
	}
	if sc.FSGroup != nil {
		for _, msg := range validation.IsValidGroupID(*sc.FSGroup) {
			errs = append(errs, field.Invalid(p.Child("fsGroup"), *sc.FSGroup, msg))
		}
	}
	return errs
}

// validateContainerSecurity checks capability names (a cluster's runtime
// would only fail at container creation) and what the API server checks of
// the combination of fields.
func validateContainerSecurity(sc *corev1.SecurityContext, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sc == nil {
		return nil
	}
	if caps := sc.Capabilities; caps != nil {
		for _, l := range []struct {
			name string
			caps []corev1.Capability
		}{{"add", caps.Add}, {"drop", caps.Drop}} {
			for i, c := range l.caps {
				if err := sandbox.CheckCapability(string(c)); err != nil {
					errs = append(errs, field.Invalid(path.Child("capabilities", l.name).Index(i), string(c), err.Error()))
				}
			}
		}
	}
	// The API server's rule: no_new_privs cannot be set for a container
	// that may gain privileges anyway.
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation && sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Add {
			if c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN" {
				errs = append(errs, field.Invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
			}
		}
	}
	return errs
}
