//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// lcStatus returns the status of container name, or a zero one.
func lcStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == name {
			return c
		}
	}
	return corev1.ContainerStatus{}
}

// lcWaitGone polls `get pod` until it says NotFound, failing after timeout.
func (e *env) lcWaitGone(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() string {
		r := e.run(t, nil, "get", "pod", name)
		if r.code != 0 && strings.Contains(r.stderr, "not found") {
			return ""
		}
		return fmt.Sprintf("pod %s still there after %s: %s", name, timeout, r.stdout)
	})
}

// TestPrefixContainerNames: containers named `a` and `a-0` in one pod. runsc
// resolves an ID by prefix and refuses an ambiguous one, so IDs built as
// <sandbox>-<name>-<restart> (`…-a-0` and `…-a-0-0`) made every kill, wait
// and delete of `a` fail: a liveness kill never restarted it and deletion
// hung. A liveness kill of `a` must restart it (RESTARTS 1, `a-0` untouched)
// and a graceful delete must complete.
func TestPrefixContainerNames(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "prefixnames"
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: a
    image: %[1]s
    command: ["sh", "-c", "while true; do sleep 1; done"]
    livenessProbe:
      exec:
        command: ["sh", "-c", "! test -f /tmp/die"]
      periodSeconds: 1
      failureThreshold: 1
  - name: a-0
    image: %[1]s
    command: ["sh", "-c", "while true; do sleep 1; done"]
`, busyboxRef, name))
	defer e.run(t, nil, "delete", "pod", name, "--grace-period=0", "--force")
	e.waitFor(t, name, 90*time.Second, "running", running)
	// The probe fails once /tmp/die exists; the new instance has a fresh
	// root filesystem without it.
	e.ok(t, "exec", name, "-c", "a", "--", "touch", "/tmp/die")
	p := e.waitFor(t, name, 60*time.Second, "a restarted and running", func(p *corev1.Pod) bool {
		a := lcStatus(p, "a")
		return a.RestartCount >= 1 && a.State.Running != nil
	})
	if a := lcStatus(p, "a"); a.RestartCount != 1 {
		t.Errorf("a: RESTARTS %d, want 1", a.RestartCount)
	}
	if a0 := lcStatus(p, "a-0"); a0.RestartCount != 0 || a0.State.Running == nil {
		t.Errorf("a-0 was touched by a's liveness kill: %+v", a0)
	}
	sandboxID := sandboxOf(t, p)
	e.ok(t, "delete", "pod", name, "--grace-period=1", "--wait=false")
	e.lcWaitGone(t, name, 60*time.Second)
	eventually(t, 30*time.Second, func() string {
		if procs := processesMentioning(sandboxID); len(procs) > 0 {
			return "sandbox processes left after delete:\n" + strings.Join(procs, "\n")
		}
		return ""
	})
}

// TestLivenessKillReachesForkedChildren: with shareProcessNamespace a
// container's init is not its PID namespace's init, so killing only the init
// left its children running (reparented to the pod's pause process) after
// the container was reported Terminated. A child that ignores SIGTERM must
// be gone once a liveness kill has ended its container, as the kubelet's
// runtime kills a whole container.
func TestLivenessKillReachesForkedChildren(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "forkedchild"
	// 1000007 marks the child in process listings.
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  terminationGracePeriodSeconds: 1
  shareProcessNamespace: true
  restartPolicy: Never
  containers:
  - name: main
    image: %[1]s
    command: ["sh", "-c", "(trap '' TERM; exec sleep 1000007) & while true; do sleep 1; done"]
    livenessProbe:
      exec:
        command: ["sh", "-c", "! test -f /tmp/die"]
      periodSeconds: 1
      failureThreshold: 1
  - name: side
    image: %[1]s
    command: ["sh", "-c", "while true; do sleep 1; done"]
`, busyboxRef, name))
	defer e.run(t, nil, "delete", "pod", name, "--grace-period=0", "--force")
	e.waitFor(t, name, 90*time.Second, "running", running)
	// The pod's processes, as the sibling sees them in the shared namespace.
	childAlive := func() bool {
		out := e.ok(t, "exec", name, "-c", "side", "--", "sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done")
		return strings.Contains(out, "sleep 1000007")
	}
	eventually(t, 10*time.Second, func() string {
		if !childAlive() {
			return "the child process never showed up in the shared PID namespace"
		}
		return ""
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.run(t, nil, "get", "events", "-A").stdout)
		}
	})
	e.ok(t, "exec", name, "-c", "main", "--", "touch", "/tmp/die")
	e.waitFor(t, name, 60*time.Second, "main killed", func(p *corev1.Pod) bool {
		return lcStatus(p, "main").State.Terminated != nil
	})
	eventually(t, 15*time.Second, func() string {
		if childAlive() {
			return "the child of the killed container still runs (its init was killed, not the container)"
		}
		return ""
	})
}

// TestForceDeleteThenApply: a graceful delete shows the pod Terminating;
// after `delete --grace-period=0 --force` the name is free at once, as on a
// cluster: applying the pod again succeeds while
// the old sandbox is torn down in the background (keyed by the old UID), the
// new pod runs, and the old sandbox, network namespace and state go.
func TestForceDeleteThenApply(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "reborn"
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
`, busyboxRef, name)
	if r := e.apply(t, manifest); r.code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	defer e.run(t, nil, "delete", "pod", name, "--grace-period=0", "--force")
	old := e.waitFor(t, name, 90*time.Second, "running", running)
	oldSandbox := sandboxOf(t, old)
	// A graceful delete keeps the pod, Terminating, while it stops (it
	// ignores SIGTERM, so for its whole 30 s grace period) ...
	e.ok(t, "delete", "pod", name, "--wait=false")
	if p := e.getPod(t, name); p.DeletionTimestamp == nil {
		t.Fatalf("pod not marked for deletion after a graceful delete")
	}
	if table := e.ok(t, "get", "pod", name); !strings.Contains(table, "Terminating") {
		t.Errorf("get pod during a graceful delete:\n%s", table)
	}
	// ... and a forced one, that follows, removes it from the API at once.
	e.ok(t, "delete", "pod", name, "--grace-period=0", "--force")
	if r := e.apply(t, manifest); r.code != 0 {
		t.Fatalf("apply right after a forced delete: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	p := e.waitFor(t, name, 90*time.Second, "running again", running)
	if p.UID == old.UID {
		t.Fatalf("the new pod has the old pod's UID %s", p.UID)
	}
	if sb := sandboxOf(t, p); sb == oldSandbox {
		t.Fatalf("the new pod reuses the old sandbox ID %s", sb)
	}
	eventually(t, 60*time.Second, func() string {
		if procs := processesMentioning(oldSandbox); len(procs) > 0 {
			return "processes of the old sandbox left:\n" + strings.Join(procs, "\n")
		}
		if _, err := os.Stat(filepath.Join(e.runtime, "podbox", "netns", oldSandbox)); !os.IsNotExist(err) {
			return fmt.Sprintf("netns pin of the old sandbox left (err %v)", err)
		}
		if state, _ := filepath.Glob(filepath.Join(e.runtime, "podbox", "runsc", "*"+oldSandbox+"*")); len(state) > 0 {
			return fmt.Sprintf("runsc state of the old sandbox left: %v", state)
		}
		return ""
	})
	if !running(e.getPod(t, name)) {
		t.Errorf("the new pod stopped running while the old one was torn down")
	}
}

// TestCrashLoopPrunesOldInstances: a crash-looping container keeps the files
// of its current and previous instances only (the kubelet keeps one dead
// instance per container); older logs and termination files go as each new
// instance starts, and `logs --previous` still shows the previous run.
func TestCrashLoopPrunesOldInstances(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "crashprune"
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[2]s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: loop
    image: %[1]s
    command: ["sh", "-c", "echo run; echo bye > /dev/termination-log; exit 1"]
`, busyboxRef, name))
	defer e.run(t, nil, "delete", "pod", name, "--grace-period=0", "--force")
	// Restarts after 0, 10 and 20 s of back-off.
	p := e.waitFor(t, name, 120*time.Second, "restarted 3 times", func(p *corev1.Pod) bool {
		return lcStatus(p, "loop").RestartCount >= 3
	})
	dir := podDirOf(t, e, p)
	eventually(t, 10*time.Second, func() string {
		logs, _ := filepath.Glob(filepath.Join(dir, "logs", "loop", "*"))
		term, _ := filepath.Glob(filepath.Join(dir, "termination", "loop-*"))
		if len(logs) > 2 || len(term) > 2 {
			return fmt.Sprintf("files of old instances left: logs %v, termination %v", logs, term)
		}
		return ""
	})
	if out := e.ok(t, "logs", name, "--previous"); out != "run\n" {
		t.Errorf("logs --previous = %q, want %q", out, "run\n")
	}
}
