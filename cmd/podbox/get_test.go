package main

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func getFixture() []corev1.Pod {
	web := withCondition(testPod("web", time.Minute, corev1.PodRunning, running(true)), corev1.PodReady, corev1.ConditionTrue)
	web.Labels = map[string]string{"app": "web"}
	db := testPod("db", 2*time.Minute, corev1.PodPending, waiting("ContainerCreating"))
	other := testPod("api", 3*time.Minute, corev1.PodRunning, running(true))
	other.Namespace = "team"
	return []corev1.Pod{web, db, other}
}

func runGetFixture(t *testing.T, opts getOptions) (string, string, error) {
	t.Helper()
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1], &fx[2])
	if opts.namespace == "" {
		opts.namespace = "default"
	}
	if opts.selector == nil {
		opts.selector = labels.Everything()
	}
	var out, errOut strings.Builder
	err := runGet(t.Context(), core(cs), opts, &out, &errOut, now)
	return out.String(), errOut.String(), err
}

func TestGetList(t *testing.T) {
	out, errOut, err := runGetFixture(t, getOptions{})
	want := `NAME   READY   STATUS              RESTARTS   AGE
db     0/1     ContainerCreating   0          2m
web    1/1     Running             0          60s
`
	if err != nil || out != want || errOut != "" {
		t.Errorf("got %q %q %v, want %q", out, errOut, err, want)
	}

	out, _, _ = runGetFixture(t, getOptions{allNamespaces: true})
	want = `NAMESPACE   NAME   READY   STATUS              RESTARTS   AGE
default     db     0/1     ContainerCreating   0          2m
default     web    1/1     Running             0          60s
team        api    1/1     Running             0          3m
`
	if out != want {
		t.Errorf("-A: got\n%s\nwant\n%s", out, want)
	}

	sel, _ := labels.Parse("app=web")
	out, _, _ = runGetFixture(t, getOptions{print: printSpec{format: "name"}, selector: sel})
	if out != "pod/web\n" {
		t.Errorf("-l app=web -o name: got %q", out)
	}
}

func TestGetEmpty(t *testing.T) {
	out, errOut, err := runGetFixture(t, getOptions{namespace: "empty"})
	if err != nil || out != "" || errOut != "No resources found in empty namespace.\n" {
		t.Errorf("got %q %q %v", out, errOut, err)
	}
	out, errOut, err = runGetFixture(t, getOptions{namespace: "empty", print: printSpec{format: "yaml"}})
	want := "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"
	if err != nil || out != want || errOut != "" {
		t.Errorf("-o yaml: got %q %q %v, want %q", out, errOut, err, want)
	}
}

func TestGetByName(t *testing.T) {
	out, errOut, err := runGetFixture(t, getOptions{names: []string{"web", "nope", "db"}})
	want := `NAME   READY   STATUS              RESTARTS   AGE
web    1/1     Running             0          60s
db     0/1     ContainerCreating   0          2m
`
	if out != want || errOut != "Error from server (NotFound): pods \"nope\" not found\n" || err != errReported {
		t.Errorf("got %q %q %v", out, errOut, err)
	}

	out, _, err = runGetFixture(t, getOptions{names: []string{"web"}, print: printSpec{format: "json"}})
	if err != nil || !strings.HasPrefix(out, "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",\n    \"metadata\": {") {
		t.Errorf("one name -o json should print the pod itself, got %v:\n%s", err, out)
	}

	out, _, err = runGetFixture(t, getOptions{names: []string{"web", "db"}, print: printSpec{format: "yaml"}})
	if err != nil || !strings.HasPrefix(out, "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n") {
		t.Errorf("two names -o yaml should print a List, got %v:\n%s", err, out)
	}

	_, errOut, err = runGetFixture(t, getOptions{names: []string{"nope"}, print: printSpec{format: "yaml"}})
	if errOut != "Error from server (NotFound): pods \"nope\" not found\n" || err != errReported {
		t.Errorf("got %q %v", errOut, err)
	}
}

func TestGetCommandLine(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1], &fx[2])
	// Flags after names, the resource/name form, and -n.
	stdout, stderr, code := podbox(t, cs, "", "get", "pod/api", "-n", "team", "-o", "name")
	if code != 0 || stdout != "pod/api\n" || stderr != "" {
		t.Errorf("exit %d, %q, %q", code, stdout, stderr)
	}
	_, stderr, code = podbox(t, cs, "", "get", "po", "ghost")
	if code != 1 || stderr != "Error from server (NotFound): pods \"ghost\" not found\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestGetTerminatingTable checks a pod the supervisor is stopping.
func TestGetTerminatingTable(t *testing.T) {
	p := testPod("web", time.Minute, corev1.PodRunning, running(true))
	p.DeletionTimestamp = &metav1.Time{Time: now}
	cs := newFake(&p)
	var out strings.Builder
	if err := runGet(t.Context(), core(cs), getOptions{namespace: "default", selector: labels.Everything()}, &out, &out, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "web    1/1     Terminating   0          60s") {
		t.Errorf("got\n%s", out.String())
	}
}
