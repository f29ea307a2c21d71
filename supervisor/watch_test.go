package supervisor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/watch"
	testingclock "k8s.io/utils/clock/testing"

	"podbox.dev/podbox/pod"
)

// watchSupervisor is a supervisor with no sandboxes: pods are added as bare
// runners whose records the tests change directly.
func watchSupervisor(t *testing.T) *Supervisor {
	t.Helper()
	fc := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return &Supervisor{
		opts:   Options{Clock: fc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		pods:   map[string]*runner{},
		events: newEventLog(fc),
	}
}

func addPod(t *testing.T, s *Supervisor, ns, name string) *runner {
	t.Helper()
	p := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	p.Name, p.Namespace, p.UID = name, ns, uuid.NewUUID()
	r := newRunner(s, t.TempDir(), newRecord(p, s.opts.Clock.Now()))
	s.mu.Lock()
	s.pods[pod.Key(ns, name)] = r
	s.mu.Unlock()
	if err := r.save(); err != nil {
		t.Fatal(err)
	}
	return r
}

type seenEvent struct {
	typ  watch.EventType
	name string
	rv   uint64
}

func next(t *testing.T, ch <-chan WatchEvent) seenEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch ended")
		}
		return seenEvent{ev.Type, ev.Pod.Name, rvOf(ev.Pod)}
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event")
	}
	return seenEvent{}
}

func noMore(t *testing.T, ch <-chan WatchEvent) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %s %s", ev.Type, ev.Pod.Name)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestWatchFromNow(t *testing.T) {
	s := watchSupervisor(t)
	web := addPod(t, s, "default", "web")
	addPod(t, s, "other", "api")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := s.Watch(ctx, "default", "", true)
	if err != nil {
		t.Fatal(err)
	}
	// The existing pod of the namespace, the end of the initial events at
	// the version they are consistent with, then the changes.
	if ev := next(t, ch); ev.typ != watch.Added || ev.name != "web" || ev.rv != 1 {
		t.Fatalf("first event %+v", ev)
	}
	if ev := next(t, ch); ev != (seenEvent{watch.Bookmark, "", 2}) {
		t.Fatalf("after the initial events: %+v", ev)
	}
	web.update(func(rec *podRecord) { rec.SandboxReady = true })
	if ev := next(t, ch); ev.typ != watch.Modified || ev.name != "web" || ev.rv != 3 {
		t.Fatalf("after update: %+v", ev)
	}
	// An update that changes nothing visible is not announced.
	web.update(func(rec *podRecord) {})
	noMore(t, ch)

	// Metadata updates bump the version; no-op ones do not.
	p, err := s.UpdateMetadata("default", "web", func(p *corev1.Pod) (*corev1.Pod, error) {
		p.Labels = map[string]string{"app": "web"}
		return p, nil
	})
	if err != nil || p.Labels["app"] != "web" || p.ResourceVersion != "4" {
		t.Fatalf("UpdateMetadata: %v %v %s", err, p.Labels, p.ResourceVersion)
	}
	if ev := next(t, ch); ev.typ != watch.Modified || ev.rv != 4 {
		t.Fatalf("after label: %+v", ev)
	}
	p, _ = s.UpdateMetadata("default", "web", func(p *corev1.Pod) (*corev1.Pod, error) { return p, nil })
	if p.ResourceVersion != "4" {
		t.Errorf("a no-op update moved the version to %s", p.ResourceVersion)
	}
	refused := apierrors.NewForbidden(podsResource, "web", errors.New("no"))
	if _, err := s.UpdateMetadata("default", "web", func(*corev1.Pod) (*corev1.Pod, error) { return nil, refused }); err != refused {
		t.Errorf("the change's error was not returned: %v", err)
	}

	// Forgetting announces the deletion once; later updates are silent.
	s.forget(web)
	if ev := next(t, ch); ev.typ != watch.Deleted || ev.name != "web" || ev.rv != 5 {
		t.Fatalf("after forget: %+v", ev)
	}
	web.update(func(rec *podRecord) { rec.TornDown = true })
	noMore(t, ch)

	cancel()
	for range ch {
	}
}

func TestWatchFromVersion(t *testing.T) {
	s := watchSupervisor(t)
	a := addPod(t, s, "default", "a") // rv 1
	rv := s.ResourceVersion()
	addPod(t, s, "default", "b")                               // rv 2
	a.update(func(rec *podRecord) { rec.SandboxReady = true }) // rv 3

	ch, err := s.Watch(t.Context(), "", rv, false)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the changes after the version, replayed in order.
	if ev := next(t, ch); ev != (seenEvent{watch.Added, "b", 2}) {
		t.Fatalf("got %+v", ev)
	}
	if ev := next(t, ch); ev != (seenEvent{watch.Modified, "a", 3}) {
		t.Fatalf("got %+v", ev)
	}
	noMore(t, ch)

	if _, err := s.Watch(t.Context(), "", "x", false); !apierrors.IsBadRequest(err) {
		t.Errorf("bad version: %v", err)
	}
}

func TestWatchTooOld(t *testing.T) {
	s := watchSupervisor(t)
	r := addPod(t, s, "default", "a")
	for i := range historySize + 5 {
		r.update(func(rec *podRecord) { rec.Message = string(rune('a'+i%26)) + time.Duration(i).String() })
	}
	_, err := s.Watch(t.Context(), "", "1", false)
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from an evicted version: %v", err)
	}
	if _, err := s.Watch(t.Context(), "", s.ResourceVersion(), false); err != nil {
		t.Fatalf("watch from now: %v", err)
	}
}

// TestWatchInitialEvents: with initial events, every pod as Added then the
// bookmark that ends them, whatever version the client knew (a lower
// bound), then the changes.
func TestWatchInitialEvents(t *testing.T) {
	s := watchSupervisor(t)
	a := addPod(t, s, "default", "a") // rv 1
	addPod(t, s, "default", "b")      // rv 2
	for _, rv := range []string{"", "0", "1", "2"} {
		ch, err := s.Watch(t.Context(), "default", rv, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []seenEvent{{watch.Added, "a", 1}, {watch.Added, "b", 2}, {watch.Bookmark, "", 2}} {
			if ev := next(t, ch); ev != want {
				t.Fatalf("from %q: %+v, want %+v", rv, ev, want)
			}
		}
		noMore(t, ch)
	}
	ch, err := s.Watch(t.Context(), "default", "", true)
	if err != nil {
		t.Fatal(err)
	}
	a.update(func(rec *podRecord) { rec.SandboxReady = true }) // rv 3
	for _, want := range []seenEvent{{watch.Added, "a", 1}, {watch.Added, "b", 2}, {watch.Bookmark, "", 2}, {watch.Modified, "a", 3}} {
		if ev := next(t, ch); ev != want {
			t.Fatalf("%+v, want %+v", ev, want)
		}
	}
	noMore(t, ch)
}

// TestWatchWithoutInitialEvents: without initial events, a watch from ""
// or "0" starts now.
func TestWatchWithoutInitialEvents(t *testing.T) {
	s := watchSupervisor(t)
	a := addPod(t, s, "default", "a")
	for _, rv := range []string{"", "0"} {
		ch, err := s.Watch(t.Context(), "", rv, false)
		if err != nil {
			t.Fatal(err)
		}
		noMore(t, ch)
		a.update(func(rec *podRecord) { rec.Message = "from " + rv })
		if ev := next(t, ch); ev.typ != watch.Modified || ev.name != "a" {
			t.Fatalf("from %q: %+v", rv, ev)
		}
	}
}

// TestWatchTooLarge: a version the supervisor has not reached (a client
// that knew an earlier incarnation) is the API server's "too large resource
// version" error, on which client-go lists again.
func TestWatchTooLarge(t *testing.T) {
	s := watchSupervisor(t)
	addPod(t, s, "default", "a")
	for _, initial := range []bool{false, true} {
		_, err := s.Watch(t.Context(), "", "9", initial)
		if !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) || !apierrors.IsTimeout(err) {
			t.Errorf("initial=%v: %v", initial, err)
		}
	}
}

// TestWatchBookmarks: an idle watch is told, every bookmarkInterval, the
// version it is up to, so that it resumes from there and not from a
// version since evicted.
func TestWatchBookmarks(t *testing.T) {
	s := watchSupervisor(t)
	s.bookmarkInterval = 10 * time.Millisecond
	other := addPod(t, s, "other", "x") // rv 1
	ch, err := s.Watch(t.Context(), "default", "", false)
	if err != nil {
		t.Fatal(err)
	}
	other.update(func(rec *podRecord) { rec.SandboxReady = true }) // rv 2, not this watch's
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev := next(t, ch)
		if ev.typ != watch.Bookmark {
			t.Fatalf("got %+v", ev)
		}
		if ev.rv == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bookmarks never reached version 2: %+v", ev)
		}
	}
}

func TestBroadcasterSeed(t *testing.T) {
	var b broadcaster
	b.seed(41)
	b.publish(watch.Added, func(rv string) (*corev1.Pod, *corev1.Pod) { return &corev1.Pod{}, nil })
	if b.current() != 42 {
		t.Errorf("version after seed 41 and one event: %d", b.current())
	}
	if _, err := b.subscribe(40); !apierrors.IsResourceExpired(err) {
		t.Errorf("a version from before the restart must be too old: %v", err)
	}
}
