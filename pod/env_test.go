package pod

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeObjects is an EnvRuntime over fixed ConfigMaps and Secrets.
func fakeObjects(cms []corev1.ConfigMap, secs []corev1.Secret) EnvRuntime {
	return EnvRuntime{
		ConfigMap: func(ns, name string) (*corev1.ConfigMap, error) {
			for i := range cms {
				if cms[i].Namespace == ns && cms[i].Name == name {
					return &cms[i], nil
				}
			}
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
		},
		Secret: func(ns, name string) (*corev1.Secret, error) {
			for i := range secs {
				if secs[i].Namespace == ns && secs[i].Name == name {
					return &secs[i], nil
				}
			}
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
		},
	}
}

func cmKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
}

func secKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
}

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}

func resRef(res, divisor string) *corev1.EnvVarSource {
	r := &corev1.ResourceFieldSelector{Resource: res}
	if divisor != "" {
		r.Divisor = resource.MustParse(divisor)
	}
	return &corev1.EnvVarSource{ResourceFieldRef: r}
}

func envPod(c corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "u-1",
			Labels: map[string]string{"app": "shop"}, Annotations: map[string]string{"note": "x y"}},
		Spec: corev1.PodSpec{NodeName: "box", ServiceAccountName: "default", Containers: []corev1.Container{c}},
	}
}

func TestContainerEnvSourcesAndPrecedence(t *testing.T) {
	rt := fakeObjects(
		[]corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "cfg"},
			Data:       map[string]string{"MODE": "fast", "LEVEL": "3", "1bad": "skipped?", "dotted.key": "ok"},
			BinaryData: map[string][]byte{"BLOB": {1}}}},
		[]corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "creds"},
			Data: map[string][]byte{"user": []byte("admin"), "password": []byte("hunter2")}}},
	)
	rt.PodIPs, rt.HostIPs = []string{"10.88.0.5"}, []string{"192.168.1.2"}
	var warnings []string
	rt.Warn = func(reason, msg string) { warnings = append(warnings, reason+": "+msg) }
	c := corev1.Container{
		Name: "app",
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptrTo(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "MODE", Value: "slow-$(LEVEL)"}, // env wins over envFrom, sees envFrom vars
			{Name: "CM", ValueFrom: cmKey("cfg", "LEVEL", false)},
			{Name: "SEC", ValueFrom: secKey("creds", "password", false)},
			{Name: "OPT_KEY", ValueFrom: cmKey("cfg", "nope", true)},
			{Name: "OPT_OBJ", ValueFrom: secKey("gone", "k", true)},
			{Name: "BIN", ValueFrom: cmKey("cfg", "BLOB", true)}, // binaryData is not an env source
			{Name: "POD", ValueFrom: fieldRef("metadata.name")},
			{Name: "NS", ValueFrom: fieldRef("metadata.namespace")},
			{Name: "UID", ValueFrom: fieldRef("metadata.uid")},
			{Name: "APP", ValueFrom: fieldRef("metadata.labels['app']")},
			{Name: "NOTE", ValueFrom: fieldRef("metadata.annotations['note']")},
			{Name: "NODE", ValueFrom: fieldRef("spec.nodeName")},
			{Name: "SA", ValueFrom: fieldRef("spec.serviceAccountName")},
			{Name: "IP", ValueFrom: fieldRef("status.podIP")},
			{Name: "IPS", ValueFrom: fieldRef("status.podIPs")},
			{Name: "HOST", ValueFrom: fieldRef("status.hostIP")},
			{Name: "HOSTS", ValueFrom: fieldRef("status.hostIPs")},
			{Name: "REF", Value: "$(SEC)/$(DB_user)/$$(POD)/$(UNKNOWN)"},
		},
	}
	got, err := ContainerEnv(envPod(c), &envPod(c).Spec.Containers[0], rt)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Name+"="+e.Value)
	}
	want := []string{
		"1bad=skipped?", "LEVEL=3", "MODE=slow-3", "dotted.key=ok", // envFrom keys sorted; relaxed names are valid
		"DB_password=hunter2", "DB_user=admin",
		"CM=3", "SEC=hunter2",
		"POD=web", "NS=prod", "UID=u-1", "APP=shop", "NOTE=x y", "NODE=box", "SA=default",
		"IP=10.88.0.5", "IPS=10.88.0.5", "HOST=192.168.1.2", "HOSTS=192.168.1.2",
		"REF=hunter2/admin/$(POD)/$(UNKNOWN)",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("env =\n  %q\nwant\n  %q", lines, want)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %q", warnings)
	}
}

func TestContainerEnvInvalidNamesSkipped(t *testing.T) {
	rt := fakeObjects([]corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "cfg"},
		Data: map[string]string{"ok": "1"}}}, nil)
	var warnings []string
	rt.Warn = func(reason, msg string) { warnings = append(warnings, reason+": "+msg) }
	// A prefix with '=' (refused at apply time, but stored pods predate
	// validation) makes every name invalid.
	c := corev1.Container{Name: "app", EnvFrom: []corev1.EnvFromSource{{Prefix: "A=",
		ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	got, err := ContainerEnv(envPod(c), &c, rt)
	if err != nil || len(got) != 0 {
		t.Fatalf("env = %v, %v", got, err)
	}
	want := "InvalidEnvironmentVariableNames: Keys [A=ok] from the EnvFrom configMap prod/cfg were skipped since they are considered invalid environment variable names."
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("warnings = %q, want %q", warnings, want)
	}
}

func TestContainerEnvMissingReferences(t *testing.T) {
	rt := fakeObjects([]corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "cfg"}, Data: map[string]string{"a": "1"}}},
		[]corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "creds"}, Data: map[string][]byte{"a": nil}}})
	for _, tc := range []struct {
		name string
		c    corev1.Container
		want string
	}{
		{"configmap", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("x", "k", false)}}}, `configmap "x" not found`},
		{"configmap key", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: cmKey("cfg", "k", false)}}}, "couldn't find key k in ConfigMap prod/cfg"},
		{"secret", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secKey("s", "k", false)}}}, `secret "s" not found`},
		{"secret key", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secKey("creds", "k", false)}}}, "couldn't find key k in Secret prod/creds"},
		{"envFrom configmap", corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}}}, `configmap "x" not found`},
		{"envFrom secret", corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "y"}}}}}, `secret "y" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ContainerEnv(envPod(tc.c), &tc.c, rt)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestContainerEnvResources(t *testing.T) {
	rt := EnvRuntime{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("10Gi")}}
	c := corev1.Container{
		Name: "app",
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		},
		Env: []corev1.EnvVar{
			{Name: "CPU_LIMIT", ValueFrom: resRef("limits.cpu", "")},
			{Name: "CPU_LIMIT_M", ValueFrom: resRef("limits.cpu", "1m")},
			{Name: "CPU_REQ", ValueFrom: resRef("requests.cpu", "")},
			{Name: "MEM", ValueFrom: resRef("limits.memory", "")},
			{Name: "MEM_MI", ValueFrom: resRef("limits.memory", "1Mi")},
			{Name: "MEM_REQ", ValueFrom: resRef("requests.memory", "")},
			{Name: "EPH", ValueFrom: resRef("limits.ephemeral-storage", "1Gi")}, // no limit: allocatable
		},
	}
	got, err := ContainerEnv(envPod(c), &c, rt)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Name+"="+e.Value)
	}
	want := []string{"CPU_LIMIT=2", "CPU_LIMIT_M=1250", "CPU_REQ=1", "MEM=67108864", "MEM_MI=64", "MEM_REQ=0", "EPH=10"}
	if !slices.Equal(lines, want) {
		t.Errorf("env = %q, want %q", lines, want)
	}
	// Another container's resources by containerName.
	p := envPod(c)
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Env: []corev1.EnvVar{
		{Name: "APP_CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
		{Name: "OWN_CPU", ValueFrom: resRef("limits.cpu", "")},
	}})
	got, err = ContainerEnv(p, &p.Spec.Containers[1], rt)
	if err != nil || got[0].Value != "1250" || got[1].Value != "2" {
		t.Errorf("side env = %v, %v; want APP_CPU=1250, OWN_CPU=2 (allocatable)", got, err)
	}
}

func TestMergeProcessExpandsWithContainerEnv(t *testing.T) {
	rt := fakeObjects([]corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "cfg"}, Data: map[string]string{"PORT": "8080"}}}, nil)
	c := corev1.Container{Name: "app", Command: []string{"serve", "--port=$(PORT)", "--pod=$(POD)", "$(PATH)", "$$(PORT)"},
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env:     []corev1.EnvVar{{Name: "POD", ValueFrom: fieldRef("metadata.name")}, {Name: "PATH", Value: "/mine"}}}
	p := envPod(c)
	got, err := MergeProcess(p, &p.Spec.Containers[0], imageConfig("PATH=/bin", "HOME=/root"), WithRuntime(rt))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"serve", "--port=8080", "--pod=web", "/mine", "$(PORT)"}; !slices.Equal(got.Args, want) {
		t.Errorf("args = %q, want %q", got.Args, want)
	}
	if want := []string{"PATH=/mine", "HOME=/root", "PORT=8080", "POD=web"}; !slices.Equal(got.Env, want) {
		t.Errorf("env = %q, want %q", got.Env, want)
	}
	// A missing ConfigMap is the kubelet's message, unprefixed: it becomes the
	// container's waiting message.
	_, err = MergeProcess(p, &p.Spec.Containers[0], imageConfig(), WithRuntime(fakeObjects(nil, nil)))
	if err == nil || !strings.HasPrefix(err.Error(), `configmap "cfg" not found`) {
		t.Errorf("missing configmap: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }

func imageConfig(env ...string) v1.Config { return v1.Config{Env: env} }
