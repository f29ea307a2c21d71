package supervisor

import (
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func dryRunPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"sleep", "1d"}}}}}
}

// TestDryRunCreate: a dry-run create answers what Create would (the pod
// defaulted, with a uid and its first status) and refuses what it
// would refuse, while nothing happens: no runtime call, no record, no
// event, no new resourceVersion (which a watcher would see).
func TestDryRunCreate(t *testing.T) {
	s, rt, _ := newFakeSupervisor(t)
	rv, calls := s.ResourceVersion(), len(rt.Calls()) // the calls of New
	in := dryRunPod("web")
	got, err := s.DryRunCreate(in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "web" || got.UID == "" || got.ResourceVersion != "" || got.CreationTimestamp.IsZero() {
		t.Errorf("dry-run pod metadata %+v", got.ObjectMeta)
	}
	if got.Spec.RestartPolicy != corev1.RestartPolicyAlways || got.Spec.Containers[0].TerminationMessagePath == "" {
		t.Errorf("not defaulted: %+v", got.Spec)
	}
	if got.Status.Phase != corev1.PodPending || got.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status %+v", got.Status)
	}
	if in.UID != "" || in.Spec.RestartPolicy != "" {
		t.Errorf("the caller's pod was changed: %+v", in.ObjectMeta)
	}
	assertNothingHappened(t, s, rt.Calls()[calls:], rv)

	bad := dryRunPod("web")
	bad.Spec.Containers[0].Name = "Bad_Name"
	if _, err := s.DryRunCreate(bad); !apierrors.IsInvalid(err) {
		t.Errorf("invalid pod: %v", err)
	}
	if _, err := s.Create(dryRunPod("web")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DryRunCreate(dryRunPod("web")); !apierrors.IsAlreadyExists(err) {
		t.Errorf("existing pod: %v", err)
	}
}

func assertNothingHappened(t *testing.T, s *Supervisor, calls []string, rv string) {
	t.Helper()
	if len(calls) > 0 {
		t.Errorf("runtime calls: %q", calls)
	}
	if pods := s.List(""); len(pods) > 0 {
		t.Errorf("pods: %d", len(pods))
	}
	if evs := s.Events(""); len(evs) > 0 {
		t.Errorf("events: %+v", evs)
	}
	if entries, _ := os.ReadDir(s.opts.Dirs.Pods()); len(entries) > 0 {
		t.Errorf("pod files: %v", entries)
	}
	if now := s.ResourceVersion(); now != rv {
		t.Errorf("resourceVersion %s → %s", rv, now)
	}
}

// TestDryRunDelete: a dry-run delete answers the pod as a deletion would
// leave it (deletion timestamp, the grace period in force) and the pod goes
// on untouched.
func TestDryRunDelete(t *testing.T) {
	s, rt, _ := newFakeSupervisor(t)
	if _, err := s.Create(dryRunPod("web")); err != nil {
		t.Fatal(err)
	}
	await(t, rt, "StartContainer app attempt=0")
	eventually(t, s, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	before, _ := s.Get("default", "web")
	calls := len(rt.Calls())

	grace := int64(5)
	got, err := s.DryRunDelete("default", "web", &grace)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 5 {
		t.Errorf("dry-run deletion: timestamp %v grace %v", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
	}
	if got, _ := s.DryRunDelete("default", "web", nil); *got.DeletionGracePeriodSeconds != 30 {
		t.Errorf("default grace %d, want the pod's 30", *got.DeletionGracePeriodSeconds)
	}
	after, _ := s.Get("default", "web")
	if after.DeletionTimestamp != nil || after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the pod changed: %+v", after.ObjectMeta)
	}
	if extra := rt.Calls()[calls:]; len(extra) > 0 {
		t.Errorf("runtime calls: %q", extra)
	}
	if _, err := s.DryRunDelete("default", "nope", nil); !apierrors.IsNotFound(err) {
		t.Errorf("missing pod: %v", err)
	}
}

// TestDryRunDeleteClaim: refused as DeleteClaim refuses (in use, missing),
// and the claim stays.
func TestDryRunDeleteClaim(t *testing.T) {
	s, _, _ := newFakeSupervisor(t)
	for _, name := range []string{"data", "used"} {
		if _, err := s.claims.Ensure("default", name); err != nil {
			t.Fatal(err)
		}
	}
	user := dryRunPod("db")
	user.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "used"}}}}
	if _, err := s.Create(user); err != nil {
		t.Fatal(err)
	}
	if err := s.DryRunDeleteClaim("default", "data"); err != nil {
		t.Errorf("unused claim: %v", err)
	}
	if _, err := s.GetClaim("default", "data"); err != nil {
		t.Errorf("the claim is gone: %v", err)
	}
	if err := s.DryRunDeleteClaim("default", "used"); !apierrors.IsConflict(err) {
		t.Errorf("claim in use: %v", err)
	}
	if err := s.DryRunDeleteClaim("default", "nope"); !apierrors.IsNotFound(err) {
		t.Errorf("missing claim: %v", err)
	}
}
