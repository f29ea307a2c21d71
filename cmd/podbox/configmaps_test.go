package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
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

func configFixtures() *fake.Clientset {
	old := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	return newFake(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: "default", CreationTimestamp: old, Labels: map[string]string{"app": "web"}},
			Data: map[string]string{"mode": "fast", "level": "3"}, BinaryData: map[string][]byte{"blob": {0, 1, 2}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "team", CreationTimestamp: old}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", CreationTimestamp: old},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2"), "user": []byte("admin")}},
	)
}

func TestGetConfigMapsAndSecrets(t *testing.T) {
	cs := configFixtures()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "configmaps"}, "NAME         DATA   AGE\napp-config   3      5m\n"},
		{[]string{"get", "cm", "-A"}, "NAMESPACE   NAME         DATA   AGE\ndefault     app-config   3      5m\nteam        other        0      5m\n"},
		{[]string{"get", "secrets"}, "NAME   TYPE     DATA   AGE\ndb     Opaque   2      5m\n"},
		{[]string{"get", "secret/db", "-o", "name"}, "secret/db\n"},
		{[]string{"get", "cm", "-l", "app=web", "-o", "name"}, "configmap/app-config\n"},
		{[]string{"get", "cm", "-l", "app=db", "-o", "name"}, ""},
	} {
		out, errOut, code := podbox(t, cs, "", tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("podbox %v = %d %q %q; want %q", tc.args, code, out, errOut, tc.want)
		}
	}
	out, _, code := podbox(t, cs, "", "get", "configmap", "app-config", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "kind: ConfigMap\n") || !strings.Contains(out, "  mode: fast\n") {
		t.Errorf("get -o yaml = %q", out)
	}
	_, errOut, code := podbox(t, cs, "", "get", "secret", "nope")
	if code == 0 || errOut != "Error from server (NotFound): secrets \"nope\" not found\n" {
		t.Errorf("get missing secret = %d %q", code, errOut)
	}
}

func TestDescribeConfigMapAndSecret(t *testing.T) {
	cs := configFixtures()
	out, _, code := podbox(t, cs, "", "describe", "configmap", "app-config")
	want := `Name:         app-config
Namespace:    default
Labels:       app=web
Annotations:  <none>

Data
====
level:
----
3

mode:
----
fast


BinaryData
====
blob: 3 bytes

Events:  <none>
`
	if code != 0 || out != want {
		t.Errorf("describe configmap =\n%s\nwant\n%s", out, want)
	}
	out, _, code = podbox(t, cs, "", "describe", "secret/db")
	want = `Name:         db
Namespace:    default
Labels:       <none>
Annotations:  <none>

Type:  Opaque

Data
====
password:  7 bytes
user:      5 bytes
`
	if code != 0 || out != want {
		t.Errorf("describe secret =\n%s\nwant\n%s", out, want)
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, "admin") {
		t.Error("describe printed a secret value")
	}
}

func TestDeleteConfigObjects(t *testing.T) {
	cs := configFixtures()
	out, errOut, code := podbox(t, cs, "", "delete", "configmap", "app-config", "nope")
	if code == 0 || out != "configmap \"app-config\" deleted\n" || !strings.Contains(errOut, `configmaps "nope" not found`) {
		t.Errorf("delete = %d %q %q", code, out, errOut)
	}
	out, _, code = podbox(t, cs, "", "delete", "secrets", "--all")
	if code != 0 || out != "secret \"db\" deleted\n" {
		t.Errorf("delete --all = %d %q", code, out)
	}
}

func TestDeleteFileWithConfigObjects(t *testing.T) {
	cs := configFixtures()
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\n---\n" +
		"apiVersion: v1\nkind: Secret\nmetadata: {name: gone}\n"
	out, errOut, code := podbox(t, cs, manifest, "delete", "-f", "-")
	if code == 0 || out != "configmap \"app-config\" deleted\n" || !strings.Contains(errOut, `secrets "gone" not found`) {
		t.Errorf("delete -f = %d %q %q", code, out, errOut)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(context.Background(), "app-config", metav1.GetOptions{}); err == nil {
		t.Errorf("the ConfigMap of the file is still there")
	}
	_, errOut, code = podbox(t, cs, manifest, "delete", "-f", "-", "--ignore-not-found")
	if code != 0 || errOut != "" {
		t.Errorf("delete -f --ignore-not-found = %d %q", code, errOut)
	}
}
