package main

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const appManifest = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: main
    image: busybox
    envFrom: [{configMapRef: {name: cfg}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
`

func TestApplyConfigObjects(t *testing.T) {
	cs := newFake()
	dir := writeFiles(t, map[string]string{"app.yaml": appManifest})
	out, errOut, code := podbox(t, cs, "", "apply", "-f", dir+"/app.yaml")
	if code != 0 {
		t.Fatalf("apply: %d %s", code, errOut)
	}
	// ConfigMaps and Secrets come before pods whatever the file's order.
	if want := "configmap/cfg created\nsecret/creds created\npod/web created\n"; out != want {
		t.Fatalf("apply printed %q, want %q", out, want)
	}
	out, _, code = podbox(t, cs, "", "apply", "-f", dir+"/app.yaml")
	if want := "configmap/cfg unchanged\nsecret/creds unchanged\npod/web unchanged\n"; code != 0 || out != want {
		t.Fatalf("second apply printed %q (%d), want %q", out, code, want)
	}
	changed := strings.Replace(appManifest, "mode: fast", "mode: slow", 1)
	out, _, code = podbox(t, cs, changed, "apply", "-f", "-")
	if want := "configmap/cfg configured\nsecret/creds unchanged\npod/web unchanged\n"; code != 0 || out != want {
		t.Fatalf("apply of a change printed %q (%d), want %q", out, code, want)
	}
	cm, err := cs.CoreV1().ConfigMaps("default").Get(context.Background(), "cfg", metav1.GetOptions{})
	if err != nil || cm.Data["mode"] != "slow" {
		t.Fatalf("configmap after apply = %+v, %v", cm, err)
	}
}

func TestApplyBadConfigObjectCreatesNothing(t *testing.T) {
	cs := newFake()
	dir := writeFiles(t, map[string]string{
		"a.yaml": appManifest + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {\"bad key\": x}\n",
		"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n",
	})
	_, errOut, code := podbox(t, cs, "", "apply", "-f", dir)
	if code == 0 {
		t.Fatal("apply of a bad file succeeded")
	}
	for _, want := range []string{
		`a.yaml: The ConfigMap "two" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters`,
		"b.yaml (document 2): kind Service (v1) is not supported: podbox supports kinds Pod, ConfigMap and Secret (apiVersion v1)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if len(cs.Actions()) != 0 {
		t.Errorf("apply sent requests: %v", cs.Actions())
	}
}
