//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/sandbox"
)

// hostProcesses counts this user's processes on the host: the /proc entries
// whose real uid is ours (a sandbox's stub processes are not dumpable, so
// the owner of their /proc directory would say root).
func hostProcesses() int {
	uid := strconv.Itoa(os.Getuid())
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 && f[0] == uid {
					n++
				}
				break
			}
		}
	}
	return n
}

// containerCgroup reads a control file of a running container's cgroup in
// the sentry, over the sandbox's control socket.
func containerCgroup(t *testing.T, e *env, p *corev1.Pod, container, file string) string {
	t.Helper()
	r := &sandbox.Runsc{Root: filepath.Join(e.runtime, "podbox", "runsc")}
	sandboxID := strings.ReplaceAll(string(p.UID), "-", "")[:16]
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == container {
			v, err := r.ReadCgroupFile(sandboxID, strings.TrimPrefix(c.ContainerID, "gvisor://"), "pids", file)
			if err != nil {
				t.Fatalf("%s of container %s: %v", file, container, err)
			}
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("pod %s has no container %s", p.Name, container)
	return ""
}

// Fork flood bounds. floodForks is what the container tries; floodCap the
// pod's cap (podbox.dev/pids-limit, low to keep the test short: the default
// 1,024 is checked on the bystander pod). The host bound: each task in a pod
// costs about 2.1 host processes (systrap's stub per address space, measured
// at 2,000 sleeping processes), rounded up to 3, plus 20 for the sandbox's
// own processes (sentry, gofers) in the pod's process tree, and 300 more for
// the user-wide count, which also sees the pods parallel tests start
// meanwhile. Before the cap, the flood added about 2,000 host processes.
const (
	floodForks     = 1000
	floodCap       = 100
	floodPodBound  = 3*floodCap + 20
	floodHostBound = floodPodBound + 300
)

// processTree counts the host processes in the tree rooted at pid.
func processTree(pid int) int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		if f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]); len(f) > 1 {
			parent[p] = atoi(f[1])
		}
	}
	n := 0
	for p := range parent {
		for q := p; q > 1; q = parent[q] {
			if q == pid {
				n++
				break
			}
		}
	}
	return n
}

// sandboxPid is the host pid of a pod's sandbox (the sentry).
func sandboxPid(t *testing.T, e *env, p *corev1.Pod) int {
	t.Helper()
	r := &sandbox.Runsc{Path: filepath.Join(e.bin, "runsc"), Root: filepath.Join(e.runtime, "podbox", "runsc")}
	states, err := r.States(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, ok := states[strings.ReplaceAll(string(p.UID), "-", "")[:16]]
	if !ok || st.Pid == 0 {
		t.Fatalf("no sandbox process for pod %s: %v", p.Name, states)
	}
	return st.Pid
}

// TestForkFloodCapped: a container forking floodForks background sleeps
// gets "can't fork" (EAGAIN) past the pod's process cap, the user's host
// process count rises by a bounded amount, the pod's other container and
// other pods keep working, and the pod is deleted cleanly.
func TestForkFloodCapped(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: flood-bystander
spec:
  containers:
  - name: main
    image: %s
    command: ["sleep", "3600"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "flood-bystander", "--now")
	bystander := e.waitFor(t, "flood-bystander", 60*time.Second, "running", running)
	if got := containerCgroup(t, e, bystander, "main", "pids.max"); got != strconv.Itoa(sandbox.DefaultPodPidsLimit) {
		t.Errorf("pids.max of a pod without the annotation = %q, want the default %d", got, sandbox.DefaultPodPidsLimit)
	}

	before := hostProcesses()
	// The inner shell stops at its first failed fork; the outer one then
	// reports and replaces itself with a sleep (exec needs no fork).
	flood := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do sleep 3600 & i=$((i+1)); done`, floodForks)
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: flood
  annotations: {podbox.dev/pids-limit: "%d"}
spec:
  containers:
  - name: flood
    image: %s
    command: ["sh", "-c", "sh -c '%s'; echo flood-exit $?; exec sleep 3600"]
  - name: buddy
    image: %[2]s
    command: ["sleep", "3600"]
`, floodCap, busyboxRef, flood))
	defer e.run(t, nil, "delete", "pod", "flood", "--now")
	var logs string
	eventually(t, 5*time.Minute, func() string {
		logs = e.run(t, nil, "logs", "flood", "-c", "flood").stdout
		if strings.Contains(logs, "flood-exit") {
			return ""
		}
		return "the flood did not end"
	})
	rise := hostProcesses() - before
	p := e.getPod(t, "flood")
	tree := processTree(sandboxPid(t, e, p))
	t.Logf("host processes: the pod's sandbox has %d (bound %d), the user's rose by %d (bound %d); log tail: %q",
		tree, floodPodBound, rise, floodHostBound, logs[max(0, len(logs)-200):])
	if !strings.Contains(logs, "can't fork") || strings.Contains(logs, "flood-exit 0") {
		t.Errorf("forks past the cap of %d did not fail in the pod; logs:\n%s", floodCap, logs)
	}
	if tree >= floodPodBound {
		t.Errorf("the pod's sandbox has %d host processes, want fewer than %d", tree, floodPodBound)
	}
	if rise >= floodHostBound {
		t.Errorf("the user's host processes rose by %d, want fewer than %d", rise, floodHostBound)
	}
	if got := containerCgroup(t, e, p, "flood", "pids.max"); got != strconv.Itoa(floodCap) {
		t.Errorf("pids.max of the flooding container = %q, want %d", got, floodCap)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil || c.RestartCount != 0 {
			t.Errorf("container %s: state %+v, restarts %d; want running", c.Name, c.State, c.RestartCount)
		}
	}
	if out := e.ok(t, "exec", "flood", "-c", "buddy", "--", "sh", "-c", "echo ok"); strings.TrimSpace(out) != "ok" {
		t.Errorf("exec into the flooded pod's other container: %q", out)
	}
	if out := e.ok(t, "exec", "flood-bystander", "--", "sh", "-c", "echo ok"); strings.TrimSpace(out) != "ok" {
		t.Errorf("exec into another pod: %q", out)
	}
	e.ok(t, "delete", "pod", "flood", "--now")
	if r := e.run(t, nil, "get", "pod", "flood"); r.code == 0 {
		t.Errorf("pod flood still exists after delete: %s", r.stdout)
	}
	eventually(t, 2*time.Minute, func() string {
		if n := hostProcesses() - before; n >= floodHostBound/4 {
			return fmt.Sprintf("%d of the flood's host processes remain after delete", n)
		}
		return ""
	})
}

// TestPidsCapCannotBeLifted: a root container cannot raise its own
// pids.max, neither through its read-only /sys/fs/cgroup nor through a
// cgroup2 mount made in a user and mount namespace of its own (which needs
// no capability), and cannot be given SYS_ADMIN.
func TestPidsCapCannotBeLifted(t *testing.T) {
	t.Parallel()
	e := shared
	script := `echo max > /sys/fs/cgroup/pids.max; echo "ro-write $?"
unshare -Urm sh -c 'mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && p=$(cut -d: -f3 /proc/self/cgroup) && echo max > /tmp/cg$p/pids.max; echo "ns-write $?"'
sleep 3600`
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: pids-lift
spec:
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", %q]
`, busyboxRef, script))
	defer e.run(t, nil, "delete", "pod", "pids-lift", "--now")
	var logs string
	eventually(t, 60*time.Second, func() string {
		logs = e.run(t, nil, "logs", "pids-lift").stdout
		if strings.Contains(logs, "ns-write") {
			return ""
		}
		return "the container did not try both writes"
	})
	t.Logf("logs:\n%s", logs)
	p := e.getPod(t, "pids-lift")
	if got := containerCgroup(t, e, p, "main", "pids.max"); got != strconv.Itoa(sandbox.DefaultPodPidsLimit) {
		t.Errorf("pids.max = %q after the container tried to lift it, want %d", got, sandbox.DefaultPodPidsLimit)
	}
	r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: pids-admin
spec:
  containers:
  - name: main
    image: %s
    securityContext: {capabilities: {add: [SYS_ADMIN]}}
`, busyboxRef))
	if want := `spec.containers[0].securityContext.capabilities.add[0]: Forbidden: adding SYS_ADMIN is not allowed`; r.code == 0 || !strings.Contains(r.stderr, want) {
		e.run(t, nil, "delete", "pod", "pids-admin", "--now")
		t.Errorf("apply with SYS_ADMIN: exit %d, stderr %q; want it refused with %q", r.code, r.stderr, want)
	}

	// add: [ALL] runs, with every capability but SYS_ADMIN, and says so.
	r = e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: pids-all
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %s
    command: ["grep", "CapBnd", "/proc/self/status"]
    securityContext: {capabilities: {add: [ALL]}}
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "pids-all", "--now")
	if want := "Warning: spec.containers[0].securityContext.capabilities.add[0]: ALL grants every capability except SYS_ADMIN"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("apply with ALL: exit %d, stderr %q; want it accepted with %q", r.code, r.stderr, want)
	}
	e.waitFor(t, "pids-all", 60*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	line := strings.TrimSpace(e.ok(t, "logs", "pids-all"))
	bnd, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")), 16, 64)
	const sysAdmin, sysPtrace = 21, 19
	if err != nil || bnd&(1<<sysAdmin) != 0 || bnd&(1<<sysPtrace) == 0 {
		t.Errorf("bounding set with add ALL: %q (%v); want SYS_PTRACE and not SYS_ADMIN", line, err)
	}
}
