package pod

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"podbox.dev/podbox/objects"
)

// sandboxDefeated ends the messages refusing host namespaces and privileged
// containers: podbox's promise is that every pod is isolated by gVisor, and
// these settings exist precisely to break isolation.
const sandboxDefeated = "podbox runs every pod in a gVisor sandbox and this setting would defeat the pod sandbox"

// Validate checks what Kubernetes requires of a Pod on creation and what
// podbox additionally needs, and returns nil or an error made by
// apierrors.NewInvalid, so its message reads exactly like an API server's:
//
//	Pod "web" is invalid: spec.containers[1].image: Required value
//
// (several problems are listed as `Pod "web" is invalid: [a, b]`). Use
// apierrors.IsInvalid to recognise it and the StatusError's Details.Causes for
// the individual problems.
//
// Call it after SetDefaults: fields the API server defaults (restartPolicy,
// imagePullPolicy, port protocol, ...) are required here, as they are in the
// API server's validation, which also runs after defaulting.
func Validate(p *corev1.Pod) error {
	errs := objects.ValidateMeta(&p.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&p.Spec, field.NewPath("spec"))...)
	errs = append(errs, validatePidsLimit(&p.ObjectMeta, field.NewPath("metadata"))...)
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: corev1.GroupName, Kind: "Pod"}, p.Name, errs)
}

func validateSpec(s *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList

	// Host namespaces and privileged mode exist to escape isolation; podbox
	// refuses them rather than silently running the pod less isolated than
	// the manifest's author may believe it is.
	if s.HostNetwork {
		errs = append(errs, field.Forbidden(path.Child("hostNetwork"), "sharing the host's network namespace is not allowed: "+sandboxDefeated))
	}
	if s.HostPID {
		errs = append(errs, field.Forbidden(path.Child("hostPID"), "sharing the host's PID namespace is not allowed: "+sandboxDefeated))
	}
	if s.HostIPC {
		errs = append(errs, field.Forbidden(path.Child("hostIPC"), "sharing the host's IPC namespace is not allowed: "+sandboxDefeated))
	}

	volumes, vErrs := validateVolumes(s.Volumes, path.Child("volumes"))
	errs = append(errs, vErrs...)
	errs = append(errs, validateVolumeSources(s.Volumes, path.Child("volumes"))...)

	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), ""))
	}
	// Container names share one namespace across init and app containers:
	// statuses, logs and exec address containers by name alone.
	names := sets.New[string]()
	for i := range s.InitContainers {
		errs = append(errs, validateContainer(&s.InitContainers[i], true, names, volumes, path.Child("initContainers").Index(i))...)
		errs = append(errs, validateEnvSources(s, &s.InitContainers[i], path.Child("initContainers").Index(i))...)
	}
	for i := range s.Containers {
		errs = append(errs, validateContainer(&s.Containers[i], false, names, volumes, path.Child("containers").Index(i))...)
		errs = append(errs, validateEnvSources(s, &s.Containers[i], path.Child("containers").Index(i))...)
	}
	if len(s.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(path.Child("ephemeralContainers"), "ephemeral containers cannot be set on creation"))
	}

	switch s.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	case "":
		errs = append(errs, field.Required(path.Child("restartPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(path.Child("restartPolicy"), s.RestartPolicy,
			[]corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	}
	switch s.DNSPolicy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone:
	case "":
		errs = append(errs, field.Required(path.Child("dnsPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(path.Child("dnsPolicy"), s.DNSPolicy,
			[]corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}))
	}
	if g := s.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(path.Child("terminationGracePeriodSeconds"), *g, "must be greater than or equal to 0"))
	}
	if d := s.ActiveDeadlineSeconds; d != nil && *d < 1 {
		errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), *d, "must be greater than or equal to 1"))
	}
	if sc := s.SecurityContext; sc != nil {
		errs = append(errs, validateIDs(sc.RunAsUser, sc.RunAsGroup, path.Child("securityContext"))...)
	}
	errs = append(errs, validatePodSecurity(s, path)...)
	return errs
}

// validateVolumes checks volume names and returns the set of names for
// volumeMounts to refer to.
func validateVolumes(vols []corev1.Volume, path *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, v := range vols {
		p := path.Index(i).Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(p, ""))
		case names.Has(v.Name):
			errs = append(errs, field.Duplicate(p, v.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(v.Name) {
				errs = append(errs, field.Invalid(p, v.Name, msg))
			}
		}
		names.Insert(v.Name)
	}
	return names, errs
}

var (
	pullPolicies       = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	protocols          = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	terminationPolices = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
)

func validateContainer(c *corev1.Container, isInit bool, names, volumes sets.Set[string], path *field.Path) field.ErrorList {
	var errs field.ErrorList
	np := path.Child("name")
	switch {
	case c.Name == "":
		errs = append(errs, field.Required(np, ""))
	case names.Has(c.Name):
		errs = append(errs, field.Duplicate(np, c.Name))
	default:
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(np, c.Name, msg))
		}
	}
	names.Insert(c.Name)

	switch {
	case strings.TrimSpace(c.Image) == "":
		errs = append(errs, field.Required(path.Child("image"), ""))
	case c.Image != strings.TrimSpace(c.Image):
		errs = append(errs, field.Invalid(path.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}

	switch {
	case c.ImagePullPolicy == "":
		errs = append(errs, field.Required(path.Child("imagePullPolicy"), ""))
	case !contains(pullPolicies, c.ImagePullPolicy):
		errs = append(errs, field.NotSupported(path.Child("imagePullPolicy"), c.ImagePullPolicy, pullPolicies))
	}
	if c.TerminationMessagePath == "" {
		errs = append(errs, field.Required(path.Child("terminationMessagePath"), ""))
	}
	switch {
	case c.TerminationMessagePolicy == "":
		errs = append(errs, field.Required(path.Child("terminationMessagePolicy"), ""))
	case !contains(terminationPolices, c.TerminationMessagePolicy):
		errs = append(errs, field.NotSupported(path.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, terminationPolices))
	}

	errs = append(errs, validatePorts(c.Ports, path.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, path.Child("env"))...)
	errs = append(errs, validateVolumeMounts(c, path)...)

	mounts := sets.New[string]()
	for i, m := range c.VolumeMounts {
		p := path.Child("volumeMounts").Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case !volumes.Has(m.Name):
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		case mounts.Has(m.MountPath):
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mounts.Insert(m.MountPath)
	}

	// A sidecar is an init container with restartPolicy Always; nothing else
	// is allowed (per-container restart rules are an alpha feature).
	sidecar := false
	if c.RestartPolicy != nil {
		rp := path.Child("restartPolicy")
		switch {
		case !isInit:
			errs = append(errs, field.Forbidden(rp, "may not be set for non-init containers"))
		case *c.RestartPolicy == corev1.ContainerRestartPolicyAlways:
			sidecar = true
		default:
			errs = append(errs, field.NotSupported(rp, *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		}
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, pr := range probes {
		if pr.probe == nil {
			continue
		}
		p := path.Child(pr.name)
		if isInit && !sidecar {
			// A regular init container runs to completion once; probing it
			// has no meaning.
			errs = append(errs, field.Forbidden(p, "may not be set for init containers without restartPolicy=Always"))
			continue
		}
		errs = append(errs, validateProbe(pr.probe, pr.name, p)...)
	}
	if c.Lifecycle != nil {
		p := path.Child("lifecycle")
		if isInit && !sidecar {
			errs = append(errs, field.Forbidden(p, "may not be set for init containers without restartPolicy=Always"))
		} else {
			if h := c.Lifecycle.PostStart; h != nil {
				errs = append(errs, validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, nil, h.Sleep, p.Child("postStart"))...)
			}
			if h := c.Lifecycle.PreStop; h != nil {
				errs = append(errs, validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, nil, h.Sleep, p.Child("preStop"))...)
			}
		}
	}

	if sc := c.SecurityContext; sc != nil {
		p := path.Child("securityContext")
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Forbidden(p.Child("privileged"), "privileged containers are not allowed: "+sandboxDefeated))
		}
		errs = append(errs, validateIDs(sc.RunAsUser, sc.RunAsGroup, p)...)
		errs = append(errs, validateContainerSecurity(sc, p)...)
	}
	return errs
}

func validatePorts(ports []corev1.ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := path.Index(i)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
			}
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, msg))
			}
		}
		switch {
		case port.Protocol == "":
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		case !contains(protocols, port.Protocol):
			errs = append(errs, field.NotSupported(p.Child("protocol"), port.Protocol, protocols))
		}
	}
	return errs
}

func validateEnv(env []corev1.EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		p := path.Index(i)
		if e.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			// Kubernetes (RelaxedEnvironmentVariableValidation, GA) accepts any
			// printable ASCII name without '='.
			for _, msg := range validation.IsRelaxedEnvVarName(e.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), e.Name, msg))
			}
		}
		vf := e.ValueFrom
		if vf == nil {
			continue
		}
		vp := p.Child("valueFrom")
		n := 0
		for _, set := range []bool{vf.FieldRef != nil, vf.ResourceFieldRef != nil, vf.ConfigMapKeyRef != nil, vf.SecretKeyRef != nil, vf.FileKeyRef != nil} {
			if set {
				n++
			}
		}
		switch {
		case e.Value != "":
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		case n == 0:
			errs = append(errs, field.Invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
		}
		if f := vf.FieldRef; f != nil {
			if f.FieldPath == "" {
				errs = append(errs, field.Required(vp.Child("fieldRef", "fieldPath"), ""))
			}
			if f.APIVersion != "" && f.APIVersion != "v1" {
				errs = append(errs, field.NotSupported(vp.Child("fieldRef", "apiVersion"), f.APIVersion, []string{"v1"}))
			}
		}
	}
	return errs
}

func validateProbe(pr *corev1.Probe, kind string, path *field.Path) field.ErrorList {
	h := pr.ProbeHandler
	errs := validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, h.GRPC, nil, path)
	for _, f := range []struct {
		name string
		v    int32
		min  int32
	}{
		{"initialDelaySeconds", pr.InitialDelaySeconds, 0},
		{"timeoutSeconds", pr.TimeoutSeconds, 1},
		{"periodSeconds", pr.PeriodSeconds, 1},
		{"successThreshold", pr.SuccessThreshold, 1},
		{"failureThreshold", pr.FailureThreshold, 1},
	} {
		if f.v < f.min {
			errs = append(errs, field.Invalid(path.Child(f.name), f.v, fmt.Sprintf("must be greater than or equal to %d", f.min)))
		}
	}
	// Only readiness may need several successes; liveness and startup act on
	// the first success.
	if kind != "readinessProbe" && pr.SuccessThreshold > 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if pr.TerminationGracePeriodSeconds != nil {
		tp := path.Child("terminationGracePeriodSeconds")
		switch {
		case kind == "readinessProbe":
			errs = append(errs, field.Invalid(tp, *pr.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
		case *pr.TerminationGracePeriodSeconds <= 0:
			errs = append(errs, field.Invalid(tp, *pr.TerminationGracePeriodSeconds, "must be greater than 0"))
		}
	}
	return errs
}

// validateHandler requires exactly one action, as both probes and lifecycle
// hooks do; the nil arguments are the actions a caller's type lacks.
func validateHandler(exec *corev1.ExecAction, httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, grpc *corev1.GRPCAction, sleep *corev1.SleepAction, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	more := func(name string) {
		n++
		if n > 1 {
			errs = append(errs, field.Forbidden(path.Child(name), "may not specify more than 1 handler type"))
		}
	}
	if exec != nil {
		more("exec")
		if len(exec.Command) == 0 {
			errs = append(errs, field.Required(path.Child("exec", "command"), ""))
		}
	}
	if httpGet != nil {
		more("httpGet")
		errs = append(errs, validatePortRef(httpGet.Port, path.Child("httpGet", "port"))...)
		if httpGet.Scheme != corev1.URISchemeHTTP && httpGet.Scheme != corev1.URISchemeHTTPS {
			errs = append(errs, field.NotSupported(path.Child("httpGet", "scheme"), httpGet.Scheme, []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}))
		}
	}
	if tcp != nil {
		more("tcpSocket")
		errs = append(errs, validatePortRef(tcp.Port, path.Child("tcpSocket", "port"))...)
	}
	if grpc != nil {
		more("grpc")
		for _, msg := range validation.IsValidPortNum(int(grpc.Port)) {
			errs = append(errs, field.Invalid(path.Child("grpc", "port"), grpc.Port, msg))
		}
	}
	if sleep != nil {
		more("sleep")
		if sleep.Seconds < 0 {
			errs = append(errs, field.Invalid(path.Child("sleep", "seconds"), sleep.Seconds, "must be greater than or equal to 0"))
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(path, "must specify a handler type"))
	}
	return errs
}

// validatePortRef checks a probe or hook port, which is a number or the name
// of a container port.
func validatePortRef(port intstr.IntOrString, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Type == intstr.String {
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(path, port.StrVal, msg))
		}
		return errs
	}
	for _, msg := range validation.IsValidPortNum(int(port.IntVal)) {
		errs = append(errs, field.Invalid(path, port.IntVal, msg))
	}
	return errs
}

func validateIDs(uid, gid *int64, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if uid != nil {
		for _, msg := range validation.IsValidUserID(*uid) {
			errs = append(errs, field.Invalid(path.Child("runAsUser"), *uid, msg))
		}
	}
	if gid != nil {
		for _, msg := range validation.IsValidGroupID(*gid) {
			errs = append(errs, field.Invalid(path.Child("runAsGroup"), *gid, msg))
		}
	}
	return errs
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
