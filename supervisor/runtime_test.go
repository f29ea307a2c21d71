package supervisor

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"podbox.dev/podbox/cri/fake"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/image"
)

// presentImages has every image, unpacked in one empty tree.
type presentImages struct{ rootfs string }

func (p presentImages) Lookup(ref string) (*image.Image, error) { return &image.Image{Ref: ref}, nil }
func (p presentImages) Pull(_ context.Context, ref string, _ ...image.PullOption) (*image.Image, error) {
	return &image.Image{Ref: ref}, nil
}
func (p presentImages) Rootfs(*image.Image) (string, error) { return p.rootfs, nil }
func (p presentImages) Lease(string, ...v1.Hash) error      { return nil }
func (p presentImages) Release(string) error                { return nil }

// newFakeSupervisor is a supervisor on the fake runtime and a fake clock.
func newFakeSupervisor(t *testing.T) (*Supervisor, *fake.Runtime, *testingclock.FakeClock) {
	t.Helper()
	rt := fake.New()
	fc := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := New(context.Background(), Options{
		Dirs:    dirs.Dirs{Runtime: t.TempDir(), Data: t.TempDir()},
		Runtime: rt, Images: presentImages{rootfs: t.TempDir()}, Clock: fc,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Stopped before the temporary directories go: pods' loops write their
	// records until then.
	t.Cleanup(s.Shutdown)
	return s, rt, fc
}

func await(t *testing.T, rt *fake.Runtime, call string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := rt.Await(ctx, call); err != nil {
		t.Fatalf("%v; calls: %q", err, rt.Calls())
	}
}

// eventually polls the pod until ok says yes.
func eventually(t *testing.T, s *Supervisor, what string, ok func(*corev1.Pod) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := s.Get("default", "web")
		if err == nil && ok(p) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never (pod %+v, err %v)", what, p, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCrashLoopOnTheFakeRuntime drives a pod through the seam without
// gVisor: start, a crash restarted at once, a crash restarted after the
// 10 s back-off on the fake clock, then deletion (stop signal, sandbox
// stopped, then removed).
func TestCrashLoopOnTheFakeRuntime(t *testing.T) {
	s, rt, fc := newFakeSupervisor(t)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sleep", "1d"}}}}}
	if _, err := s.Create(p); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer app attempt=0")
	running := func(restarts int32) func(*corev1.Pod) bool {
		return func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Running != nil && cs[0].RestartCount == restarts
		}
	}
	eventually(t, s, "running", running(0))
	if pod, _ := s.Get("default", "web"); pod.Status.PodIP == "" {
		t.Error("no pod IP from the runtime")
	}

	rt.ExitByName("app", 1)
	await(t, rt, "StartContainer app attempt=1") // the first restart is at once
	eventually(t, s, "running again", running(1))

	rt.ExitByName("app", 1)
	eventually(t, s, "CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	if slices.Contains(rt.Calls(), "StartContainer app attempt=2") {
		t.Fatal("restarted before the back-off passed")
	}
	for !fc.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	fc.Step(10 * time.Second)
	await(t, rt, "StartContainer app attempt=2")
	eventually(t, s, "running after the back-off", running(2))

	created, err := s.Get("default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete("default", "web", nil); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "RemovePodSandbox "+sandboxID(created.UID))
	var order []string
	for _, c := range rt.Calls() {
		if strings.HasPrefix(c, "StopContainer") || strings.Contains(c, "PodSandbox") {
			order = append(order, c)
		}
	}
	want := []string{"StopContainer app attempt=2 signal=TERM", "StopPodSandbox", "RemovePodSandbox"}
	if len(order) < 3 || !strings.HasPrefix(order[len(order)-3], want[0]) ||
		!strings.HasPrefix(order[len(order)-2], want[1]) || !strings.HasPrefix(order[len(order)-1], want[2]) {
		t.Errorf("deletion calls %q, want %q", order, want)
	}
}
