package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestValidateEnvSources(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []corev1.EnvVar
		envFrom []corev1.EnvFromSource
		want    string // substring of the error; "" means valid
	}{
		{name: "all supported sources", env: []corev1.EnvVar{
			{Name: "A", ValueFrom: fieldRef("status.podIPs")},
			{Name: "B", ValueFrom: fieldRef("metadata.labels['app.kubernetes.io/name']")},
			{Name: "C", ValueFrom: resRef("limits.memory", "1Mi")},
			{Name: "D", ValueFrom: cmKey("cfg", "a.b", false)},
			{Name: "E", ValueFrom: secKey("creds", "k", true)},
		}, envFrom: []corev1.EnvFromSource{{Prefix: "P_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}},
		{name: "unsupported field path", env: []corev1.EnvVar{{Name: "A", ValueFrom: fieldRef("metadata.labels")}},
			want: `spec.containers[1].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels": supported values: "metadata.name"`},
		{name: "unquoted subscript", env: []corev1.EnvVar{{Name: "A", ValueFrom: fieldRef("metadata.labels[app]")}},
			want: `fieldRef.fieldPath: Invalid value: "metadata.labels[app]"`},
		{name: "bad resource", env: []corev1.EnvVar{{Name: "A", ValueFrom: resRef("limits.gpu", "")}},
			want: `resourceFieldRef.resource: Unsupported value: "limits.gpu"`},
		{name: "bad cpu divisor", env: []corev1.EnvVar{{Name: "A", ValueFrom: resRef("limits.cpu", "1Mi")}},
			want: "only divisor's values 1m and 1 are supported with the cpu resource"},
		{name: "unknown container", env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu", Divisor: resource.MustParse("1")}}}},
			want: `resourceFieldRef.containerName: Not found: "nope"`},
		{name: "configmap key missing", env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("cfg", "", false)}},
			want: "spec.containers[1].env[0].valueFrom.configMapKeyRef.key: Required value"},
		{name: "secret name missing", env: []corev1.EnvVar{{Name: "A", ValueFrom: secKey("", "k", false)}},
			want: "spec.containers[1].env[0].valueFrom.secretKeyRef.name: Required value"},
		{name: "bad key", env: []corev1.EnvVar{{Name: "A", ValueFrom: cmKey("cfg", "a/b", false)}},
			want: `configMapKeyRef.key: Invalid value: "a/b": a valid config key`},
		{name: "envFrom without source", envFrom: []corev1.EnvFromSource{{Prefix: "X"}},
			want: "spec.containers[1].envFrom[0]: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"},
		{name: "envFrom two sources", envFrom: []corev1.EnvFromSource{{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}},
			SecretRef:    &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "b"}}}},
			want: "spec.containers[1].envFrom[0]: Invalid value: \"\": may not have more than one field specified at a time"},
		{name: "envFrom bad prefix", envFrom: []corev1.EnvFromSource{{Prefix: "A=", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}}}},
			want: `spec.containers[1].envFrom[0].prefix: Invalid value: "A="`},
		{name: "envFrom no name", envFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}},
			want: "spec.containers[1].envFrom[0].configMapRef.name: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Containers[1].Env = tc.env
			p.Spec.Containers[1].EnvFrom = tc.envFrom
			SetDefaults(p)
			err := Validate(p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
