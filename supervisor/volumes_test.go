package supervisor

import (
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	testingclock "k8s.io/utils/clock/testing"

	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/volume"
)

// TestPrepareVolumesWaitsForConfigMap: a missing ConfigMap keeps the pod
// Pending in ContainerCreating with FailedMount events, retried with the
// volume manager's back-off (500 ms doubling, on the fake clock), and the
// ConfigMap's creation ends the wait at once.
func TestPrepareVolumesWaitsForConfigMap(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store, err := objects.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Volumes:    []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}}}}},
		Containers: []corev1.Container{{Name: "c", Image: "x"}},
	}}
	pod.Name, pod.Namespace, pod.UID = "p", "default", uuid.NewUUID()
	r := testRunner(t, &flakyImages{clock: fc}, fc, pod)
	d := t.TempDir()
	r.sup.opts.Objects = store
	r.sup.opts.Dirs = dirs.Dirs{Runtime: filepath.Join(d, "run"), Data: filepath.Join(d, "data")}
	r.sup.claims = volume.OpenClaims(r.sup.opts.Dirs.Volumes())
	r.sup.pods[pod.Namespace+"/"+pod.Name] = r
	r.sup.watchObjects()

	done := make(chan error, 1)
	go func() { done <- r.prepareVolumes() }()
	const msg = `MountVolume.SetUp failed for volume "cfg" : configmap "app" not found`
	failures := func() int32 {
		for _, ev := range r.sup.events.list("", "") {
			if ev.Reason == "FailedMount" && ev.Message == msg && ev.Type == corev1.EventTypeWarning {
				return ev.Count
			}
		}
		return 0
	}
	// Three attempts: at once, after 500 ms, after a further second.
	for _, step := range []time.Duration{500 * time.Millisecond, time.Second} {
		for !fc.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		before := failures()
		fc.Step(step - time.Millisecond)
		time.Sleep(10 * time.Millisecond)
		if failures() != before {
			t.Fatalf("retried before the %s back-off had passed", step)
		}
		fc.Step(time.Millisecond)
		for failures() == before {
			time.Sleep(time.Millisecond)
		}
	}
	if n := failures(); n != 3 {
		t.Fatalf("%d FailedMount events, want 3", n)
	}
	obj := r.object()
	if obj.Status.Phase != corev1.PodPending || obj.Status.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" {
		t.Fatalf("status while the ConfigMap is missing: %s %+v", obj.Status.Phase, obj.Status.ContainerStatuses[0].State)
	}
	select {
	case err := <-done:
		t.Fatalf("prepareVolumes returned %v without its ConfigMap", err)
	default:
	}
	if _, err := store.CreateConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"}, Data: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	// No clock step: the store's notification wakes the retry.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("creating the ConfigMap did not end the wait")
	}
	if len(r.volumeHints()) != 0 {
		t.Errorf("a configMap volume got mount hints: %v", r.volumeHints())
	}
}
