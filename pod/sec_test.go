package pod

import (
	corev1 "k8s.io/api/core/v1"
	"strings"
	"testing"
)

func TestUnknownFieldSuggestion(t *testing.T) {
	for _, tc := range []struct{ manifest, want string }{
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: x\n    imagePullPolicyy: Always\n",
			`unknown field "spec.containers[0].imagePullPolicyy" (did you mean "imagePullPolicy"?)`},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  restartPolicyy: Never\n  containers: [{name: c, image: x}]\n",
			`unknown field "spec.restartPolicyy" (did you mean "restartPolicy"?)`},
		// Probe handlers are inlined in the Go type.
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: x\n    livenessProbe: {httpGett: {port: 80}}\n",
			`unknown field "spec.containers[0].livenessProbe.httpGett" (did you mean "httpGet"?)`},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: a, labelz: {a: b}}\nspec:\n  containers: [{name: c, image: x}]\n",
			`unknown field "metadata.labelz" (did you mean "labels"?)`},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, image: x, securityContext: {Privileged: true}}]\n",
			`(did you mean "privileged"?)`},
	} {
		_, err := Decode([]byte(tc.manifest), "pod.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want it to contain %s", err, tc.want)
		}
	}
	// Nothing close: no suggestion.
	_, err := Decode([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, image: x}]\n  zzzzzzzzzz: 1\n"), "pod.yaml")
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("error %v, want no suggestion", err)
	}
}

func TestSecurityValidation(t *testing.T) {
	p := mustDecodeOne(t, `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  runtimeClassName: kata
  securityContext: {fsGroup: -1, supplementalGroups: [5, -2]}
  containers:
  - name: c
    image: x
    securityContext:
      capabilities: {add: [CAP_NET_ADMIN, BOGUS, all], drop: [net_raw]}
`)
	SetDefaults(p)
	err := Validate(p)
	for _, want := range []string{
		`spec.runtimeClassName: Invalid value: "kata": podbox runs every pod in a gVisor sandbox: remove runtimeClassName or set it to "gvisor"`,
		`spec.securityContext.fsGroup: Invalid value: -1`,
		`spec.securityContext.supplementalGroups[1]: Invalid value: -2`,
		`spec.containers[0].securityContext.capabilities.add[0]: Invalid value: "CAP_NET_ADMIN": capabilities are named without the CAP_ prefix in Kubernetes: use "NET_ADMIN"`,
		`spec.containers[0].securityContext.capabilities.add[1]: Invalid value: "BOGUS": unknown capability`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to contain %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "add[2]") || strings.Contains(err.Error(), "drop[0]") {
		t.Errorf("ALL and a lower-case name are valid: %v", err)
	}

	ok := mustDecodeOne(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  runtimeClassName: gvisor\n  containers: [{name: c, image: x}]\n")
	SetDefaults(ok)
	if err := Validate(ok); err != nil {
		t.Errorf("runtimeClassName gvisor: %v", err)
	}
}

func TestSchedulingWarnings(t *testing.T) {
	p := mustDecodeOne(t, `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  nodeSelector: {disk: ssd}
  tolerations: [{key: k, operator: Exists}]
  priorityClassName: high
  nodeName: n1
  affinity: {}
  containers: [{name: c, image: x}]
`)
	SetDefaults(p)
	if err := Validate(p); err != nil {
		t.Fatalf("scheduling fields must be accepted: %v", err)
	}
	got := Warnings(p)
	want := []string{"spec.nodeSelector", "spec.affinity", "spec.tolerations", "spec.priorityClassName", "spec.nodeName"}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want one each for %v", got, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w+": ignored: podbox runs every pod on this machine") {
			t.Errorf("warning %d: %q, want it about %s", i, got[i], w)
		}
	}
	plain := mustDecodeOne(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, image: x}]\n")
	SetDefaults(plain)
	if w := Warnings(plain); len(w) != 0 {
		t.Errorf("warnings for a plain pod: %q", w)
	}
}

func mustDecodeOne(t *testing.T, manifest string) *corev1.Pod {
	t.Helper()
	pods, err := Decode([]byte(manifest), "pod.yaml")
	if err != nil || len(pods) != 1 {
		t.Fatalf("decode: %v (%d pods)", err, len(pods))
	}
	return pods[0]
}

// TestSysAdminRefused: capabilities.add SYS_ADMIN is refused with the field
// path named, as privileged is; add ALL is accepted with a warning saying
// SYS_ADMIN is withheld.
func TestSysAdminRefused(t *testing.T) {
	p := mustDecodeOne(t, `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  initContainers:
  - name: i
    image: x
    securityContext: {capabilities: {add: [NET_ADMIN, sys_admin]}}
  containers:
  - name: c
    image: x
    securityContext: {capabilities: {add: [SYS_ADMIN]}}
`)
	SetDefaults(p)
	err := Validate(p)
	for _, want := range []string{
		"spec.initContainers[0].securityContext.capabilities.add[1]: Forbidden: adding SYS_ADMIN is not allowed: it would let the container remount the sandbox's cgroups",
		"spec.containers[0].securityContext.capabilities.add[0]: Forbidden: adding SYS_ADMIN is not allowed",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to contain %s", err, want)
		}
	}
	all := mustDecodeOne(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: c, image: x, securityContext: {capabilities: {add: [NET_ADMIN, ALL], drop: [SYS_ADMIN]}}}\n")
	SetDefaults(all)
	if err := Validate(all); err != nil {
		t.Errorf("add ALL (and drop SYS_ADMIN) must be accepted: %v", err)
	}
	w := Warnings(all)
	if len(w) != 1 || w[0] != "spec.containers[0].securityContext.capabilities.add[1]: ALL grants every capability except SYS_ADMIN: podbox withholds it so that no container can lift the sandbox's limits" {
		t.Errorf("warnings %q, want one about add[1] ALL", w)
	}
}

// TestPidsLimitAnnotation: the process cap defaults to
// sandbox.DefaultPodPidsLimit; the annotation sets it, and a bad value is
// refused at apply time with the annotation named.
func TestPidsLimitAnnotation(t *testing.T) {
	pod := func(ann string) *corev1.Pod {
		p := mustDecodeOne(t, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n"+ann+"spec:\n  containers: [{name: c, image: x}]\n")
		SetDefaults(p)
		return p
	}
	if p := pod(""); Validate(p) != nil || PidsLimit(&p.ObjectMeta) != 1024 {
		t.Errorf("default: limit %d, %v; want 1024", PidsLimit(&p.ObjectMeta), Validate(p))
	}
	if p := pod("  annotations: {podbox.dev/pids-limit: \"4096\"}\n"); Validate(p) != nil || PidsLimit(&p.ObjectMeta) != 4096 {
		t.Errorf("annotation 4096: limit %d, %v", PidsLimit(&p.ObjectMeta), Validate(p))
	}
	for _, bad := range []string{`"0"`, `"-1"`, `"lots"`, `"65537"`, `""`} {
		p := pod("  annotations: {podbox.dev/pids-limit: " + bad + "}\n")
		err := Validate(p)
		want := "metadata.annotations[podbox.dev/pids-limit]: Invalid value"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "must be a whole number of tasks") {
			t.Errorf("annotation %s: %v, want %q", bad, err, want)
		}
		if PidsLimit(&p.ObjectMeta) != 1024 {
			t.Errorf("annotation %s: limit %d, want the default", bad, PidsLimit(&p.ObjectMeta))
		}
	}
}
