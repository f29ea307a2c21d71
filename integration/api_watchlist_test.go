//go:build integration

package integration

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// TestAPIWatchList: a client-go informer with the WatchListClient feature
// (on by default since client-go 1.35) syncs from one watch — the current
// pods as ADDED events, then the bookmark that ends them — without a list,
// and then sees changes.
func TestAPIWatchList(t *testing.T) {
	t.Parallel()
	const ns = "watchlist"
	ctx := t.Context()
	cs := shared.clientset(t)
	pods := cs.CoreV1().Pods(ns)
	newPod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: busyboxRef, Command: []string{"sleep", "1d"}}}}}
	}
	zero := int64(0)
	for _, name := range []string{"first", "second"} {
		t.Cleanup(func() { _ = pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}) })
	}
	if _, err := pods.Create(ctx, newPod("first"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var lists atomic.Int32
	var mu sync.Mutex // the reflector's goroutine appends, the test reads
	var watches []metav1.ListOptions
	watched := func() []metav1.ListOptions {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(watches)
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			lists.Add(1)
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			mu.Lock()
			watches = append(watches, o)
			mu.Unlock()
			return pods.Watch(ctx, o)
		},
	}
	added := make(chan string, 10)
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw, ObjectType: &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) { added <- obj.(*corev1.Pod).Name }},
	})
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	go informer.RunWithContext(ictx)
	if !cache.WaitForCacheSync(waitCtx(t, 15*time.Second).Done(), informer.HasSynced) {
		t.Fatalf("the informer never synced; watches %+v", watched())
	}
	if n, ws := lists.Load(), watched(); n > 0 || len(ws) == 0 || ws[0].SendInitialEvents == nil {
		t.Fatalf("synced with %d lists and watches %+v, want one watch-list", n, ws)
	}
	expectName(t, added, "first")
	if _, err := pods.Create(ctx, newPod("second"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectName(t, added, "second")

	// The raw stream: both pods, then the annotated bookmark, in order.
	w, err := pods.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptrTo(true),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for len(got) < 3 {
		select {
		case ev := <-w.ResultChan():
			p := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Bookmark {
				if p.Annotations[metav1.InitialEventsAnnotationKey] != "true" || p.ResourceVersion == "" {
					t.Errorf("bookmark %+v", p.ObjectMeta)
				}
				got = append(got, "BOOKMARK")
				continue
			}
			got = append(got, string(ev.Type)+" "+p.Name)
		case <-time.After(10 * time.Second):
			t.Fatalf("events so far %q", got)
		}
	}
	slices.Sort(got[:2])
	if want := []string{"ADDED first", "ADDED second", "BOOKMARK"}; !slices.Equal(got, want) {
		t.Errorf("watch-list stream %q, want %q", got, want)
	}

	// An invalid combination is refused as the API server refuses it.
	_, err = pods.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptrTo(true)})
	if !apierrors.IsInvalid(err) {
		t.Errorf("sendInitialEvents without resourceVersionMatch: %v", err)
	}
}

func waitCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func expectName(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("informer added %s, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("informer never added %s", want)
	}
}

func ptrTo[T any](v T) *T { return &v }
