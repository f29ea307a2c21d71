package supervisor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/util/flowcontrol"
	testingclock "k8s.io/utils/clock/testing"

	"podbox.dev/podbox/image"
)

// flakyImages fails the first `failures` pulls, recording when each came.
type flakyImages struct {
	clock    *testingclock.FakeClock
	failures int

	mu    sync.Mutex
	pulls []time.Time
}

func (f *flakyImages) Lookup(string) (*image.Image, error) { return nil, image.ErrNotFound }
func (f *flakyImages) Rootfs(*image.Image) (string, error) { return "/rootfs", nil }
func (f *flakyImages) Lease(string, ...v1.Hash) error      { return nil }
func (f *flakyImages) Release(string) error                { return nil }
func (f *flakyImages) Pull(ctx context.Context, ref string, _ ...image.PullOption) (*image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, f.clock.Now())
	if len(f.pulls) <= f.failures {
		return nil, errors.New("registry says no")
	}
	return &image.Image{Ref: ref}, nil
}

func testRunner(t *testing.T, images Images, fc *testingclock.FakeClock, pod *corev1.Pod) *runner {
	t.Helper()
	s := &Supervisor{
		opts:        Options{Images: images, Clock: fc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		pods:        map[string]*runner{},
		events:      newEventLog(fc),
		pullBackoff: flowcontrol.NewFakeBackOff(pullBackoffInitial, pullBackoffMax, fc),
	}
	return newRunner(s, t.TempDir(), newRecord(pod, fc.Now()))
}

// TestImagePullBackOff drives the kubelet's pull back-off on a fake clock:
// ErrImagePull, then ImagePullBackOff, retries after 10, 20, 40 ... s capped
// at 300 s, the pod Pending throughout.
func TestImagePullBackOff(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fc := testingclock.NewFakeClock(start)
	const failures = 7
	images := &flakyImages{clock: fc, failures: failures}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nope:1", ImagePullPolicy: corev1.PullIfNotPresent}}}}
	pod.Name, pod.Namespace, pod.UID = "p", "default", uuid.NewUUID()
	r := testRunner(t, images, fc, pod)

	done := make(chan error, 1)
	go func() { _, err := r.pullWithBackoff(&r.rec.Pod.Spec.Containers[0]); done <- err }()

	seen := map[string]bool{}
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
			if fc.HasWaiters() {
				obj := r.object()
				if obj.Status.Phase != corev1.PodPending {
					t.Fatalf("phase %s while pulling, want Pending", obj.Status.Phase)
				}
				seen[obj.Status.ContainerStatuses[0].State.Waiting.Reason] = true
				fc.Step(time.Second)
			} else {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if !seen["ErrImagePull"] || !seen["ImagePullBackOff"] {
		t.Errorf("waiting reasons seen: %v, want ErrImagePull and ImagePullBackOff", seen)
	}
	// Attempts after each window: 0, +10, +20, +40, +80, +160, +300, +300.
	wantGaps := []time.Duration{10, 20, 40, 80, 160, 300, 300}
	if len(images.pulls) != failures+1 {
		t.Fatalf("%d pulls, want %d", len(images.pulls), failures+1)
	}
	for i, gap := range wantGaps {
		got := images.pulls[i+1].Sub(images.pulls[i])
		if got != gap*time.Second {
			t.Errorf("retry %d came %s after the previous attempt, want %ds", i+1, got, gap)
		}
	}
	reasons := map[string]int{}
	for _, ev := range r.sup.events.list("", "") {
		reasons[ev.Reason+"/"+ev.Message] += int(ev.Count)
	}
	if reasons[`Failed/Error: ErrImagePull`] != failures || reasons[`BackOff/Back-off pulling image "nope:1"`] != failures || reasons[`Pulling/Pulling image "nope:1"`] != failures+1 {
		t.Errorf("events: %v", reasons)
	}
}

func TestPullNeverAndPresent(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Now())
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "local:1", ImagePullPolicy: corev1.PullNever}}}}
	pod.Name, pod.Namespace, pod.UID = "p", "default", uuid.NewUUID()
	r := testRunner(t, &flakyImages{clock: fc}, fc, pod)
	r.cancel() // stop at the first back-off wait
	if _, err := r.pullWithBackoff(&r.rec.Pod.Spec.Containers[0]); err == nil {
		t.Fatal("a missing image with pull policy Never was resolved")
	}
	st := r.object().Status.ContainerStatuses[0].State.Waiting
	if st == nil || st.Reason != "ErrImageNeverPull" || st.Message != `Container image "local:1" is not present with pull policy of Never` {
		t.Errorf("waiting = %+v", st)
	}
}
