package pod

import (
	"reflect"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

// Default values an API server fills in on Pod creation (core/v1 defaulting).
const (
	// DefaultNamespace is the namespace a pod lands in when its manifest
	// names none, as kubectl does with the default context.
	DefaultNamespace = "default"
	// DefaultSchedulerName is what kube-apiserver writes into
	// spec.schedulerName; podbox never schedules but shows the field as a
	// cluster would.
	DefaultSchedulerName = "default-scheduler"
	// DefaultTerminationMessagePath is where a container may write its
	// termination message.
	DefaultTerminationMessagePath = "/dev/termination-log"
	// DefaultTerminationGracePeriodSeconds is the grace period between
	// SIGTERM and SIGKILL when the pod sets none.
	DefaultTerminationGracePeriodSeconds int64 = corev1.DefaultTerminationGracePeriodSeconds
	// DefaultVolumeMode is the file mode of configMap, secret, downwardAPI and
	// projected volume files when the manifest sets no defaultMode.
	DefaultVolumeMode int32 = 0o644
	// DefaultServiceAccountTokenExpirationSeconds is the lifetime of a
	// projected service account token when the manifest sets none.
	DefaultServiceAccountTokenExpirationSeconds int64 = 3600
)

// SetDefaults applies the defaults a Pod gets from the Kubernetes API server
// on creation (core/v1 defaulting), so `podbox get -o yaml` and the status
// podbox reports look like a cluster's and later code can rely on the fields
// being set: namespace "default", restartPolicy Always,
// terminationGracePeriodSeconds 30, dnsPolicy ClusterFirst, schedulerName
// default-scheduler, securityContext {}, enableServiceLinks true; for every
// container and init container terminationMessagePath /dev/termination-log,
// terminationMessagePolicy File, imagePullPolicy (see DefaultPullPolicy), port
// protocol TCP (and hostPort = containerPort under hostNetwork), resource
// requests copied from limits, probe timeoutSeconds 1, periodSeconds 10,
// successThreshold 1, failureThreshold 3, httpGet path "/" and scheme HTTP
// (probes and lifecycle hooks), fieldRef apiVersion v1; volumes without a
// source become emptyDir, configMap/secret/downwardAPI/projected defaultMode
// 0644, serviceAccountToken expirationSeconds 3600, hostPath type "".
//
// Fields set by admission plugins rather than defaulting (serviceAccountName,
// priority, tolerations) are not touched. SetDefaults is idempotent and never
// overrides a value the manifest sets.
func SetDefaults(p *corev1.Pod) {
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
	s := &p.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptr(DefaultTerminationGracePeriodSeconds)
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.SchedulerName == "" {
		s.SchedulerName = DefaultSchedulerName
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.EnableServiceLinks == nil {
		s.EnableServiceLinks = ptr(corev1.DefaultEnableServiceLinks)
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i], s.HostNetwork)
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i], s.HostNetwork)
	}
	for i := range s.Volumes {
		defaultVolume(&s.Volumes[i])
	}
}

// DefaultPullPolicy is the imagePullPolicy Kubernetes gives a container that
// sets none: Always when the reference's tag is "latest" or it has neither tag
// nor digest (an implicit :latest), IfNotPresent otherwise. "localhost:5000/a"
// has no tag (the ":5000" is a registry port), so it gets Always. A reference
// that cannot be parsed gets IfNotPresent, as on a cluster, where the kubelet
// then reports InvalidImageName.
func DefaultPullPolicy(image string) corev1.PullPolicy {
	if _, err := name.ParseReference(image, name.WeakValidation); err != nil {
		return corev1.PullIfNotPresent
	}
	ref, digest, _ := strings.Cut(image, "@")
	tag := ""
	// A colon after the last slash separates the tag; one before it belongs
	// to a registry host:port.
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		tag = ref[i+1:]
	}
	if tag == "latest" || (tag == "" && digest == "") {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func defaultContainer(c *corev1.Container, hostNetwork bool) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = DefaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = DefaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		pt := &c.Ports[i]
		if pt.Protocol == "" {
			pt.Protocol = corev1.ProtocolTCP
		}
		// Under hostNetwork the container port is the host port.
		if hostNetwork && pt.HostPort == 0 {
			pt.HostPort = pt.ContainerPort
		}
	}
	// Requests default to limits so that a container with only limits is
	// Guaranteed rather than BestEffort, as on a cluster.
	if len(c.Resources.Limits) > 0 {
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		for k, v := range c.Resources.Limits {
			if _, ok := c.Resources.Requests[k]; !ok {
				c.Resources.Requests[k] = v.DeepCopy()
			}
		}
	}
	for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		defaultProbe(pr)
	}
	if c.Lifecycle != nil {
		for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil {
			defaultFieldRef(vf.FieldRef)
		}
	}
}

func defaultProbe(pr *corev1.Probe) {
	if pr == nil {
		return
	}
	if pr.TimeoutSeconds == 0 {
		pr.TimeoutSeconds = 1
	}
	if pr.PeriodSeconds == 0 {
		pr.PeriodSeconds = 10
	}
	if pr.SuccessThreshold == 0 {
		pr.SuccessThreshold = 1
	}
	if pr.FailureThreshold == 0 {
		pr.FailureThreshold = 3
	}
	defaultHTTPGet(pr.HTTPGet)
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultFieldRef(f *corev1.ObjectFieldSelector) {
	if f != nil && f.APIVersion == "" {
		f.APIVersion = "v1"
	}
}

func defaultDownwardAPIItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		defaultFieldRef(items[i].FieldRef)
	}
}

func defaultVolume(v *corev1.Volume) {
	vs := &v.VolumeSource
	// A volume with no source at all is an emptyDir.
	if reflect.DeepEqual(*vs, corev1.VolumeSource{}) {
		vs.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if vs.HostPath != nil && vs.HostPath.Type == nil {
		vs.HostPath.Type = ptr(corev1.HostPathUnset)
	}
	if vs.ConfigMap != nil && vs.ConfigMap.DefaultMode == nil {
		vs.ConfigMap.DefaultMode = ptr(DefaultVolumeMode)
	}
	if vs.Secret != nil && vs.Secret.DefaultMode == nil {
		vs.Secret.DefaultMode = ptr(DefaultVolumeMode)
	}
	if vs.DownwardAPI != nil {
		if vs.DownwardAPI.DefaultMode == nil {
			vs.DownwardAPI.DefaultMode = ptr(DefaultVolumeMode)
		}
		defaultDownwardAPIItems(vs.DownwardAPI.Items)
	}
	if vs.Projected != nil {
		if vs.Projected.DefaultMode == nil {
			vs.Projected.DefaultMode = ptr(DefaultVolumeMode)
		}
		for i := range vs.Projected.Sources {
			src := &vs.Projected.Sources[i]
			if src.DownwardAPI != nil {
				defaultDownwardAPIItems(src.DownwardAPI.Items)
			}
			if t := src.ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
				t.ExpirationSeconds = ptr(DefaultServiceAccountTokenExpirationSeconds)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
