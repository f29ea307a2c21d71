package pod

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		// Tag and digest: the tag decides, as in Kubernetes.
		{"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
		// ":5000" is a registry port, not a tag.
		{"localhost:5000/a", corev1.PullAlways},
		{"localhost:5000/a:v1", corev1.PullIfNotPresent},
		{"registry.example.com/team/app:latest", corev1.PullAlways},
		{"docker.io/library/busybox:1.36", corev1.PullIfNotPresent},
		// Unparseable: IfNotPresent, the kubelet reports InvalidImageName.
		{"Nginx:UPPER/x", corev1.PullIfNotPresent},
	}
	for _, tc := range tests {
		if got := DefaultPullPolicy(tc.image); got != tc.want {
			t.Errorf("DefaultPullPolicy(%q) = %s, want %s", tc.image, got, tc.want)
		}
	}
}

func TestSetDefaults(t *testing.T) {
	probe := func() *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	}
	p := &corev1.Pod{
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
			Containers: []corev1.Container{{
				Name:           "app",
				Image:          "nginx",
				Ports:          []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				LivenessProbe:  probe(),
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 5},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
				}, Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
				Env:       []corev1.EnvVar{{Name: "N", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "nosource"},
				{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: "hp", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}},
			},
		},
	}
	SetDefaults(p)
	s := p.Spec
	c := s.Containers[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"namespace", p.Namespace, "default"},
		{"restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways},
		{"terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30)},
		{"dnsPolicy", s.DNSPolicy, corev1.DNSClusterFirst},
		{"schedulerName", s.SchedulerName, "default-scheduler"},
		{"securityContext set", s.SecurityContext != nil, true},
		{"enableServiceLinks", *s.EnableServiceLinks, true},
		{"terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"imagePullPolicy", c.ImagePullPolicy, corev1.PullAlways},
		{"init terminationMessagePath", s.InitContainers[0].TerminationMessagePath, "/dev/termination-log"},
		{"init imagePullPolicy", s.InitContainers[0].ImagePullPolicy, corev1.PullIfNotPresent},
		{"port protocol", c.Ports[0].Protocol, corev1.ProtocolTCP},
		{"port protocol kept", c.Ports[1].Protocol, corev1.ProtocolUDP},
		{"no hostPort without hostNetwork", c.Ports[0].HostPort, int32(0)},
		{"liveness timeout", c.LivenessProbe.TimeoutSeconds, int32(1)},
		{"liveness period", c.LivenessProbe.PeriodSeconds, int32(10)},
		{"liveness success", c.LivenessProbe.SuccessThreshold, int32(1)},
		{"liveness failure", c.LivenessProbe.FailureThreshold, int32(3)},
		{"httpGet scheme", c.LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"httpGet path", c.LivenessProbe.HTTPGet.Path, "/"},
		{"readiness period kept", c.ReadinessProbe.PeriodSeconds, int32(5)},
		{"preStop httpGet scheme", c.Lifecycle.PreStop.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"cpu request kept", c.Resources.Requests.Cpu().String(), "100m"},
		{"memory request from limit", c.Resources.Requests.Memory().String(), "64Mi"},
		{"volume without source", s.Volumes[0].EmptyDir != nil, true},
		{"configMap defaultMode", *s.Volumes[1].ConfigMap.DefaultMode, int32(0o644)},
		{"hostPath type", *s.Volumes[2].HostPath.Type, corev1.HostPathUnset},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}

	// Idempotent, and values set by the manifest are never replaced.
	before := p.DeepCopy()
	SetDefaults(p)
	if !apiequality.Semantic.DeepEqual(before, p) {
		t.Error("second SetDefaults changed the pod")
	}
	q := &corev1.Pod{}
	q.Namespace = "prod"
	q.Spec.RestartPolicy = corev1.RestartPolicyNever
	q.Spec.TerminationGracePeriodSeconds = ptr(int64(0))
	SetDefaults(q)
	if q.Namespace != "prod" || q.Spec.RestartPolicy != corev1.RestartPolicyNever || *q.Spec.TerminationGracePeriodSeconds != 0 {
		t.Errorf("SetDefaults overrode manifest values: %s %s %d", q.Namespace, q.Spec.RestartPolicy, *q.Spec.TerminationGracePeriodSeconds)
	}
}

func TestSetDefaultsHostNetworkHostPort(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
		Name: "c", Image: "x", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
	}}}}
	SetDefaults(p)
	if got := p.Spec.Containers[0].Ports[0].HostPort; got != 8080 {
		t.Errorf("hostPort = %d, want 8080", got)
	}
}
