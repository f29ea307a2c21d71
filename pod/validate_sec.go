package pod

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"podbox.dev/podbox/sandbox"
)

// PidsLimitAnnotation sets a pod's process cap: the most tasks (processes
// and threads) each of its containers may hold, sandbox.DefaultPodPidsLimit
// without it. It plays the kubelet's --pod-max-pids (podPidsLimit), which on
// a cluster is the node administrator's; with podbox the user writes both the
// manifest and the configuration, and the untrusted party (the image) cannot
// change the manifest, so the knob is per pod and there is no daemon-wide one.
const PidsLimitAnnotation = "podbox.dev/pids-limit"

// PidsLimit is the pod's process cap per container: its PidsLimitAnnotation,
// or sandbox.DefaultPodPidsLimit (also for a value Validate would refuse).
func PidsLimit(meta *metav1.ObjectMeta) int {
	if n, err := parsePidsLimit(meta.Annotations[PidsLimitAnnotation]); err == nil && n > 0 {
		return n
	}
	return sandbox.DefaultPodPidsLimit
}

// parsePidsLimit reads the annotation's value; "" is 0 (not set).
func parsePidsLimit(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > sandbox.MaxPodPidsLimit {
		return 0, fmt.Errorf("must be a whole number of tasks from 1 to %d (the sentry's own ceiling); the default is %d", sandbox.MaxPodPidsLimit, sandbox.DefaultPodPidsLimit)
	}
	return n, nil
}

// validatePidsLimit checks the process cap annotation.
func validatePidsLimit(meta *metav1.ObjectMeta, path *field.Path) field.ErrorList {
	v, ok := meta.Annotations[PidsLimitAnnotation]
	if !ok {
		return nil
	}
	if _, err := parsePidsLimit(v); err != nil || v == "" {
		msg := "must be a whole number of tasks"
		if err != nil {
			msg = err.Error()
		}
		return field.ErrorList{field.Invalid(path.Child("annotations").Key(PidsLimitAnnotation), v, msg)}
	}
	return nil
}

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

// sysAdminRefused explains why capabilities.add may not name SYS_ADMIN, as
// privileged is refused: inside the sandbox it would let the container mount
// the sentry's cgroup file system and lift its own limits.
const sysAdminRefused = "adding SYS_ADMIN is not allowed: it would let the container remount the sandbox's cgroups and lift its own process and memory limits; " + sandboxDefeated

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
				} else if l.name == "add" && strings.EqualFold(string(c), sandbox.WithheldCapability) {
					errs = append(errs, field.Forbidden(path.Child("capabilities", l.name).Index(i), sysAdminRefused))
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
