//go:build integration

package integration

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/sandbox"
)

// TestMemoryLimitOOMKilled: a container allocating past its memory limit
// is killed and reported OOMKilled (exit code 137) and restarted by the
// restart policy, while its sibling keeps running untouched.
func TestMemoryLimitOOMKilled(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  containers:
  - name: hog
    image: %[1]s
    args: ["alloc", "400"]
    resources:
      limits: {memory: 64Mi}
  - name: calm
    image: %[2]s
    command: ["sleep", "100000"]
    resources:
      limits: {memory: 64Mi}
`, testAppRef, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "oom", "--now")
	p := e.waitFor(t, "oom", 90*time.Second, "OOMKilled", func(p *corev1.Pod) bool {
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "hog" && c.LastTerminationState.Terminated != nil {
				return true
			}
		}
		return false
	})
	for _, c := range p.Status.ContainerStatuses {
		switch c.Name {
		case "hog":
			term := c.LastTerminationState.Terminated
			if term.Reason != "OOMKilled" || term.ExitCode != 137 || c.RestartCount < 1 {
				t.Errorf("hog: last state %+v, restarts %d; want OOMKilled, exit code 137, restarted", term, c.RestartCount)
			}
		case "calm":
			if c.State.Running == nil || c.RestartCount != 0 {
				for _, ev := range e.events(t, p.UID) {
					t.Logf("event %s %s", ev.Reason, ev.Message)
				}
				t.Errorf("calm: state %+v, restarts %d; want running, never restarted", c.State, c.RestartCount)
			}
		}
	}
	// The hog got close to its limit before it was killed, and not far past it.
	logs := e.run(t, nil, "logs", "oom", "-c", "hog", "-p").stdout
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	last := lines[len(lines)-1]
	var n int
	fmt.Sscanf(last, "allocated %d MiB", &n)
	t.Logf("hog killed after allocating %d MiB (limit 64 MiB)", n)
	if n < 40 || n > 200 {
		t.Errorf("hog was killed after allocating %d MiB with a 64 MiB limit (last line %q)", n, last)
	}
	found := false
	for _, ev := range e.events(t, p.UID) {
		if ev.Reason == "OOMKilling" && ev.Type == corev1.EventTypeWarning && strings.Contains(ev.Message, "container hog") {
			found = true
		}
	}
	if !found {
		t.Errorf("no OOMKilling warning event for hog")
	}
}

// TestCPULimitVCPUs: a pod whose CPU limits add up to less than one CPU
// gets a one-vCPU sandbox pinned to one host CPU; without limits it sees
// every CPU.
func TestCPULimitVCPUs(t *testing.T) {
	t.Parallel()
	e := shared
	pod := func(name, limits string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "grep -c ^processor /proc/cpuinfo"]
    resources: %s
`, name, busyboxRef, limits)
	}
	e.apply(t, pod("cpu-half", `{limits: {cpu: 500m}}`))
	e.apply(t, pod("cpu-all", `{}`))
	defer e.run(t, nil, "delete", "pod", "cpu-half", "cpu-all", "--now")
	for _, name := range []string{"cpu-half", "cpu-all"} {
		e.waitFor(t, name, 60*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	}
	half := strings.TrimSpace(e.ok(t, "logs", "cpu-half"))
	all := strings.TrimSpace(e.ok(t, "logs", "cpu-all"))
	if half != "1" {
		t.Errorf("pod with limits.cpu 500m sees %s CPUs, want 1", half)
	}
	if atoi(all) < 1 || (atoi(all) == 1 && atoi(half) == 1 && runtime.NumCPU() > 1) {
		t.Errorf("pod without a CPU limit sees %s CPUs, host has %d", all, runtime.NumCPU())
	}
	out := e.ok(t, "describe", "pod", "cpu-half")
	if !strings.Contains(out, "Sandbox CPUs:") {
		t.Errorf("describe does not show the sandbox's CPUs:\n%s", out)
	}
}

// TestSchedulingFieldWarnings: fields that only matter to a scheduler are
// accepted, each with one kubectl-style warning line.
func TestSchedulingFieldWarnings(t *testing.T) {
	t.Parallel()
	e := shared
	r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: sched
spec:
  nodeSelector: {disktype: ssd}
  tolerations: [{key: k, operator: Exists}]
  priorityClassName: high
  containers:
  - name: main
    image: %s
    command: ["sleep", "1000"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "sched", "--now")
	if r.code != 0 {
		t.Fatalf("apply: exit %d: %s", r.code, r.stderr)
	}
	for _, f := range []string{"nodeSelector", "tolerations", "priorityClassName"} {
		want := "Warning: spec." + f + ": ignored: podbox runs every pod on this machine"
		if strings.Count(r.stderr, want) != 1 {
			t.Errorf("stderr lacks exactly one %q:\n%s", want, r.stderr)
		}
	}
}

// BenchmarkMemorySample measures one memory sample of a running container
// (the control-socket call the supervisor's memory watcher makes for every
// container of a pod with limits, every 250 ms).
func BenchmarkMemorySample(b *testing.B) {
	e := shared
	t := &testing.T{}
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: bench-mem
spec:
  containers:
  - name: main
    image: %s
    command: ["sleep", "100000"]
    resources:
      limits: {memory: 64Mi}
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "bench-mem", "--now")
	p := e.waitFor(t, "bench-mem", 60*time.Second, "Running", running)
	sandboxID := strings.ReplaceAll(string(p.UID), "-", "")[:16]
	r := &sandbox.Runsc{Root: filepath.Join(e.runtime, "podbox", "runsc")}
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "gvisor://")
	if _, err := r.Stats(sandboxID, id); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Stats(sandboxID, id); err != nil {
			b.Fatal(err)
		}
	}
}
