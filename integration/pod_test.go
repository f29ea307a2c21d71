//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// twoContainerPod: "web" serves HTTP on the pod's port 8080; "side" fetches
// it over 127.0.0.1 (the pod's shared localhost) and prints what it got.
func twoContainerPod(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: web
    image: %[2]s
    args: ["serve", ":8080", "hello from web"]
  - name: side
    image: %[3]s
    command: ["sh", "-c"]
    args:
    - |
      echo "side sees hostname $(hostname)"
      echo "side on stderr" >&2
      until wget -qO- http://127.0.0.1:8080/; do sleep 0.2; done
      exec sleep 100000
`, name, testAppRef, busyboxRef)
}

// sandboxOf returns the runsc sandbox ID of a running pod, from its
// containers' IDs ("gvisor://<sandbox>-<container>-<restart>"), and checks
// that every container runs in that one sandbox.
func sandboxOf(t *testing.T, p *corev1.Pod) string {
	t.Helper()
	var id string
	for _, c := range p.Status.ContainerStatuses {
		cid, ok := strings.CutPrefix(c.ContainerID, "gvisor://")
		if !ok {
			t.Fatalf("container %s has ID %q, want gvisor://...", c.Name, c.ContainerID)
		}
		sb, _, _ := strings.Cut(cid, "-")
		if id != "" && sb != id {
			t.Fatalf("containers run in different sandboxes: %s and %s", id, sb)
		}
		id = sb
	}
	return id
}

func TestTwoContainerPod(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "web"
	if r := e.apply(t, twoContainerPod(name)); r.code != 0 || strings.TrimSpace(r.stdout) != "pod/web created" {
		t.Fatalf("apply: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	p := e.waitFor(t, name, 90*time.Second, "Running", running)

	t.Run("status is a Kubernetes Pod", func(t *testing.T) {
		if p.APIVersion != "v1" || p.Kind != "Pod" || p.UID == "" || p.Namespace != "default" {
			t.Errorf("object header: %s %s uid=%q ns=%q", p.APIVersion, p.Kind, p.UID, p.Namespace)
		}
		if got := []string{p.Status.ContainerStatuses[0].Name, p.Status.ContainerStatuses[1].Name}; got[0] != "side" || got[1] != "web" {
			t.Errorf("containerStatuses not sorted by name: %v", got)
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Running == nil || !c.Ready || c.RestartCount != 0 || c.ImageID == "" {
				t.Errorf("container %s: %+v", c.Name, c)
			}
		}
		want := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
		for i, c := range p.Status.Conditions {
			if i >= len(want) || c.Type != want[i] || c.Status != corev1.ConditionTrue {
				t.Errorf("condition %d = %s %s, want %s True", i, c.Type, c.Status, want[i])
			}
		}
		table := e.ok(t, "get", "pods")
		if !regexpMatch(`(?m)^web\s+2/2\s+Running\s+0\s+\d+s$`, table) {
			t.Errorf("get pods:\n%s", table)
		}
	})

	t.Run("events tell how the pod started", func(t *testing.T) {
		got := map[string]int{}
		for _, ev := range e.events(t, p.UID) {
			got[ev.Reason+" "+ev.InvolvedObject.FieldPath]++
			if ev.Reason == "Started" && ev.Message != "Started container "+strings.TrimSuffix(strings.TrimPrefix(ev.InvolvedObject.FieldPath, "spec.containers{"), "}") {
				t.Errorf("Started event message %q", ev.Message)
			}
		}
		for _, want := range []string{"Scheduled ", "Pulled spec.containers{web}", "Pulled spec.containers{side}", "Created spec.containers{web}", "Created spec.containers{side}", "Started spec.containers{web}", "Started spec.containers{side}"} {
			if got[want] != 1 {
				t.Errorf("want one %q event, got %d (all: %v)", want, got[want], got)
			}
		}
		table := e.ok(t, "get", "events")
		if !regexpMatch(`(?m)^\S+\s+Normal\s+Started\s+pod/web\s+Started container side$`, table) {
			t.Errorf("get events:\n%s", table)
		}
	})

	sandboxID := sandboxOf(t, p)
	t.Run("one sandbox process for both containers", func(t *testing.T) {
		var sentries []string
		for _, cmd := range processesMentioning(sandboxID) {
			if strings.HasPrefix(cmd, "runsc-sandbox ") {
				sentries = append(sentries, cmd)
			}
		}
		if len(sentries) != 1 {
			t.Fatalf("want exactly one runsc-sandbox process for sandbox %s, got %d:\n%s", sandboxID, len(sentries), strings.Join(sentries, "\n"))
		}
	})

	t.Run("side reaches web on localhost and both see the pod's hostname", func(t *testing.T) {
		eventually(t, 30*time.Second, func() string {
			logs := e.ok(t, "logs", name, "-c", "side")
			if !strings.Contains(logs, "hello from web from web") || !strings.Contains(logs, "side sees hostname web") {
				return "side's log lacks web's reply or the hostname:\n" + logs
			}
			return ""
		})
		if got := strings.TrimSpace(e.ok(t, "exec", name, "-c", "web", "--", "testapp", "hostname")); got != name {
			t.Errorf("hostname in web = %q, want %q", got, name)
		}
	})

	t.Run("logs are per container", func(t *testing.T) {
		web := e.ok(t, "logs", name, "-c", "web")
		if !strings.Contains(web, "serving on :8080") || strings.Contains(web, "side") {
			t.Errorf("web's log:\n%s", web)
		}
		side := e.ok(t, "logs", name, "-c", "side")
		if !strings.Contains(side, "side on stderr") || strings.Contains(side, "serving on") {
			t.Errorf("side's log (stdout and stderr):\n%s", side)
		}
		ts := e.ok(t, "logs", name, "-c", "web", "--timestamps")
		if !regexpMatch(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z serving on :8080`, ts) {
			t.Errorf("logs --timestamps:\n%s", ts)
		}
	})

	t.Run("exec propagates exit codes and streams", func(t *testing.T) {
		for _, code := range []int{0, 3, 42} {
			r := e.run(t, nil, "exec", name, "-c", "side", "--", "sh", "-c", "echo out; echo err >&2; exit "+strconv.Itoa(code))
			if r.code != code || r.stdout != "out\n" || !strings.Contains(r.stderr, "err\n") {
				t.Errorf("exec exit %d: got code %d stdout %q stderr %q", code, r.code, r.stdout, r.stderr)
			}
		}
		r := e.run(t, strings.NewReader("piped input\n"), "exec", "-i", name, "-c", "side", "--", "cat")
		if r.code != 0 || r.stdout != "piped input\n" {
			t.Errorf("exec -i cat: code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		r = e.run(t, nil, "exec", name, "-c", "side", "--", "sh", "-c", "echo written > /etc/podbox-was-here && cat /etc/podbox-was-here")
		if r.code != 0 || r.stdout != "written\n" {
			t.Errorf("writing to the container's root filesystem: %+v", r)
		}
		if leaked, _ := filepath.Glob(filepath.Join(e.data, "podbox", "images", "rootfs", "*", "etc", "podbox-was-here")); len(leaked) > 0 {
			t.Errorf("a container's write reached the shared image tree: %v", leaked)
		}
		r = e.run(t, nil, "exec", name, "-c", "side", "--", "/no/such/binary")
		if r.code == 0 {
			t.Errorf("exec of a missing binary succeeded: %+v", r)
		}
	})

	t.Run("delete leaves nothing behind and the name can be reused", func(t *testing.T) {
		podDir := podDirOf(t, e, p)
		e.ok(t, "delete", "pod", name)
		r := e.run(t, nil, "get", "pod", name)
		if r.code != 1 || !strings.Contains(r.stderr, `pods "web" not found`) {
			t.Fatalf("get after delete: %+v", r)
		}
		if procs := processesMentioning(sandboxID); len(procs) > 0 {
			t.Errorf("processes left after delete:\n%s", strings.Join(procs, "\n"))
		}
		if _, err := os.Stat(podDir); !os.IsNotExist(err) {
			t.Errorf("pod directory %s left after delete (err %v)", podDir, err)
		}
		if _, err := os.Stat(filepath.Join(e.runtime, "podbox", "netns", sandboxID)); !os.IsNotExist(err) {
			t.Errorf("netns pin left after delete (err %v)", err)
		}
		if m := e.supervisorMounts(t); strings.Contains(m, sandboxID) {
			t.Errorf("mounts left in the supervisor's namespace:\n%s", m)
		}
		if state, _ := filepath.Glob(filepath.Join(e.runtime, "podbox", "runsc", "*"+sandboxID+"*")); len(state) > 0 {
			t.Errorf("runsc state left: %v", state)
		}

		if r := e.apply(t, twoContainerPod(name)); r.code != 0 {
			t.Fatalf("re-apply: %+v", r)
		}
		p2 := e.waitFor(t, name, 90*time.Second, "Running", running)
		if p2.UID == p.UID || sandboxOf(t, p2) == sandboxID {
			t.Errorf("re-applied pod reuses the old identity")
		}
		e.ok(t, "delete", "pod", name, "--grace-period=1")
	})
}

// podDirOf finds the pod's state directory in the data directory.
func podDirOf(t *testing.T, e *env, p *corev1.Pod) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(e.data, "podbox", "pods", "*_"+p.Name+"_"+string(p.UID)))
	if len(dirs) != 1 {
		t.Fatalf("want one state directory for pod %s, found %v", p.Name, dirs)
	}
	return dirs[0]
}

// supervisorMounts returns the mount table of the supervisor, which runs as
// the child of `podbox daemon` in podbox's own mount namespace.
func (e *env) supervisorMounts(t *testing.T) string {
	t.Helper()
	child := childOf(e.daemon.Process.Pid)
	if child == "" {
		t.Fatalf("podbox daemon %d has no child", e.daemon.Process.Pid)
	}
	b, err := os.ReadFile("/proc/" + child + "/mountinfo")
	if err != nil {
		t.Fatalf("read the supervisor's mounts: %v", err)
	}
	return string(b)
}
