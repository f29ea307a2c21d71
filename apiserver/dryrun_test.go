package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The writes of the fake supervisor, recorded: a dry run must reach only
// the DryRun ones.

func (f *fakePods) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakePods) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakePods) Create(p *corev1.Pod) (*corev1.Pod, error) {
	f.record("Create " + p.Name)
	return p, nil
}

func (f *fakePods) DryRunCreate(p *corev1.Pod) (*corev1.Pod, error) {
	f.record("DryRunCreate " + p.Name)
	p = p.DeepCopy()
	p.UID = "new-uid"
	return p, nil
}

func (f *fakePods) Delete(ns, name string, grace *int64) (*corev1.Pod, error) {
	f.record("Delete " + name)
	return f.Get(ns, name)
}

func (f *fakePods) DryRunDelete(ns, name string, grace *int64) (*corev1.Pod, error) {
	p, err := f.Get(ns, name)
	if err != nil {
		return nil, err
	}
	f.record("DryRunDelete " + name)
	now := metav1.Now()
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, grace
	return p, nil
}

func (f *fakePods) GetClaim(ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: "claim-uid"}}, nil
}

func (f *fakePods) DeleteClaim(ns, name string) error {
	f.record("DeleteClaim " + name)
	return nil
}

func (f *fakePods) DryRunDeleteClaim(ns, name string) error {
	f.record("DryRunDeleteClaim " + name)
	return nil
}

// fullClient serves New(f) over HTTP for client-go.
func fullClient(t *testing.T, f *fakePods) (kubernetes.Interface, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(New(f, Version{}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	return cs, srv
}

var dryRun = []string{metav1.DryRunAll}

// TestDryRunPods: with dryRun=All, pod create and delete go to the
// supervisor's dry-run forms and a patch answers the patched pod without
// storing it; without, to the real ones.
func TestDryRunPods(t *testing.T) {
	f := newFakePods(testPod("default", "web", corev1.PodRunning, map[string]string{"app": "web"}))
	cs, _ := fullClient(t, f)
	pods := cs.CoreV1().Pods("default")
	ctx := t.Context()

	created, err := pods.Create(ctx, testPod("default", "new", "", nil), metav1.CreateOptions{DryRun: dryRun})
	if err != nil || created.UID != "new-uid" {
		t.Fatalf("dry-run create: %v %+v", err, created)
	}
	grace := int64(3)
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{DryRun: dryRun, GracePeriodSeconds: &grace}); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	patched, err := pods.Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"front"}}}`), metav1.PatchOptions{DryRun: dryRun})
	if err != nil || patched.Labels["tier"] != "front" || patched.Labels["app"] != "web" {
		t.Fatalf("dry-run patch: %v %v", err, patched.Labels)
	}
	if got, _ := f.Get("default", "web"); len(got.Labels) != 1 {
		t.Errorf("the dry-run patch was stored: %v", got.Labels)
	}
	// A dry-run patch is refused as the real one would be.
	_, err = pods.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"nodeName":"x"}}`), metav1.PatchOptions{DryRun: dryRun})
	if !apierrors.IsInvalid(err) {
		t.Errorf("dry-run patch of the spec: %v", err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{DryRun: dryRun}); err != nil {
		t.Fatalf("dry-run claim delete: %v", err)
	}
	if got, want := f.recorded(), []string{"DryRunCreate new", "DryRunDelete web", "DryRunDeleteClaim data"}; !slices.Equal(got, want) {
		t.Errorf("supervisor calls %q, want %q", got, want)
	}

	if _, err := pods.Create(ctx, testPod("default", "new", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := f.recorded(); !slices.Equal(got[3:], []string{"Create new", "Delete web"}) {
		t.Errorf("supervisor calls %q", got)
	}
}

// TestDryRunObjects: ConfigMap and Secret writes with dryRun=All answer as
// the write would and leave the store as it was.
func TestDryRunObjects(t *testing.T) {
	ctx := context.Background()
	cs := objectClient(t)
	cms := cs.CoreV1().ConfigMaps("default")

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Data: map[string]string{"k": "v"}}
	got, err := cms.Create(ctx, cm, metav1.CreateOptions{DryRun: dryRun})
	if err != nil || got.UID == "" || got.ResourceVersion != "" || got.Data["k"] != "v" {
		t.Fatalf("dry-run create: %v %+v", err, got)
	}
	if _, err := cms.Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the dry-run create was stored: %v", err)
	}
	bad := cm.DeepCopy()
	bad.Data["a b"] = "x"
	if _, err := cms.Create(ctx, bad, metav1.CreateOptions{DryRun: dryRun}); !apierrors.IsInvalid(err) {
		t.Errorf("invalid dry-run create: %v", err)
	}

	stored, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{DryRun: dryRun}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("dry-run create of an existing one: %v", err)
	}
	upd := stored.DeepCopy()
	upd.Data["k"] = "v2"
	got, err = cms.Update(ctx, upd, metav1.UpdateOptions{DryRun: dryRun})
	if err != nil || got.Data["k"] != "v2" || got.ResourceVersion != stored.ResourceVersion || got.UID != stored.UID {
		t.Fatalf("dry-run update: %v %+v", err, got)
	}
	stale := upd.DeepCopy()
	stale.ResourceVersion = "1"
	if _, err := cms.Update(ctx, stale, metav1.UpdateOptions{DryRun: dryRun}); !apierrors.IsConflict(err) {
		t.Errorf("stale dry-run update: %v", err)
	}
	if err := cms.Delete(ctx, "app", metav1.DeleteOptions{DryRun: dryRun}); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	if err := cms.Delete(ctx, "nope", metav1.DeleteOptions{DryRun: dryRun}); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run delete of a missing one: %v", err)
	}
	now, err := cms.Get(ctx, "app", metav1.GetOptions{})
	if err != nil || now.Data["k"] != "v" || now.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("after dry runs: %v %+v", err, now)
	}

	secrets := cs.CoreV1().Secrets("default")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "x"}}
	got2, err := secrets.Create(ctx, sec, metav1.CreateOptions{DryRun: dryRun})
	if err != nil || string(got2.Data["password"]) != "x" || got2.Type != corev1.SecretTypeOpaque {
		t.Fatalf("dry-run secret create: %v %+v", err, got2)
	}
	if list, _ := secrets.List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("the dry-run secret was stored")
	}
}

// TestDryRunUnknownValue: a dryRun value other than All is the API
// server's 422 naming the options kind, and nothing is written; so is one
// in a DeleteOptions body or a delete's query.
func TestDryRunUnknownValue(t *testing.T) {
	f := newFakePods(testPod("default", "web", corev1.PodRunning, nil))
	cs, srv := fullClient(t, f)
	ctx := t.Context()
	bogus := []string{"Some"}
	_, err := cs.CoreV1().Pods("default").Create(ctx, testPod("default", "new", "", nil), metav1.CreateOptions{DryRun: bogus})
	const msg = `dryRun: Unsupported value: ["Some"]: supported values: "All"`
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `CreateOptions.meta.k8s.io "" is invalid: `+msg) {
		t.Errorf("create: %v", err)
	}
	_, err = cs.CoreV1().Pods("default").Patch(ctx, "web", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{DryRun: bogus})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "PatchOptions.meta.k8s.io") {
		t.Errorf("patch: %v", err)
	}
	err = cs.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{DryRun: bogus})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "DeleteOptions.meta.k8s.io") {
		t.Errorf("delete: %v", err)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/namespaces/default/pods/web?dryRun=Some", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("delete with dryRun in the query: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/namespaces/default/pods/web?dryRun=All", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := f.recorded(); !slices.Equal(got, []string{"DryRunDelete web"}) {
		t.Errorf("supervisor calls %q", got)
	}
}
