//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sleeper is a busybox pod that runs until deleted, in namespace ns.
func sleeper(ns, name, labels string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {%s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    command: ["sleep", "100000"]
`, name, ns, labels, busyboxRef)
}

// applyStdin applies a manifest through stdin and fails the test on an error.
func (e *env) applyStdin(t *testing.T, manifest string, args ...string) result {
	t.Helper()
	return e.run(t, strings.NewReader(manifest), append([]string{"apply", "-f", "-"}, args...)...)
}

// lineReader collects the lines a long-running podbox command prints.
type lineReader struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineReader) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// startPodbox runs a podbox command that does not end by itself (get -w)
// and collects its stdout lines; it is interrupted when the test ends.
func (e *env) startPodbox(t *testing.T, args ...string) *lineReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "podbox"), args...)
	cmd.Env = e.environ()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lr := &lineReader{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lr.mu.Lock()
			lr.lines = append(lr.lines, sc.Text())
			lr.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cmd.Wait()
	})
	return lr
}

// cells splits a table line into its cells.
func cells(line string) []string { return strings.Fields(line) }

// TestCLIWatch follows a pod's life through `get -w`: the header and the
// existing pod, then each change as its own line, ending with DELETED.
func TestCLIWatch(t *testing.T) {
	t.Parallel()
	e := shared
	const ns = "cli-watch"
	if r := e.applyStdin(t, sleeper(ns, "first", "app: w")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	e.ok(t, "wait", "--for=jsonpath={.status.phase}=Running", "pod/first", "-n", ns, "--timeout=2m")
	lines := e.startPodbox(t, "get", "pods", "-n", ns, "-w", "--output-watch-events")
	names := e.startPodbox(t, "get", "pods", "-n", ns, "--watch-only", "-o", "name", "--field-selector", "status.phase=Running", "-l", "app=w")
	eventually(t, 30*time.Second, func() string {
		if l := lines.all(); len(l) < 2 {
			return fmt.Sprintf("no initial table: %q", l)
		}
		return ""
	})
	l := lines.all()
	if got := cells(l[0]); strings.Join(got, " ") != "EVENT NAME READY STATUS RESTARTS AGE" {
		t.Fatalf("header %q", l[0])
	}
	if got := cells(l[1]); got[0] != "ADDED" || got[1] != "first" {
		t.Fatalf("first row %q", l[1])
	}

	if r := e.applyStdin(t, sleeper(ns, "second", "app: w")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	eventually(t, 2*time.Minute, func() string {
		for _, line := range lines.all() {
			c := cells(line)
			if len(c) >= 4 && c[0] == "MODIFIED" && c[1] == "second" && c[2] == "1/1" && c[3] == "Running" {
				return ""
			}
		}
		return fmt.Sprintf("no MODIFIED second 1/1 Running line in\n%s", strings.Join(lines.all(), "\n"))
	})
	for _, line := range lines.all() {
		if c := cells(line); c[0] == "ADDED" && c[1] == "second" {
			break
		} else if c[1] == "second" {
			t.Fatalf("a change of second came before it was ADDED:\n%s", strings.Join(lines.all(), "\n"))
		}
	}
	e.ok(t, "delete", "pod", "second", "-n", ns, "--wait=false")
	eventually(t, time.Minute, func() string {
		for _, line := range lines.all() {
			if c := cells(line); c[0] == "DELETED" && c[1] == "second" {
				return ""
			}
		}
		return fmt.Sprintf("no DELETED line in\n%s", strings.Join(lines.all(), "\n"))
	})
	// The filtered watch saw second once it was Running (first was Running
	// before the watch began, so it is not shown), and each change after.
	eventually(t, time.Minute, func() string {
		if got := strings.Join(names.all(), " "); !strings.HasPrefix(got, "pod/second") {
			return fmt.Sprintf("field-selected watch printed %q", got)
		}
		return ""
	})
	if got := names.all(); strings.Contains(strings.Join(got, " "), "pod/first") {
		t.Errorf("--watch-only printed the existing pod: %q", got)
	}
	e.ok(t, "delete", "pod", "first", "-n", ns)
}

// TestCLILabelAnnotate changes a running pod's metadata in place and
// selects it by the new labels.
func TestCLILabelAnnotate(t *testing.T) {
	t.Parallel()
	e := shared
	const ns = "cli-label"
	if r := e.applyStdin(t, sleeper(ns, "lab", "app: web")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	uid := e.ok(t, "get", "pod", "lab", "-n", ns, "-o", "jsonpath={.metadata.uid}")
	if out := e.ok(t, "label", "pods", "lab", "tier=front", "-n", ns); out != "pod/lab labeled\n" {
		t.Errorf("label: %q", out)
	}
	r := e.run(t, nil, "label", "pod/lab", "tier=back", "-n", ns)
	if r.code != 1 || r.stderr != "error: 'tier' already has a value (front), and --overwrite is false\n" {
		t.Errorf("label without --overwrite: %d %q", r.code, r.stderr)
	}
	e.ok(t, "label", "pod/lab", "tier=back", "--overwrite", "-n", ns)
	if out := e.ok(t, "get", "pods", "-n", ns, "-l", "app=web,tier in (back)", "-o", "name"); out != "pod/lab\n" {
		t.Errorf("selected by the new label: %q", out)
	}
	if out := e.ok(t, "get", "pods", "-n", ns, "-l", "tier notin (back)", "-o", "name"); out != "" {
		t.Errorf("notin: %q", out)
	}
	out := e.ok(t, "get", "pods", "-n", ns, "--show-labels", "--no-headers")
	if !strings.HasSuffix(strings.TrimSpace(out), "app=web,tier=back") {
		t.Errorf("--show-labels: %q", out)
	}
	if out := e.ok(t, "annotate", "pods", "lab", "note=hello there", "-n", ns); out != "pod/lab annotated\n" {
		t.Errorf("annotate: %q", out)
	}
	if out := e.ok(t, "get", "pod", "lab", "-n", ns, "-o", "jsonpath={.metadata.annotations.note}"); out != "hello there" {
		t.Errorf("annotation: %q", out)
	}
	if out := e.ok(t, "label", "pods", "lab", "tier-", "-n", ns); out != "pod/lab unlabeled\n" {
		t.Errorf("unlabel: %q", out)
	}
	if out := e.ok(t, "get", "pod", "lab", "-n", ns, "-o", "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier,UID:.metadata.uid", "--no-headers"); strings.Join(cells(out), " ") != "lab <none> "+uid {
		t.Errorf("after unlabel: %q", out)
	}
	// The pod ran on throughout: same UID, still Running.
	if out := e.ok(t, "get", "pod", "lab", "-n", ns, "-o", "jsonpath={.metadata.uid} {.status.phase}"); out != uid+" Running" && out != uid+" Pending" {
		t.Errorf("pod after metadata changes: %q (uid was %s)", out, uid)
	}
	e.ok(t, "delete", "pod", "lab", "-n", ns)
}

// TestCLIApplyReplace applies a pod three times: unchanged, labels changed in
// place, and a changed spec, which replaces the pod.
func TestCLIApplyReplace(t *testing.T) {
	t.Parallel()
	e := shared
	const ns = "cli-apply"
	m := sleeper(ns, "app", "app: a")
	if r := e.applyStdin(t, m); r.code != 0 || r.stdout != "pod/app created\n" {
		t.Fatalf("create: %+v", r)
	}
	e.ok(t, "wait", "--for=condition=Ready", "pod/app", "-n", ns, "--timeout=2m")
	uid := e.ok(t, "get", "pod", "app", "-n", ns, "-o", "jsonpath={.metadata.uid}")
	if r := e.applyStdin(t, m); r.code != 0 || r.stdout != "pod/app unchanged\n" {
		t.Errorf("reapply: %+v", r)
	}
	if r := e.applyStdin(t, strings.Replace(m, "app: a", "app: a, v: \"2\"", 1)); r.code != 0 || r.stdout != "pod/app configured\n" || r.stderr != "" {
		t.Errorf("label change: %+v", r)
	}
	if got := e.ok(t, "get", "pod", "app", "-n", ns, "-o", "jsonpath={.metadata.uid} {.metadata.labels.v}"); got != uid+" 2" {
		t.Errorf("after a label change: %q, want the same pod (%s) labelled", got, uid)
	}
	r := e.applyStdin(t, strings.Replace(m, "sleep\", \"100000", "sleep\", \"200000", 1))
	if r.code != 0 || r.stdout != "pod/app configured\n" || !strings.Contains(r.stderr, "pod/app was replaced") {
		t.Errorf("spec change: %+v", r)
	}
	got := e.ok(t, "get", "pod", "app", "-n", ns, "-o", "jsonpath={.metadata.uid} {.spec.containers[0].command[1]}")
	if strings.HasPrefix(got, uid) || !strings.HasSuffix(got, " 200000") {
		t.Errorf("after a spec change: %q, want a new pod (not %s) running sleep 200000", got, uid)
	}
	// The pod is a new one, and it starts.
	if out := e.ok(t, "wait", "--for=condition=Ready", "pod/app", "-n", ns, "--timeout=2m"); out != "pod/app condition met\n" {
		t.Errorf("wait: %q", out)
	}
	// create refuses what exists.
	r = e.run(t, strings.NewReader(m), "create", "-f", "-")
	if r.code != 1 || r.stderr != "Error from server (AlreadyExists): pods \"app\" already exists\n" {
		t.Errorf("create existing: %+v", r)
	}
	e.ok(t, "delete", "pod", "app", "-n", ns)
}

// TestCLIWaitDelete waits for readiness, a field and deletion through the
// watch, and deletes by selector and by file.
func TestCLIWaitDelete(t *testing.T) {
	t.Parallel()
	e := shared
	const ns = "cli-wait"
	dir := t.TempDir()
	file := filepath.Join(dir, "pods.yaml")
	if err := os.WriteFile(file, []byte(sleeper(ns, "c", "app: c")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.applyStdin(t, sleeper(ns, "a", "app: a")+"---\n"+sleeper(ns, "b", "app: b")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := e.run(t, nil, "create", "-f", file); r.code != 0 || r.stdout != "pod/c created\n" {
		t.Fatalf("create: %+v", r)
	}
	out := e.ok(t, "wait", "--for=condition=Ready", "pods", "--all", "-n", ns, "--timeout=3m")
	if out != "pod/a condition met\npod/b condition met\npod/c condition met\n" {
		t.Errorf("wait --all: %q", out)
	}
	if out := e.ok(t, "wait", "--for=jsonpath={.status.phase}=Running", "pod/a", "-n", ns); out != "pod/a condition met\n" {
		t.Errorf("wait jsonpath: %q", out)
	}
	r := e.run(t, nil, "wait", "--for=condition=Ready=false", "pod/a", "-n", ns, "--timeout=1s")
	if r.code != 1 || r.stderr != "error: timed out waiting for the condition on pods/a\n" {
		t.Errorf("wait for what does not happen: %+v", r)
	}

	// delete -l --wait=false returns at once; wait --for=delete sees it go.
	if out := e.ok(t, "delete", "pods", "-l", "app in (a)", "-n", ns, "--wait=false"); out != "pod \"a\" deleted\n" {
		t.Errorf("delete -l: %q", out)
	}
	if out := e.ok(t, "wait", "--for=delete", "pod/a", "-n", ns, "--timeout=1m"); out != "pod/a condition met\n" {
		t.Errorf("wait --for=delete: %q", out)
	}
	if out := e.ok(t, "delete", "-f", file); out != "pod \"c\" deleted\n" {
		t.Errorf("delete -f: %q", out)
	}
	if out := e.ok(t, "get", "pods", "-n", ns, "-o", "name"); out != "pod/b\n" {
		t.Errorf("left: %q", out)
	}
	e.ok(t, "delete", "pods", "--all", "-n", ns)
}
