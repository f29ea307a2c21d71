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
