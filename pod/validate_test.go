package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validPod() *corev1.Pod {
	p := &corev1.Pod{}
	p.Name = "web"
	p.Spec.Containers = []corev1.Container{
		{Name: "nginx", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}},
		{Name: "sidecar", Image: "busybox", Env: []corev1.EnvVar{{Name: "my.var-1", Value: "x"}}},
	}
	return p
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   string // exact error message; "" means valid
	}{
		{name: "valid", mutate: func(p *corev1.Pod) {}},
		{
			name:   "missing image",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[1].Image = "" },
			want:   `Pod "web" is invalid: spec.containers[1].image: Required value`,
		},
		{
			name:   "blank image",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[1].Image = "  " },
			want:   `Pod "web" is invalid: spec.containers[1].image: Required value`,
		},
		{
			name:   "missing name",
			mutate: func(p *corev1.Pod) { p.Name = "" },
			want:   `Pod "" is invalid: metadata.name: Required value`,
		},
		{
			name:   "bad name",
			mutate: func(p *corev1.Pod) { p.Name = "Web" },
			want:   `Pod "Web" is invalid: metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of`,
		},
		{
			name:   "bad namespace",
			mutate: func(p *corev1.Pod) { p.Namespace = "a.b" },
			want:   `Pod "web" is invalid: metadata.namespace: Invalid value: "a.b": `,
		},
		{
			name:   "no containers",
			mutate: func(p *corev1.Pod) { p.Spec.Containers = nil },
			want:   `Pod "web" is invalid: spec.containers: Required value`,
		},
		{
			name:   "duplicate container name",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[1].Name = "nginx" },
			want:   `Pod "web" is invalid: spec.containers[1].name: Duplicate value: "nginx"`,
		},
		{
			name: "init container name clashes with container",
			mutate: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "sidecar", Image: "x"}}
			},
			want: `Pod "web" is invalid: spec.containers[1].name: Duplicate value: "sidecar"`,
		},
		{
			name:   "bad container name",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "my_app" },
			want:   `Pod "web" is invalid: spec.containers[0].name: Invalid value: "my_app": a lowercase RFC 1123 label`,
		},
		{
			name:   "bad restartPolicy",
			mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			want:   `Pod "web" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`,
		},
		{
			name:   "hostNetwork refused",
			mutate: func(p *corev1.Pod) { p.Spec.HostNetwork = true },
			want:   `Pod "web" is invalid: spec.hostNetwork: Forbidden: sharing the host's network namespace is not allowed: podbox runs every pod in a gVisor sandbox and this setting would defeat the pod sandbox`,
		},
		{
			name:   "hostPID refused",
			mutate: func(p *corev1.Pod) { p.Spec.HostPID = true },
			want:   `Pod "web" is invalid: spec.hostPID: Forbidden: sharing the host's PID namespace`,
		},
		{
			name:   "hostIPC refused",
			mutate: func(p *corev1.Pod) { p.Spec.HostIPC = true },
			want:   `Pod "web" is invalid: spec.hostIPC: Forbidden:`,
		},
		{
			name: "privileged refused",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
			},
			want: `Pod "web" is invalid: spec.containers[0].securityContext.privileged: Forbidden: privileged containers are not allowed: podbox runs every pod in a gVisor sandbox and this setting would defeat the pod sandbox`,
		},
		{
			name:   "missing containerPort",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			want:   `Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Required value`,
		},
		{
			name:   "port out of range",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			want:   `Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		},
		{
			name:   "bad protocol",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" },
			want:   `Pod "web" is invalid: spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "TCP", "UDP", "SCTP"`,
		},
		{
			name: "duplicate port name",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
			},
			want: `Pod "web" is invalid: spec.containers[0].ports[1].name: Duplicate value: "http"`,
		},
		{
			name:   "bad port name",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "http_port" },
			want:   `Pod "web" is invalid: spec.containers[0].ports[0].name: Invalid value: "http_port"`,
		},
		{
			name:   "env name with =",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[1].Env[0].Name = "A=B" },
			want:   `Pod "web" is invalid: spec.containers[1].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
		},
		{
			name:   "bad imagePullPolicy",
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			want:   `Pod "web" is invalid: spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`,
		},
		{
			name:   "negative grace period",
			mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) },
			want:   `Pod "web" is invalid: spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0`,
		},
		{
			name: "volumeMount of unknown volume",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
			},
			want: `Pod "web" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "data"`,
		},
		{
			name: "probe with two handlers",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					Exec:      &corev1.ExecAction{Command: []string{"true"}},
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)},
				}}
			},
			want: `Pod "web" is invalid: spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type`,
		},
		{
			name: "probe on regular init container",
			mutate: func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "x",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
			},
			want: `Pod "web" is invalid: spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`,
		},
		{
			name: "two errors",
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = ""
				p.Spec.Containers[1].Image = ""
			},
			want: `Pod "web" is invalid: [spec.containers[0].image: Required value, spec.containers[1].image: Required value]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(p)
			SetDefaults(p)
			err := Validate(p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Errorf("error %v is not an Invalid StatusError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n  %s\nwant prefix\n  %s", err, tc.want)
			}
		})
	}
}

func TestValidateBeforeDefaults(t *testing.T) {
	// Without SetDefaults the defaulted fields are reported missing, as an API
	// server would if defaulting had been skipped.
	err := Validate(validPod())
	if err == nil || !strings.Contains(err.Error(), "spec.restartPolicy: Required value") {
		t.Fatalf("error = %v, want restartPolicy required", err)
	}
}
