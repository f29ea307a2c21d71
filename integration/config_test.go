//go:build integration

package integration

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestConfigMapSecretEnv applies one file holding a Pod, a ConfigMap and a
// Secret, and checks every env source as the container sees it, the stored
// Secret's file mode, and get/describe/delete of both kinds.
func TestConfigMapSecretEnv(t *testing.T) {
	t.Parallel()
	e := shared
	const ns = "cfgenv"
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: envpod
  namespace: ` + ns + `
  labels: {app: shop}
  annotations: {note: hello}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: ` + busyboxRef + `
    # $(VAR) is expanded by podbox (the kubelet's rules) before the shell
    # sees it; the shell then only prints its positional parameters.
    command: ["sh", "-c", "env | sort; echo ARGS \"$1\" \"$2\" \"$3\"; sleep 3600", "sh", "$(MODE)", "$$(MODE)", "$(NOPE)"]
    resources:
      limits: {cpu: 1250m, memory: 64Mi}
    envFrom:
    - configMapRef: {name: app-config}
    - prefix: DB_
      secretRef: {name: db-creds}
    env:
    - {name: MODE, value: "override-$(LEVEL)"}
    - name: FROM_CM
      valueFrom: {configMapKeyRef: {name: app-config, key: LEVEL}}
    - name: FROM_SECRET
      valueFrom: {secretKeyRef: {name: db-creds, key: password}}
    - name: OPTIONAL_MISSING
      valueFrom: {configMapKeyRef: {name: nowhere, key: x, optional: true}}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: POD_UID
      valueFrom: {fieldRef: {fieldPath: metadata.uid}}
    - name: POD_APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    - name: POD_NOTE
      valueFrom: {fieldRef: {fieldPath: "metadata.annotations['note']"}}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: HOST_IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
    - name: CPU_LIMIT
      valueFrom: {resourceFieldRef: {resource: limits.cpu}}
    - name: MEM_LIMIT_MI
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    - name: STORAGE_LIMIT
      valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: ` + ns + `}
data: {MODE: fast, LEVEL: "3"}
---
apiVersion: v1
kind: Secret
metadata: {name: db-creds, namespace: ` + ns + `}
type: Opaque
data: {user: YWRtaW4=}
stringData: {password: hunter2}
`
	r := e.apply(t, manifest)
	if r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	if want := "configmap/app-config created\nsecret/db-creds created\npod/envpod created\n"; r.stdout != want {
		t.Errorf("apply printed %q, want %q", r.stdout, want)
	}
	t.Cleanup(func() {
		e.run(t, nil, "delete", "pod", "envpod", "-n", ns, "--now")
		e.run(t, nil, "delete", "configmap", "app-config", "-n", ns)
		e.run(t, nil, "delete", "secret", "db-creds", "-n", ns)
	})
	var p corev1.Pod
	var logs string
	eventually(t, 3*time.Minute, func() string {
		out := e.run(t, nil, "get", "pod", "envpod", "-n", ns, "-o", "json")
		if err := json.Unmarshal([]byte(out.stdout), &p); err != nil {
			return "get pod: " + out.stderr
		}
		logs = e.run(t, nil, "logs", "envpod", "-n", ns).stdout
		if !strings.Contains(logs, "ARGS") {
			return "container has not printed its environment; logs: " + logs + "; phase " + string(p.Status.Phase)
		}
		return ""
	})
	want := []string{
		"DB_password=hunter2", "DB_user=admin", "LEVEL=3", "MODE=override-3",
		"FROM_CM=3", "FROM_SECRET=hunter2",
		"POD_NAME=envpod", "POD_NS=" + ns, "POD_UID=" + string(p.UID), "POD_APP=shop", "POD_NOTE=hello",
		"POD_IP=" + p.Status.PodIP, "HOST_IP=" + p.Status.HostIP,
		"CPU_LIMIT=2", "MEM_LIMIT_MI=64",
		"ARGS override-3 $(MODE) $(NOPE)",
	}
	for _, w := range want {
		if !regexp.MustCompile("(?m)^" + regexp.QuoteMeta(w) + "$").MatchString(logs) {
			t.Errorf("container environment lacks %q:\n%s", w, logs)
		}
	}
	if p.Status.PodIP == "" {
		t.Errorf("pod has no IP")
	}
	if strings.Contains(logs, "OPTIONAL_MISSING") {
		t.Errorf("an optional missing reference made a variable:\n%s", logs)
	}
	if !regexp.MustCompile(`(?m)^STORAGE_LIMIT=[1-9][0-9]*$`).MatchString(logs) {
		t.Errorf("STORAGE_LIMIT is not node allocatable:\n%s", logs)
	}

	// The Secret is stored readable by its owner only.
	var files []string
	_ = filepath.WalkDir(e.data, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "db-creds.json" {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("secret files under %s: %v", e.data, files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file %s mode %v (%v), want 0600", files[0], fi.Mode(), err)
	}

	// get: kubectl's columns.
	if out := e.ok(t, "get", "configmaps", "-n", ns); !regexp.MustCompile(`^NAME         DATA   AGE\napp-config   2      \d+s\n$`).MatchString(out) {
		t.Errorf("get configmaps =\n%s", out)
	}
	if out := e.ok(t, "get", "secret", "-n", ns); !regexp.MustCompile(`^NAME       TYPE     DATA   AGE\ndb-creds   Opaque   2      \d+s\n$`).MatchString(out) {
		t.Errorf("get secrets =\n%s", out)
	}
	// describe never shows a secret value.
	out := e.ok(t, "describe", "secret", "db-creds", "-n", ns)
	if strings.Contains(out, "hunter2") || strings.Contains(out, "admin") ||
		!strings.Contains(out, "password:  7 bytes\nuser:      5 bytes\n") || !strings.Contains(out, "Type:  Opaque\n") {
		t.Errorf("describe secret =\n%s", out)
	}
	if out := e.ok(t, "describe", "cm", "app-config", "-n", ns); !strings.Contains(out, "LEVEL:\n----\n3\n") {
		t.Errorf("describe configmap =\n%s", out)
	}
	// Re-applying changes nothing.
	if r := e.apply(t, manifest); r.code != 0 || r.stdout != "configmap/app-config unchanged\nsecret/db-creds unchanged\npod/envpod unchanged\n" {
		t.Errorf("second apply = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if out := e.ok(t, "delete", "configmap", "app-config", "-n", ns); out != "configmap \"app-config\" deleted\n" {
		t.Errorf("delete configmap = %q", out)
	}
	if r := e.run(t, nil, "get", "cm", "app-config", "-n", ns); r.code == 0 || !strings.Contains(r.stderr, `configmaps "app-config" not found`) {
		t.Errorf("get after delete = %d %q", r.code, r.stderr)
	}
}

// TestCreateContainerConfigError: a pod whose ConfigMap is missing waits in
// CreateContainerConfigError with the kubelet's message and a Failed event,
// and starts once the ConfigMap is applied.
func TestCreateContainerConfigError(t *testing.T) {
	t.Parallel()
	e := shared
	const ns = "cfgerr"
	pod := `apiVersion: v1
kind: Pod
metadata: {name: waits, namespace: ` + ns + `}
spec:
  containers:
  - name: main
    image: ` + busyboxRef + `
    command: ["sh", "-c", "echo got $(GREETING); sleep 3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: later, key: greeting}}
`
	if r := e.apply(t, pod); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	t.Cleanup(func() {
		e.run(t, nil, "delete", "pod", "waits", "-n", ns, "--now")
		e.run(t, nil, "delete", "configmap", "later", "-n", ns)
	})
	var p corev1.Pod
	eventually(t, 3*time.Minute, func() string {
		out := e.run(t, nil, "get", "pod", "waits", "-n", ns, "-o", "json")
		if err := json.Unmarshal([]byte(out.stdout), &p); err != nil {
			return "get pod: " + out.stderr
		}
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
				if w.Message != `configmap "later" not found` {
					t.Errorf("waiting message = %q", w.Message)
				}
				return ""
			}
		}
		return "container not in CreateContainerConfigError"
	})
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase = %s, want Pending", p.Status.Phase)
	}
	if out := e.ok(t, "get", "pods", "-n", ns); !strings.Contains(out, "CreateContainerConfigError") {
		t.Errorf("get pods =\n%s", out)
	}
	found := false
	for _, ev := range e.events(t, p.UID) {
		if ev.Reason == "Failed" && ev.Type == corev1.EventTypeWarning && ev.Message == `Error: configmap "later" not found` {
			found = true
		}
	}
	if !found {
		t.Errorf("no Failed event for the missing ConfigMap: %+v", e.events(t, p.UID))
	}

	// A ConfigMap without the key: the message names the key.
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later, namespace: " + ns + "}\ndata: {other: x}\n"
	if r := e.apply(t, cm); r.code != 0 {
		t.Fatalf("apply configmap: %s", r.stderr)
	}
	e.waitFor2(t, ns, "waits", 2*time.Minute, func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Message == "couldn't find key greeting in ConfigMap "+ns+"/later"
	})
	cm = strings.Replace(cm, "other: x", "greeting: hello", 1)
	if r := e.apply(t, cm); r.code != 0 || r.stdout != "configmap/later configured\n" {
		t.Fatalf("apply configmap: %d %q %s", r.code, r.stdout, r.stderr)
	}
	e.waitFor2(t, ns, "waits", 2*time.Minute, running)
	eventually(t, time.Minute, func() string {
		if logs := e.run(t, nil, "logs", "waits", "-n", ns).stdout; !strings.Contains(logs, "got hello") {
			return "logs: " + logs
		}
		return ""
	})
}

// waitFor2 is waitFor for a pod outside the default namespace.
func (e *env) waitFor2(t *testing.T, ns, name string, timeout time.Duration, cond func(*corev1.Pod) bool) {
	t.Helper()
	eventually(t, timeout, func() string {
		var p corev1.Pod
		out := e.run(t, nil, "get", "pod", name, "-n", ns, "-o", "json")
		if err := json.Unmarshal([]byte(out.stdout), &p); err != nil {
			return "get pod: " + out.stderr
		}
		if len(p.Status.ContainerStatuses) == 0 || !cond(&p) {
			b, _ := json.MarshalIndent(p.Status.ContainerStatuses, "", "  ")
			return "condition not met; container statuses: " + string(b)
		}
		return ""
	})
}
