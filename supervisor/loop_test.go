package supervisor

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"podbox.dev/podbox/cri/fake"
)

// These tests drive the pod's loop (loop.go) through the fake runtime on a
// fake clock: what the kubelet does with init containers, sidecars, probes,
// hooks, grace periods, the active deadline and a crashed supervisor, in
// milliseconds of test time.

func webPod(spec corev1.PodSpec) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: spec}
}

func ctr(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Command: []string{"sleep", "1d"}}
}

// starts returns the StartContainer calls, in order.
func starts(rt *fake.Runtime) []string {
	var out []string
	for _, c := range rt.Calls() {
		if s, ok := strings.CutPrefix(c, "StartContainer "); ok {
			out = append(out, s)
		}
	}
	return out
}

// stepUntil steps the fake clock by d until the runtime has seen call.
func stepUntil(t *testing.T, fc *testingclock.FakeClock, rt *fake.Runtime, d time.Duration, call string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if slices.ContainsFunc(rt.Calls(), func(c string) bool { return strings.HasPrefix(c, call) }) {
			return
		}
		fc.Step(d)
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("never saw %q; calls: %q", call, rt.Calls())
}

func containerStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

// TestInitContainersAndSidecarOnFake: regular init containers run one at a
// time to completion (a failed one restarted, at once the first time); a
// sidecar only has to start before the next one runs; app containers start
// last.
func TestInitContainersAndSidecarOnFake(t *testing.T) {
	s, rt, _ := newFakeSupervisor(t)
	side := ctr("side")
	always := corev1.ContainerRestartPolicyAlways
	side.RestartPolicy = &always
	spec := corev1.PodSpec{InitContainers: []corev1.Container{ctr("i1"), side, ctr("i2")}, Containers: []corev1.Container{ctr("app")}}
	if _, err := s.Create(webPod(spec)); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer i1 attempt=0")
	time.Sleep(20 * time.Millisecond)
	if got := starts(rt); len(got) != 1 {
		t.Fatalf("started while i1 runs: %q", got)
	}
	rt.ExitByName("i1", 0)
	await(t, rt, "StartContainer i2 attempt=0")
	rt.ExitByName("i2", 1) // restarted at once, the first time
	await(t, rt, "StartContainer i2 attempt=1")
	eventually(t, s, "Init:1/3 with i2 running again", func(p *corev1.Pod) bool {
		return containerStatus(p, "i2").State.Running != nil && containerStatus(p, "i2").RestartCount == 1 && p.Status.Phase == corev1.PodPending
	})
	rt.ExitByName("i2", 0)
	await(t, rt, "StartContainer app attempt=0")
	want := []string{"i1 attempt=0", "side attempt=0", "i2 attempt=0", "i2 attempt=1", "app attempt=0"}
	if got := starts(rt); !slices.Equal(got, want) {
		t.Errorf("starts = %q, want %q", got, want)
	}
	eventually(t, s, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	// The sidecar restarts whenever it exits, beside the app.
	rt.ExitByName("side", 0)
	await(t, rt, "StartContainer side attempt=1")
}

// TestInitFailureNeverFailsPod: under restartPolicy Never a failed init
// container fails the pod and its sandbox is stopped; the app never starts.
func TestInitFailureNeverFailsPod(t *testing.T) {
	s, rt, _ := newFakeSupervisor(t)
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, InitContainers: []corev1.Container{ctr("i1")}, Containers: []corev1.Container{ctr("app")}}
	if _, err := s.Create(webPod(spec)); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer i1 attempt=0")
	rt.ExitByName("i1", 3)
	await(t, rt, "StopPodSandbox")
	eventually(t, s, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if got := starts(rt); len(got) != 1 {
		t.Errorf("starts = %q, want only i1", got)
	}
}

// TestLivenessFailureRestarts: a failing exec liveness probe kills the
// instance with its stop signal (Killing event), and the restart policy
// restarts it.
func TestLivenessFailureRestarts(t *testing.T) {
	s, rt, fc := newFakeSupervisor(t)
	app := ctr("app")
	app.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds: 1, FailureThreshold: 2, TimeoutSeconds: 1, SuccessThreshold: 1}
	rt.SetExec("app", func([]string) (int, error) { return 1, nil })
	if _, err := s.Create(webPod(corev1.PodSpec{Containers: []corev1.Container{app}})); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer app attempt=0")
	stepUntil(t, fc, rt, time.Second, "StopContainer app attempt=0 signal=TERM")
	await(t, rt, "StartContainer app attempt=1")
	var killing bool
	for _, e := range s.Events("default") {
		killing = killing || e.Reason == "Killing" && strings.Contains(e.Message, "failed liveness probe, will be restarted")
	}
	if !killing {
		t.Errorf("no Killing event for the liveness failure: %+v", s.Events("default"))
	}
}

// TestDeletionGraceAndPreStop: deletion runs the preStop hook, sends the
// stop signal, and SIGKILLs a container that ignores it only when the grace
// period has passed on the clock; then the sandbox is stopped and removed
// and the pod is gone.
func TestDeletionGraceAndPreStop(t *testing.T) {
	s, rt, fc := newFakeSupervisor(t)
	app := ctr("app")
	app.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}}
	rt.IgnoreStop("app")
	if _, err := s.Create(webPod(corev1.PodSpec{Containers: []corev1.Container{app}})); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer app attempt=0")
	eventually(t, s, "running", func(p *corev1.Pod) bool { return containerStatus(p, "app").State.Running != nil })
	grace := int64(20)
	if _, err := s.Delete("default", "web", &grace); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "Exec app attempt=0 [drain]")
	await(t, rt, "StopContainer app attempt=0 signal=TERM")
	// The clock moves a second at a time until SIGKILL comes: never before
	// the 20 s since the deletion.
	deleted := fc.Now()
	killed := func() bool {
		return slices.ContainsFunc(rt.Calls(), func(c string) bool { return strings.HasPrefix(c, "KillContainer app attempt=0") })
	}
	for wall := time.Now(); !killed(); {
		if fc.Since(deleted) >= 30*time.Second || time.Since(wall) > 5*time.Second {
			t.Fatalf("no SIGKILL after the grace period: %q", rt.Calls())
		}
		fc.Step(time.Second)
		time.Sleep(5 * time.Millisecond)
		if killed() && fc.Since(deleted) < 20*time.Second {
			t.Fatalf("SIGKILL %s after the deletion, before the grace period ended", fc.Since(deleted))
		}
	}
	await(t, rt, "RemovePodSandbox")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := s.Get("default", "web"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pod is still there after its teardown")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestActiveDeadlineOnFake: once activeDeadlineSeconds have passed the pod
// fails with DeadlineExceeded, its containers stopped and its sandbox gone.
func TestActiveDeadlineOnFake(t *testing.T) {
	s, rt, fc := newFakeSupervisor(t)
	d := int64(30)
	if _, err := s.Create(webPod(corev1.PodSpec{ActiveDeadlineSeconds: &d, Containers: []corev1.Container{ctr("app")}})); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer app attempt=0")
	stepUntil(t, fc, rt, 10*time.Second, "StopContainer app attempt=0 signal=TERM")
	await(t, rt, "StopPodSandbox")
	eventually(t, s, "DeadlineExceeded", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "DeadlineExceeded"
	})
	if got := starts(rt); len(got) != 1 {
		t.Errorf("restarted after the deadline: %q", got)
	}
}

// TestAdoptionKeepsBackOff: a supervisor that replaces a crashed one adopts
// the running instance, and the crash loop back-off in force goes on from
// the record: the next crash waits 10 s instead of restarting at once.
func TestAdoptionKeepsBackOff(t *testing.T) {
	s, rt, fc := newFakeSupervisor(t)
	if _, err := s.Create(webPod(corev1.PodSpec{Containers: []corev1.Container{ctr("app")}})); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer app attempt=0")
	rt.ExitByName("app", 1)
	await(t, rt, "StartContainer app attempt=1") // at once; the back-off is now 10 s
	eventually(t, s, "running again", func(p *corev1.Pod) bool { return containerStatus(p, "app").State.Running != nil })

	// The supervisor crashes (nothing is stopped); a new one adopts.
	sandboxID := strings.SplitN(strings.TrimPrefix(containerStatus(mustGet(t, s), "app").ContainerID, "gvisor://"), "-", 2)[0]
	rt2 := fake.New()
	rt2.SetRunning(sandboxID)
	s2, err := New(context.Background(), Options{Dirs: s.opts.Dirs, Runtime: rt2, Images: s.opts.Images, Clock: fc, Log: s.opts.Log, Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Shutdown)
	await(t, rt2, "AdoptContainer app attempt=1")
	rt2.ExitByName("app", 1)
	eventually(t, s2, "CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := containerStatus(p, "app").State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff" && strings.HasPrefix(w.Message, "back-off 10s ")
	})
	if got := starts(rt2); len(got) != 0 {
		t.Fatalf("restarted at once after adoption: %q", got)
	}
	stepUntil(t, fc, rt2, time.Second, "StartContainer app attempt=2")
}

func mustGet(t *testing.T, s *Supervisor) *corev1.Pod {
	t.Helper()
	p, err := s.Get("default", "web")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStatusQOSClassCountsInitContainers: the pod's QoS class as the API
// serves it counts init containers, as the kubelet's does (an app
// container with requests equal to limits beside an init container without
// any is Burstable, not Guaranteed).
func TestStatusQOSClassCountsInitContainers(t *testing.T) {
	s, _, _ := newFakeSupervisor(t)
	app := ctr("app")
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	app.Resources = corev1.ResourceRequirements{Requests: rl, Limits: rl}
	if _, err := s.Create(webPod(corev1.PodSpec{InitContainers: []corev1.Container{ctr("init")}, Containers: []corev1.Container{app}})); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s).Status.QOSClass; got != corev1.PodQOSBurstable {
		t.Errorf("status.qosClass = %s, want Burstable", got)
	}
}
