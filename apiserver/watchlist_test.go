package apiserver

import (
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"podbox.dev/podbox/supervisor"
)

// streamOf reads n events of a watch as "TYPE name" ("BOOKMARK rv" with a
// trailing " end" for the initial-events-end bookmark).
func streamOf(t *testing.T, w watch.Interface, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended after %q", got)
			}
			p := ev.Object.(*corev1.Pod)
			if ev.Type != watch.Bookmark {
				got = append(got, string(ev.Type)+" "+p.Name)
				continue
			}
			s := "BOOKMARK " + p.ResourceVersion
			if p.Annotations[metav1.InitialEventsAnnotationKey] == "true" {
				s += " end"
			}
			got = append(got, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far %q", got)
		}
	}
	return got
}

func noEvent(t *testing.T, w watch.Interface) {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected %s %v", ev.Type, ev.Object)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestWatchList: sendInitialEvents=true (client-go's watch-list, on by
// default since 1.35) streams the matching pods as ADDED, then the bookmark
// annotated k8s.io/initial-events-end at the version they are consistent
// with, then changes; the bookmark only to a client that allows bookmarks,
// as the API server's watch cache sends it.
func TestWatchList(t *testing.T) {
	f := newFakePods(
		testPod("default", "web", corev1.PodRunning, map[string]string{"app": "web"}),
		testPod("default", "db", corev1.PodRunning, map[string]string{"app": "db"}),
	)
	cs := serve(t, f)
	pods := cs.CoreV1().Pods("default")
	on := true
	w, err := pods.Watch(t.Context(), metav1.ListOptions{SendInitialEvents: &on,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true, ResourceVersion: "7"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got, want := strings.Join(streamOf(t, w, 3), ","), "ADDED db,ADDED web,BOOKMARK 42 end"; got != want {
		t.Errorf("stream %s, want %s", got, want)
	}
	if !f.watchedInitial {
		t.Error("the supervisor was not asked for the initial events")
	}
	web := testPod("default", "web", corev1.PodSucceeded, nil)
	f.events <- supervisor.WatchEvent{Type: watch.Modified, Pod: web, Old: web}
	if got := streamOf(t, w, 1); got[0] != "MODIFIED web" {
		t.Errorf("after the bookmark: %q", got)
	}
	// A later bookmark (the supervisor's periodic one) is not the end.
	f.events <- supervisor.WatchEvent{Type: watch.Bookmark, Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "50"}}}
	if got := streamOf(t, w, 1); got[0] != "BOOKMARK 50" {
		t.Errorf("periodic bookmark: %q", got)
	}
	w.Stop()

	// Selected pods only; no bookmark for a client that does not allow them.
	w, err = pods.Watch(t.Context(), metav1.ListOptions{SendInitialEvents: &on, LabelSelector: "app=db",
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := streamOf(t, w, 1); got[0] != "ADDED db" {
		t.Errorf("selected stream %q", got)
	}
	f.events <- supervisor.WatchEvent{Type: watch.Bookmark, Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "51"}}}
	noEvent(t, w)
}

// TestWatchInitialEventsDefaults: the API server's defaults (with its
// WatchList feature on): a watch from "" or "0" is a watch-list, so it ends
// its initial events with the bookmark when bookmarks are allowed; a watch
// from a version, or with sendInitialEvents=false, has no initial events.
func TestWatchInitialEventsDefaults(t *testing.T) {
	f := newFakePods(testPod("default", "web", corev1.PodRunning, nil))
	cs := serve(t, f)
	pods := cs.CoreV1().Pods("default")
	for _, tc := range []struct {
		opts    metav1.ListOptions
		initial bool
		stream  string
	}{
		{metav1.ListOptions{AllowWatchBookmarks: true}, true, "ADDED web,BOOKMARK 42 end"},
		{metav1.ListOptions{ResourceVersion: "0", AllowWatchBookmarks: true}, true, "ADDED web,BOOKMARK 42 end"},
		{metav1.ListOptions{}, true, "ADDED web"},
		{metav1.ListOptions{ResourceVersion: "7", AllowWatchBookmarks: true}, false, ""},
		{metav1.ListOptions{SendInitialEvents: new(bool), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}, false, ""},
	} {
		w, err := pods.Watch(t.Context(), tc.opts)
		if err != nil {
			t.Fatalf("%+v: %v", tc.opts, err)
		}
		n := strings.Count(tc.stream, ",") + 1
		if tc.stream == "" {
			n = 0
		}
		if got := strings.Join(streamOf(t, w, n), ","); got != tc.stream {
			t.Errorf("%+v: stream %q, want %q", tc.opts, got, tc.stream)
		}
		noEvent(t, w)
		w.Stop()
		if f.watchedInitial != tc.initial || f.watchedFrom != tc.opts.ResourceVersion {
			t.Errorf("%+v: supervisor asked from %q initial=%v", tc.opts, f.watchedFrom, f.watchedInitial)
		}
	}
}

// TestWatchListInvalid: the combinations the API server refuses are its
// 422 Invalid naming ListOptions, before any stream starts.
func TestWatchListInvalid(t *testing.T) {
	cs, srv := fullClient(t, newFakePods())
	pods := cs.CoreV1().Pods("default")
	on := true
	for _, tc := range []struct {
		opts metav1.ListOptions
		msg  string
	}{
		{metav1.ListOptions{SendInitialEvents: &on}, "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"},
		{metav1.ListOptions{ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, ResourceVersion: "7"},
			"resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"},
		{metav1.ListOptions{SendInitialEvents: &on, ResourceVersionMatch: metav1.ResourceVersionMatchExact, ResourceVersion: "7"},
			`Unsupported value: "Exact"`},
	} {
		_, err := pods.Watch(t.Context(), tc.opts)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `ListOptions.meta.k8s.io "" is invalid`) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v", tc.opts, err)
		}
	}
	// The same holds for the older form of watching one pod.
	resp, err := http.Get(srv.URL + "/api/v1/namespaces/default/pods/web?watch=true&sendInitialEvents=true")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("watch of one pod: %d", resp.StatusCode)
	}
}
