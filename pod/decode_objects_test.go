package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const multiKind = `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {mode: fast}
binaryData: {blob: AAEC}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {user: YWRtaW4=}
stringData: {password: hunter2}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: web}
  spec: {containers: [{name: c, image: busybox}]}
- apiVersion: v1
  kind: ConfigMapList
  items:
  - metadata: {name: listed}
    data: {a: b}
`

func TestDecodeObjectsMultiKind(t *testing.T) {
	objs, err := DecodeObjects([]byte(multiKind), "app.yaml", ManifestKinds)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		gvk := o.GetObjectKind().GroupVersionKind()
		got = append(got, gvk.Kind+"/"+gvk.Version)
	}
	if strings.Join(got, " ") != "ConfigMap/v1 Secret/v1 Pod/v1 ConfigMap/v1" {
		t.Fatalf("kinds = %v", got)
	}
	cm := objs[0].(*corev1.ConfigMap)
	if cm.Data["mode"] != "fast" || string(cm.BinaryData["blob"]) != "\x00\x01\x02" {
		t.Errorf("configmap = %+v", cm)
	}
	sec := objs[1].(*corev1.Secret)
	if string(sec.Data["user"]) != "admin" || sec.StringData["password"] != "hunter2" {
		t.Errorf("secret = %+v", sec)
	}
	if objs[3].(*corev1.ConfigMap).Name != "listed" {
		t.Errorf("list item = %+v", objs[3])
	}
}

func TestDecodeObjectsErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"unsupported kind names what is supported", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n",
			"app.yaml (document 1): kind Service (v1) is not supported: podbox supports kinds Pod, ConfigMap and Secret (apiVersion v1)"},
		{"deployment suggests the template", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
			"app.yaml (document 2): kind Deployment (apps/v1) is not supported: podbox supports kinds Pod, ConfigMap and Secret (apiVersion v1); to run its pod template"},
		{"unknown field in a ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndatа: {}\n",
			"app.yaml (document 1): strict decoding error: unknown field"},
		{"bad base64 in a Secret", "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {k: '!!'}\n",
			"app.yaml (document 1): "},
		{"ConfigMap in the wrong apiVersion", "apiVersion: apps/v1\nkind: ConfigMap\nmetadata: {name: a}\n",
			`kind ConfigMap (apps/v1) is not supported: podbox supports kinds Pod, ConfigMap and Secret (apiVersion v1); set "apiVersion: v1"`},
		{"nothing", "# empty\n", "app.yaml: no objects found"},
		{"missing kind", "apiVersion: v1\nmetadata: {name: x}\n", `kind is not set: podbox expects "kind: one of Pod, ConfigMap and Secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeObjects([]byte(tc.in), "app.yaml", ManifestKinds)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// The pods-only decoder (the pod API's request bodies) refuses a ConfigMap.
	if _, err := Decode([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"), "body"); err == nil ||
		!strings.Contains(err.Error(), "kind ConfigMap (v1) is not supported: podbox runs kind Pod") {
		t.Fatalf("Decode(ConfigMap) = %v", err)
	}
}
