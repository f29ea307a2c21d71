//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/rootless"
)

func TestBadManifestCreatesNothing(t *testing.T) {
	t.Parallel()
	e := shared
	good := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad-good\nspec:\n  containers:\n  - name: a\n    image: %s\n", busyboxRef)
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{
		{"unknown field", good + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: bad-typo\nspec:\n  containers:\n  - name: a\n    imagee: busybox\n",
			[]string{"document 2", `unknown field "spec.containers[0].imagee"`}},
		{"missing image", good + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: bad-noimage\nspec:\n  containers:\n  - name: a\n",
			[]string{`The Pod "bad-noimage" is invalid`, "spec.containers[0].image: Required value"}},
		{"duplicate container", good + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: bad-dup\nspec:\n  containers:\n  - name: a\n    image: img1\n  - name: a\n    image: img2\n",
			[]string{"spec.containers[1].name: Duplicate value: \"a\""}},
		{"missing name", good + "---\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n",
			[]string{"metadata.name: Required value"}},
		{"unsupported kind", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n",
			[]string{"kind Deployment (apps/v1) is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.apply(t, tt.manifest)
			if r.code != 1 {
				t.Fatalf("apply exit %d, want 1; stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("something was reported created: %q", r.stdout)
			}
			if g := e.run(t, nil, "get", "pod", "bad-good"); g.code == 0 {
				t.Errorf("the valid pod of a file with a bad document was created")
			}
		})
	}
}

// TestDeleteGracePeriod: a container that exits on SIGTERM is gone at once;
// one that ignores it is killed only when the grace period ends.
func TestDeleteGracePeriod(t *testing.T) {
	t.Parallel()
	e := shared
	manifest := func(name, script string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 4
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", %q]
`, name, busyboxRef, script)
	}
	e.apply(t, manifest("grace-polite", "trap 'exit 0' TERM; while true; do sleep 0.1; done"))
	e.apply(t, manifest("grace-stubborn", "trap '' TERM; while true; do sleep 0.1; done"))
	e.waitFor(t, "grace-polite", 60*time.Second, "Running", running)
	e.waitFor(t, "grace-stubborn", 60*time.Second, "Running", running)

	start := time.Now()
	e.ok(t, "delete", "pod", "grace-polite")
	polite := time.Since(start)

	start = time.Now()
	r := e.run(t, nil, "delete", "pod", "grace-stubborn")
	stubborn := time.Since(start)
	if r.code != 0 || strings.TrimSpace(r.stdout) != `pod "grace-stubborn" deleted` {
		t.Fatalf("delete: %+v", r)
	}
	// Honest slack: the point is SIGTERM first, SIGKILL only at the end of
	// the 4 s grace period.
	if polite > 3*time.Second {
		t.Errorf("a container that exits on SIGTERM took %s to delete; it should not wait for the grace period", polite)
	}
	if stubborn < 3500*time.Millisecond {
		t.Errorf("a container ignoring SIGTERM was gone after %s, before its 4 s grace period", stubborn)
	}
}

func TestDeleteWhilePending(t *testing.T) {
	t.Parallel()
	e := shared
	// An image that does not exist keeps the pod Pending in ErrImagePull.
	ref := strings.Replace(busyboxRef, "podbox/busybox:v1", "podbox/missing:v1", 1)
	e.apply(t, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: pending\nspec:\n  containers:\n  - name: a\n    image: %s\n", ref))
	p := e.waitFor(t, "pending", 30*time.Second, "failing to pull", func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff")
	})
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase = %s, want Pending", p.Status.Phase)
	}
	failed := false
	for _, ev := range e.events(t, p.UID) {
		if ev.Type == "Warning" && ev.Reason == "Failed" && strings.HasPrefix(ev.Message, fmt.Sprintf("Failed to pull image %q: ", ref)) {
			failed = true
		}
	}
	if !failed {
		t.Errorf("no Warning Failed event saying the pull failed: %+v", e.events(t, p.UID))
	}
	e.ok(t, "delete", "pod", "pending")
	if r := e.run(t, nil, "get", "pod", "pending"); r.code != 1 {
		t.Errorf("pod still there after delete: %+v", r)
	}
}

// TestSupervisorRestart: pods are kept across a supervisor restart and come
// back running.
func TestSupervisorRestart(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, true)
	e.apply(t, twoContainerPod("survivor"))
	before := e.waitFor(t, "survivor", 90*time.Second, "Running", running)
	e.stopDaemon()
	// A stopped supervisor leaves no sandbox running unsupervised.
	if procs := processesMentioning(sandboxOf(t, before)); len(procs) > 0 {
		t.Errorf("processes of the pod's sandbox outlive the supervisor:\n%s", strings.Join(procs, "\n"))
	}
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	after := e.waitFor(t, "survivor", 90*time.Second, "Running again", running)
	if after.UID != before.UID {
		t.Errorf("pod identity changed across the restart: %s -> %s", before.UID, after.UID)
	}
	for _, c := range after.Status.ContainerStatuses {
		if c.RestartCount != 1 {
			t.Errorf("container %s restartCount = %d, want 1 (its sandbox had to be recreated)", c.Name, c.RestartCount)
		}
	}
	if n := len(e.runscList(t)); n != 3 {
		t.Errorf("runsc knows %d containers after the restart, want 3 (pause + 2): the old sandbox must be gone", n)
	}
}

// runscList returns the container IDs in the installation's runsc root.
func (e *env) runscList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(filepath.Join(e.bin, "runsc"), "--root="+filepath.Join(e.runtime, "podbox", "runsc"), "list", "--quiet").Output()
	if err != nil {
		t.Fatalf("runsc list: %v", err)
	}
	return strings.Fields(string(out))
}

// TestAutostartAndMissingRunsc: the first command starts the supervisor;
// without runsc it fails at once saying how to fix it.
func TestAutostartAndMissingRunsc(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, false)
	r := e.run(t, nil, "get", "pods")
	if r.code != 0 || !strings.Contains(r.stderr, "No resources found in default namespace.") {
		t.Fatalf("get pods on a fresh installation: %+v", r)
	}
	if !e.socketExists() {
		t.Fatalf("no supervisor socket after the first command")
	}
	stopAutostarted(t, e)

	lonely, err := newEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lonely.close()
	copyFile(t, filepath.Join(shared.bin, "podbox"), filepath.Join(lonely.bin, "podbox"))
	r = lonely.run(t, nil, "get", "pods")
	if r.code != 1 || !strings.Contains(r.stderr, "runsc not found") || !strings.Contains(r.stderr, "fix: run `make`") {
		t.Errorf("without runsc: %+v", r)
	}

	// A runsc from another gVisor version is refused.
	writeExecutable(t, filepath.Join(lonely.bin, "runsc"), "#!/bin/sh\necho 'runsc version release-20990101.0'\necho 'spec: 1.1.0'\n")
	r = lonely.run(t, nil, "version")
	if r.code != 1 || !strings.Contains(r.stderr, "release-20990101.0") || !strings.Contains(r.stderr, "needs runsc from gVisor") {
		t.Errorf("version with a mismatched runsc: %+v", r)
	}
}

func (e *env) socketExists() bool {
	_, err := os.Stat(filepath.Join(e.runtime, "podbox", "podbox.sock"))
	return err == nil
}

// stopAutostarted stops a supervisor a command started in the background.
func stopAutostarted(t *testing.T, e *env) {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !strings.Contains(string(env), "XDG_RUNTIME_DIR="+e.runtime+"\x00") {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if strings.HasSuffix(string(cmdline), "daemon\x00") {
			if p, err := os.FindProcess(atoi(d.Name())); err == nil {
				p.Signal(os.Interrupt)
			}
		}
	}
}

// copyFile copies an executable with cp(1). Written from this process, the
// copy could not always be executed: a child forked by a parallel test at
// that moment inherits the open file until it execs, and exec then fails with
// ETXTBSY ("text file busy", golang/go#22315).
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", from, to, err, out)
	}
}

// writeExecutable writes an executable script at path, through copyFile:
// the file this process writes is a temporary one that is never executed.
func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, tmp, path)
}

// TestSupervisorUserNamespace: the supervisor runs as root of a user
// namespace that maps only the user's own IDs: uid 0 is the user, and the
// user's subordinate range follows where /etc/subuid grants one.
func TestSupervisorUserNamespace(t *testing.T) {
	t.Parallel()
	child := childOf(shared.daemon.Process.Pid)
	b, err := os.ReadFile("/proc/" + child + "/uid_map")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if f := strings.Fields(lines[0]); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(os.Getuid()) || f[2] != "1" {
		t.Errorf("first uid_map line %q, want 0 -> uid %d, size 1", lines[0], os.Getuid())
	}
	if uids, _, ok := rootless.SubordinateIDs(); ok {
		want := fmt.Sprintf("1 %d %d", uids.Start, uids.Size)
		if len(lines) != 2 || strings.Join(strings.Fields(lines[1]), " ") != want {
			t.Errorf("uid_map:\n%s\nwant a second line %q from /etc/subuid", b, want)
		}
	} else if len(lines) != 1 {
		t.Errorf("uid_map maps more than the user without subordinate IDs:\n%s", b)
	}
}

// TestRunToCompletion: restartPolicy Never pods end Succeeded or Failed with
// the containers' exit codes and reasons, and `logs -f` follows a container
// until it exits.
func TestRunToCompletion(t *testing.T) {
	t.Parallel()
	e := shared
	manifest := func(name, script string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: job
    image: %s
    command: ["sh", "-c", %q]
`, name, busyboxRef, script)
	}
	e.apply(t, manifest("job-ok", "echo one; sleep 2; echo two"))
	e.apply(t, manifest("job-fail", "echo failing >&2; exit 3"))

	e.waitFor(t, "job-ok", 60*time.Second, "started", func(p *corev1.Pod) bool {
		return p.Status.ContainerStatuses[0].State.Waiting == nil
	})
	r := e.run(t, nil, "logs", "-f", "job-ok")
	if r.code != 0 || r.stdout != "one\ntwo\n" {
		t.Errorf("logs -f: %+v", r)
	}
	ok := e.waitFor(t, "job-ok", 30*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if term := ok.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
		t.Errorf("job-ok container state: %+v", ok.Status.ContainerStatuses[0].State)
	}
	fail := e.waitFor(t, "job-fail", 60*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if term := fail.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
		t.Errorf("job-fail container state: %+v", fail.Status.ContainerStatuses[0].State)
	}
	table := e.ok(t, "get", "pods", "job-ok", "job-fail")
	if !regexpMatch(`(?m)^job-ok\s+0/1\s+Completed\s+0\s`, table) || !regexpMatch(`(?m)^job-fail\s+0/1\s+Error\s+0\s`, table) {
		t.Errorf("get pods:\n%s", table)
	}
	if logs := e.ok(t, "logs", "job-fail"); logs != "failing\n" {
		t.Errorf("logs of the exited container: %q", logs)
	}
	e.ok(t, "delete", "pod", "job-ok", "job-fail")
}

// TestCrashLoopBackOff: a container that keeps failing is restarted at once,
// then after 10 s, then after 20 s, showing CrashLoopBackOff with its last
// run as lastState in between (real time; the full back-off schedule is unit
// tested on a fake clock).
func TestCrashLoopBackOff(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %s
    command: ["sh", "-c", "echo run $(date +%%s); sleep 1; exit 2"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "crasher", "--grace-period=1")

	// The delay before each restart: the gap between the end of one run and
	// the start of the next. Each run lasts a second, so every run is seen
	// as lastState while the next one runs. Timestamps have one-second
	// resolution.
	// Runs are told apart by their container IDs ("...-app.<attempt in hex>").
	type run struct{ started, finished time.Time }
	runs := map[string]run{}
	record := func(term *corev1.ContainerStateTerminated) {
		if term == nil {
			return
		}
		if term.ExitCode != 2 || term.Reason != "Error" {
			t.Fatalf("a run ended %+v, want exit code 2, reason Error", term)
		}
		n, _ := strconv.ParseInt(term.ContainerID[strings.LastIndexAny(term.ContainerID, "-.")+1:], 16, 32)
		attempt := strconv.Itoa(int(n))
		runs[attempt] = run{term.StartedAt.Time, term.FinishedAt.Time}
	}
	var sawBackOff, sawTable bool
	deadline := time.Now().Add(90 * time.Second)
	for len(runs) < 4 && time.Now().Before(deadline) {
		p := e.getPod(t, "crasher")
		cs := p.Status.ContainerStatuses[0]
		record(cs.State.Terminated)
		record(cs.LastTerminationState.Terminated)
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			sawBackOff = true
			if !regexpMatch(`^back-off (10|20|40)s restarting failed container=app pod=crasher_default\(`, w.Message) {
				t.Errorf("CrashLoopBackOff message %q", w.Message)
			}
			if p.Status.Phase != corev1.PodRunning {
				t.Errorf("phase %s during CrashLoopBackOff, want Running", p.Status.Phase)
			}
			// The table is fetched separately, so the back-off may have
			// ended in between; it must show CrashLoopBackOff at least once.
			if table := e.ok(t, "get", "pod", "crasher"); regexpMatch(`crasher\s+0/1\s+CrashLoopBackOff\s+\d+ \(\d+s ago\)`, table) {
				sawTable = true
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(runs) < 4 || !sawBackOff {
		t.Fatalf("saw runs %v and back-off %v within 90s", runs, sawBackOff)
	}
	if !sawTable {
		t.Errorf("get pod never showed CrashLoopBackOff with RESTARTS \"N (Ms ago)\"")
	}
	for i, want := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
		gap := runs[strconv.Itoa(i+1)].started.Sub(runs[strconv.Itoa(i)].finished)
		if gap < want-time.Second || gap > want+4*time.Second {
			t.Errorf("restart %d came %s after run %d ended, want about %s", i+1, gap, i, want)
		}
	}
	if prev := e.ok(t, "logs", "crasher", "--previous"); !strings.HasPrefix(prev, "run ") {
		t.Errorf("logs --previous: %q", prev)
	}
}

// TestInitContainersAndSidecar: init containers run in order to completion
// before the app starts; a native sidecar starts before the next init
// container and keeps running beside the app; under restartPolicy Never a
// failing init container fails the pod and the app never starts.
func TestInitContainersAndSidecar(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: init-order
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: first
    image: %[1]s
    command: ["sh", "-c", "echo first ran; sleep 2"]
  - name: proxy
    image: %[1]s
    restartPolicy: Always
    command: ["sh", "-c", "trap 'exit 0' TERM; echo proxy up; while true; do sleep 0.2; done"]
  - name: second
    image: %[1]s
    command: ["sh", "-c", "echo second ran"]
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c", "trap 'exit 0' TERM; echo app up; while true; do sleep 0.2; done"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "init-order", "--grace-period=1")

	e.waitFor(t, "init-order", 60*time.Second, "initializing", func(p *corev1.Pod) bool {
		st := p.Status.InitContainerStatuses
		return len(st) == 3 && st[0].State.Running != nil
	})
	if table := e.ok(t, "get", "pod", "init-order"); !regexpMatch(`init-order\s+0/\d\s+Init:0/3\s`, table) {
		t.Errorf("get pod while the first init container runs:\n%s", table)
	}
	p := e.waitFor(t, "init-order", 60*time.Second, "Running", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	ist := p.Status.InitContainerStatuses
	if ist[0].State.Terminated == nil || ist[0].State.Terminated.Reason != "Completed" || !ist[0].Ready {
		t.Errorf("first init container: %+v", ist[0])
	}
	if ist[1].State.Running == nil || !ist[1].Ready {
		t.Errorf("sidecar: %+v", ist[1])
	}
	if ist[2].State.Terminated == nil || ist[2].State.Terminated.ExitCode != 0 {
		t.Errorf("second init container: %+v", ist[2])
	}
	// Order: first finished before the sidecar started, which started before second.
	if !ist[0].State.Terminated.FinishedAt.Time.After(ist[0].State.Terminated.StartedAt.Time) ||
		ist[1].State.Running.StartedAt.Time.Before(ist[0].State.Terminated.FinishedAt.Time) ||
		ist[2].State.Terminated.StartedAt.Time.Before(ist[1].State.Running.StartedAt.Time) {
		t.Errorf("init containers did not run in order: %+v", ist)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodInitialized && c.Status != corev1.ConditionTrue {
			t.Errorf("Initialized = %s (%s)", c.Status, c.Message)
		}
	}
	if got := e.ok(t, "logs", "init-order", "-c", "first"); got != "first ran\n" {
		t.Errorf("logs of the first init container: %q", got)
	}
	var sawInitEvent bool
	for _, ev := range e.events(t, p.UID) {
		if ev.Reason == "Started" && ev.InvolvedObject.FieldPath == "spec.initContainers{first}" {
			sawInitEvent = true
		}
	}
	if !sawInitEvent {
		t.Errorf("no Started event for spec.initContainers{first}")
	}

	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: init-fails
spec:
  restartPolicy: Never
  initContainers:
  - name: check
    image: %[1]s
    command: ["sh", "-c", "echo precondition missing; exit 4"]
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c", "echo must not run"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "init-fails")
	f := e.waitFor(t, "init-fails", 60*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if w := f.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "PodInitializing" {
		t.Errorf("the app container of a pod whose init failed: %+v", f.Status.ContainerStatuses[0].State)
	}
	if table := e.ok(t, "get", "pod", "init-fails"); !regexpMatch(`init-fails\s+0/1\s+Init:ExitCode:4\s|init-fails\s+0/1\s+Init:Error\s`, table) {
		t.Errorf("get pod of a failed init:\n%s", table)
	}
}

// TestSupervisorCrash: a supervisor killed with SIGKILL is replaced by the
// namespace holder; the new one adopts the running sandbox without
// restarting any container, records the exit that happened meanwhile, and
// no log line is lost.
func TestSupervisorCrash(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, true)
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: steady
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: counter
    image: %[1]s
    command: ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done"]
  - name: quitter
    image: %[1]s
    command: ["sh", "-c", "sleep 3; exit 5"]
`, busyboxRef))
	before := e.waitFor(t, "steady", 60*time.Second, "Running", running)
	holder := childOf(e.daemon.Process.Pid)
	sup := childOf(atoi(holder))
	if sup == "" {
		t.Fatalf("no supervisor process under the holder %s", holder)
	}
	sentries := sentryProcesses(sandboxOf(t, before))
	if err := syscall.Kill(atoi(sup), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // the quitter exits while no supervisor runs

	after := e.waitFor(t, "steady", 60*time.Second, "quitter's exit recorded", func(p *corev1.Pod) bool {
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "quitter" && c.State.Terminated != nil {
				return true
			}
		}
		return false
	})
	if childOf(atoi(holder)) == sup {
		t.Fatalf("the supervisor was not replaced")
	}
	for i, c := range after.Status.ContainerStatuses {
		prev := before.Status.ContainerStatuses[i]
		if c.RestartCount != 0 || c.ContainerID != prev.ContainerID {
			t.Errorf("container %s was restarted: restartCount %d, ID %s -> %s", c.Name, c.RestartCount, prev.ContainerID, c.ContainerID)
		}
		switch c.Name {
		case "counter":
			if c.State.Running == nil {
				t.Errorf("counter is not running after the adoption: %+v", c.State)
			}
		case "quitter":
			if c.State.Terminated.ExitCode != 5 {
				t.Errorf("quitter's exit code %d, want 5", c.State.Terminated.ExitCode)
			}
		}
	}
	if now := sentryProcesses(sandboxOf(t, after)); len(sentries) != 1 || strings.Join(now, "\n") != strings.Join(sentries, "\n") {
		t.Errorf("the sandbox was replaced:\nbefore %v\nafter %v", sentries, now)
	}
	// The counter writes about 8 lines a second; 4 s passed without a
	// supervisor.
	logs := strings.Fields(e.ok(t, "logs", "steady", "-c", "counter"))
	if len(logs) < 20 {
		t.Fatalf("counter logged only %d lines", len(logs))
	}
	for i, l := range logs {
		if l != strconv.Itoa(i) {
			t.Fatalf("counter's log has a gap at line %d: %q (lines written while no supervisor ran were lost)", i, l)
		}
	}
}

// sentryProcesses returns "pid cmdline" of the sandbox's runsc-sandbox
// (sentry) processes.
func sentryProcesses(sandboxID string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.HasPrefix(cmd, "runsc-sandbox ") && strings.Contains(cmd, sandboxID) {
			out = append(out, d.Name()+" "+cmd)
		}
	}
	return out
}

// TestLogsFollowAcrossRestarts: `logs -f` goes on with the next instance of
// a restarted container.
func TestLogsFollowAcrossRestarts(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: follower
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "echo run; sleep 1; exit 0"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "follower", "--grace-period=1")
	e.waitFor(t, "follower", 60*time.Second, "started", func(p *corev1.Pod) bool {
		return p.Status.ContainerStatuses[0].State.Running != nil
	})
	cmd := exec.Command(filepath.Join(e.bin, "podbox"), "logs", "-f", "follower")
	cmd.Env = e.environ()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	runs := 0
	timeout := time.After(30 * time.Second)
	for runs < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("logs -f ended after %d runs; it must follow the restarted container", runs)
			}
			if l == "run" {
				runs++
			}
		case <-timeout:
			t.Fatalf("logs -f showed %d runs in 30 s, want 2", runs)
		}
	}
}
