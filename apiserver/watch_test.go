package apiserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"podbox.dev/podbox/supervisor"
)

// fakePods is an in-memory store of pods; watchers get the events the test
// sends. It serves the pod objects only: the other methods of Supervisor
// are the nil embedded one's, and panic.
type fakePods struct {
	Supervisor
	mu     sync.Mutex
	pods   map[string]*corev1.Pod
	events chan supervisor.WatchEvent
	// watchedFrom is the resourceVersion the last watch asked for, and
	// watchedInitial whether it asked for the initial events.
	watchedFrom    string
	watchedInitial bool
	// calls records the writes asked of it (dryrun_test.go).
	calls []string
}

func newFakePods(pods ...*corev1.Pod) *fakePods {
	f := &fakePods{pods: map[string]*corev1.Pod{}, events: make(chan supervisor.WatchEvent, 16)}
	for _, p := range pods {
		f.pods[p.Namespace+"/"+p.Name] = p
	}
	return f
}

func (f *fakePods) Get(ns, name string) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(podsResource, name)
	}
	return p.DeepCopy(), nil
}

func (f *fakePods) List(ns string) []corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []corev1.Pod
	for _, p := range f.pods {
		if ns == "" || p.Namespace == ns {
			out = append(out, *p.DeepCopy())
		}
	}
	return out
}

func (f *fakePods) ResourceVersion() string { return "42" }

// Watch sends, with initial, its pods as Added (by name) and the bookmark
// that ends them at version 42, as the supervisor does; then the events
// the test sends.
func (f *fakePods) Watch(ctx context.Context, ns, rv string, initial bool) (<-chan supervisor.WatchEvent, error) {
	f.mu.Lock()
	f.watchedFrom, f.watchedInitial = rv, initial
	f.mu.Unlock()
	var first []supervisor.WatchEvent
	if initial {
		for _, p := range sortedPods(f.List(ns)) {
			first = append(first, supervisor.WatchEvent{Type: watch.Added, Pod: &p})
		}
		first = append(first, supervisor.WatchEvent{Type: watch.Bookmark, Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "42"}}})
	}
	out := make(chan supervisor.WatchEvent)
	go func() {
		defer close(out)
		for _, ev := range first {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-f.events:
				if !ok {
					return
				}
				if ns != "" && ev.Type != watch.Bookmark && ev.Pod.Namespace != ns {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (f *fakePods) UpdateMetadata(ns, name string, change func(*corev1.Pod) (*corev1.Pod, error)) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(podsResource, name)
	}
	want, err := change(p.DeepCopy())
	if err != nil {
		return nil, err
	}
	p.Labels, p.Annotations = want.Labels, want.Annotations
	return p.DeepCopy(), nil
}

func testPod(ns, name string, phase corev1.PodPhase, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(name + "-uid"), Labels: labels, ResourceVersion: "1",
			// Sub-second precision, as the supervisor's timestamps have.
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC))},
		Spec:   corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: phase, PodIP: "10.88.0." + string(rune('0'+len(name)))},
	}
}

// serve starts the API over HTTP for client-go.
func serve(t *testing.T, f *fakePods) *kubernetes.Clientset {
	t.Helper()
	srv := httptest.NewServer(New(f, Version{}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func names(pods []corev1.Pod) string {
	var n []string
	for _, p := range pods {
		n = append(n, p.Name)
	}
	return strings.Join(n, ",")
}

func TestListSelectors(t *testing.T) {
	f := newFakePods(
		testPod("default", "web", corev1.PodRunning, map[string]string{"app": "web", "tier": "front"}),
		testPod("default", "db", corev1.PodPending, map[string]string{"app": "db"}),
		testPod("default", "job", corev1.PodSucceeded, nil),
	)
	cs := serve(t, f)
	for _, tc := range []struct{ labels, fields, want string }{
		{"", "", "db,job,web"},
		{"app", "", "db,web"},
		{"!app", "", "job"},
		{"app in (web,db),tier!=front", "", "db"},
		{"app notin (web)", "", "db,job"},
		{"", "status.phase=Running", "web"},
		{"", "status.phase!=Running", "db,job"},
		{"", "metadata.name=db,metadata.namespace=default", "db"},
		{"app", "status.phase==Pending", "db"},
		{"", "spec.restartPolicy=Always", "db,job,web"},
	} {
		list, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: tc.labels, FieldSelector: tc.fields})
		if err != nil {
			t.Fatalf("%q %q: %v", tc.labels, tc.fields, err)
		}
		got := names(sortedPods(list.Items))
		if got != tc.want {
			t.Errorf("labels %q fields %q: got %s, want %s", tc.labels, tc.fields, got, tc.want)
		}
		if list.ResourceVersion != "42" {
			t.Errorf("list resourceVersion %q", list.ResourceVersion)
		}
	}
	_, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{FieldSelector: "spec.containers=x"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: spec.containers") {
		t.Errorf("unsupported field: %v", err)
	}
	_, err = cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app in (web"})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("bad label selector: %v", err)
	}
}

func sortedPods(p []corev1.Pod) []corev1.Pod {
	for i := range p {
		for j := i + 1; j < len(p); j++ {
			if p[j].Name < p[i].Name {
				p[i], p[j] = p[j], p[i]
			}
		}
	}
	return p
}

func TestWatchThroughClientGo(t *testing.T) {
	f := newFakePods()
	cs := serve(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: "7", LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	web := testPod("default", "web", corev1.PodPending, map[string]string{"app": "web"})
	running := web.DeepCopy()
	running.Status.Phase = corev1.PodRunning
	unlabelled := running.DeepCopy()
	unlabelled.Labels = nil
	other := testPod("default", "db", corev1.PodPending, nil)
	elsewhere := testPod("team", "web", corev1.PodPending, map[string]string{"app": "web"})
	for _, ev := range []supervisor.WatchEvent{
		{Type: watch.Added, Pod: web},
		{Type: watch.Added, Pod: other},     // does not match: not shown
		{Type: watch.Added, Pod: elsewhere}, // another namespace
		{Type: watch.Modified, Pod: running, Old: web},
		{Type: watch.Modified, Pod: unlabelled, Old: running}, // stops matching
		{Type: watch.Modified, Pod: running, Old: unlabelled}, // matches again
		{Type: watch.Deleted, Pod: running, Old: running},
	} {
		f.events <- ev
	}
	want := []string{"ADDED web Pending", "MODIFIED web Running", "DELETED web Running", "ADDED web Running", "DELETED web Running"}
	for i, w2 := range want {
		select {
		case ev := <-w.ResultChan():
			p := ev.Object.(*corev1.Pod)
			got := string(ev.Type) + " " + p.Name + " " + string(p.Status.Phase)
			if got != w2 {
				t.Fatalf("event %d: got %q, want %q", i, got, w2)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d: none", i)
		}
	}
	if f.watchedFrom != "7" {
		t.Errorf("watch started from %q, want the client's 7", f.watchedFrom)
	}
}

func TestWatchOnePodByName(t *testing.T) {
	f := newFakePods()
	cs := serve(t, f)
	w, err := cs.CoreV1().Pods("default").Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	f.events <- supervisor.WatchEvent{Type: watch.Added, Pod: testPod("default", "db", corev1.PodPending, nil)}
	f.events <- supervisor.WatchEvent{Type: watch.Added, Pod: testPod("default", "web", corev1.PodPending, nil)}
	select {
	case ev := <-w.ResultChan():
		if p := ev.Object.(*corev1.Pod); p.Name != "web" || ev.Type != watch.Added {
			t.Fatalf("got %s %s", ev.Type, p.Name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
}

// TestWatchLeavesEventsAlone: every watcher of the supervisor gets the same
// pod objects, so a watch must not write into them (it set their kind, a
// data race between two watchers).
func TestWatchLeavesEventsAlone(t *testing.T) {
	f := newFakePods()
	cs := serve(t, f)
	w, err := cs.CoreV1().Pods("default").Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	web := testPod("default", "web", corev1.PodPending, nil)
	f.events <- supervisor.WatchEvent{Type: watch.Added, Pod: web}
	select {
	case ev := <-w.ResultChan():
		if p := ev.Object.(*corev1.Pod); p.Name != "web" {
			t.Fatalf("got %s", p.Name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	if web.APIVersion != "" || web.Kind != "" {
		t.Errorf("the watch changed the event's pod: apiVersion %q kind %q", web.APIVersion, web.Kind)
	}
}

func TestPatchMetadata(t *testing.T) {
	f := newFakePods(testPod("default", "web", corev1.PodRunning, map[string]string{"app": "web", "old": "x"}))
	cs := serve(t, f)
	pods := cs.CoreV1().Pods("default")

	// kubectl label sends a JSON merge patch; null removes a key.
	p, err := pods.Patch(t.Context(), "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"front","old":null}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Labels; len(got) != 2 || got["tier"] != "front" || got["app"] != "web" {
		t.Errorf("labels after merge patch: %v", got)
	}
	// kubectl apply sends a strategic merge patch.
	p, err = pods.Patch(t.Context(), "web", types.StrategicMergePatchType, []byte(`{"metadata":{"annotations":{"note":"hi"}}}`), metav1.PatchOptions{})
	if err != nil || p.Annotations["note"] != "hi" {
		t.Fatalf("strategic merge patch: %v %v", err, p.Annotations)
	}
	p, err = pods.Patch(t.Context(), "web", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/annotations/note"}]`), metav1.PatchOptions{})
	if err != nil || len(p.Annotations) != 0 {
		t.Fatalf("JSON patch: %v %v", err, p.Annotations)
	}
	// Status in a patch of the pod is ignored, as the API server does.
	if _, err = pods.Patch(t.Context(), "web", types.MergePatchType, []byte(`{"status":{"phase":"Failed"}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("a status change must be ignored: %v", err)
	}
	if got, _ := f.Get("default", "web"); got.Status.Phase != corev1.PodRunning {
		t.Errorf("status changed through a patch: %s", got.Status.Phase)
	}

	_, err = pods.Patch(t.Context(), "web", types.StrategicMergePatchType, []byte(`{"spec":{"containers":[{"name":"app","image":"nginx"}]}}`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec: Forbidden: pod updates may not change fields other than") {
		t.Errorf("spec change: %v", err)
	}
	_, err = pods.Patch(t.Context(), "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"bad key!":"x"}}}`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `metadata.labels: Invalid value: "bad key!"`) {
		t.Errorf("invalid label: %v", err)
	}
	_, err = pods.Patch(t.Context(), "web", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"0","labels":{"a":"b"}}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("stale resourceVersion: %v", err)
	}
	_, err = pods.Patch(t.Context(), "nope", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("missing pod: %v", err)
	}
	_, err = pods.Patch(t.Context(), "web", types.ApplyPatchType, []byte(`{}`), metav1.PatchOptions{FieldManager: "x"})
	if !apierrors.IsUnsupportedMediaType(err) {
		t.Errorf("server-side apply: %v", err)
	}
}

func TestDeletePreconditions(t *testing.T) {
	s := &Server{sup: newFakePods(testPod("default", "web", corev1.PodRunning, nil))}
	other, same := types.UID("other"), types.UID("web-uid")
	err := s.checkPreconditions("default", "web", &metav1.Preconditions{UID: &other})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "Precondition failed: UID in precondition: other, UID in object meta: web-uid") {
		t.Errorf("another UID: %v", err)
	}
	if err := s.checkPreconditions("default", "web", &metav1.Preconditions{UID: &same}); err != nil {
		t.Errorf("the same UID: %v", err)
	}
	stale := "0"
	if err := s.checkPreconditions("default", "web", &metav1.Preconditions{ResourceVersion: &stale}); !apierrors.IsConflict(err) {
		t.Errorf("another version: %v", err)
	}
	if err := s.checkPreconditions("default", "gone", &metav1.Preconditions{UID: &same}); !apierrors.IsNotFound(err) {
		t.Errorf("missing pod: %v", err)
	}
}
