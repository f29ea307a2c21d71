package supervisor

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Watching pods. Every change of a pod record (runner.update) is published
// here once, in the order the changes happened, with a new resourceVersion:
// a counter shared by all pods, as etcd's revision is in a cluster. The
// broadcaster is the counter's one owner; runners publish while holding
// their own lock (lock order: Supervisor.mu → runner.mu → broadcaster.mu),
// so the events of one pod are delivered in the order of its changes.

// WatchEvent is one change of a pod as a Kubernetes watch reports it: Type is
// watch.Added, watch.Modified or watch.Deleted, Pod the pod after the change
// (for Deleted, its last state). Old is the pod as the previous event
// showed it (nil for Added), so that a filtered watch can tell a pod that
// stopped matching (reported as deleted) from one that never matched.
// Every watcher gets the same pods, so they are read-only.
//
// A watch.Bookmark event is no change: its Pod carries only a
// resourceVersion the watcher is up to (Watch).
type WatchEvent struct {
	Type watch.EventType
	Pod  *corev1.Pod
	Old  *corev1.Pod
}

const (
	// historySize is how many past events are kept so that a watch can
	// start from the resourceVersion of an earlier list without missing a
	// change; a client further behind gets 410 Gone and lists again.
	historySize = 1000
	// subscriberBuffer is how many events a slow watcher may fall behind
	// before it is dropped (its channel closed), as the API server drops
	// watchers that do not keep up rather than block writers.
	subscriberBuffer = 1024
)

// broadcaster hands out resource versions and delivers pod changes to
// watchers. The zero value is ready to use.
type broadcaster struct {
	mu sync.Mutex
	rv uint64
	// history holds the last events; every event with a version above
	// historyFrom is in it.
	history     []WatchEvent
	historyFrom uint64
	subs        map[*subscription]struct{}
}

// subscription is one watcher's feed.
type subscription struct {
	ch chan WatchEvent
}

// seed starts the counter above the versions of the pods found on disk, so
// versions keep increasing across supervisor restarts.
func (b *broadcaster) seed(rv uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rv > b.rv {
		b.rv, b.historyFrom = rv, rv
	}
}

// current returns the latest resource version.
func (b *broadcaster) current() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rv
}

// publish assigns the next resource version, lets build produce the pod
// carrying it, and delivers the event. build runs under the broadcaster's
// lock and must not call back into it.
func (b *broadcaster) publish(t watch.EventType, build func(rv string) (cur, old *corev1.Pod)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rv++
	ev := WatchEvent{Type: t}
	ev.Pod, ev.Old = build(strconv.FormatUint(b.rv, 10))
	b.history = append(b.history, ev)
	if over := len(b.history) - historySize; over > 0 {
		b.historyFrom = rvOf(b.history[over-1].Pod)
		b.history = append([]WatchEvent(nil), b.history[over:]...)
	}
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			close(s.ch)
			delete(b.subs, s)
		}
	}
}

// subscribe starts a feed of the events after version since, replaying the
// ones already published. It fails with 410 Gone (Expired) when those are no
// longer all in the history.
func (b *broadcaster) subscribe(since uint64) (*subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if since < b.historyFrom {
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", since, b.historyFrom))
	}
	s := &subscription{ch: make(chan WatchEvent, subscriberBuffer+historySize)}
	for _, ev := range b.history {
		if rvOf(ev.Pod) > since {
			s.ch <- ev
		}
	}
	if b.subs == nil {
		b.subs = map[*subscription]struct{}{}
	}
	b.subs[s] = struct{}{}
	return s, nil
}

func (b *broadcaster) unsubscribe(s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// rvOf reads the resource version the broadcaster gave a pod.
func rvOf(p *corev1.Pod) uint64 {
	n, _ := strconv.ParseUint(p.ResourceVersion, 10, 64)
	return n
}

// publishLocked announces the runner's pod as it now is, unless nothing a
// client can see has changed since the last announcement or the pod's
// deletion has already been announced. The caller holds r.mu.
func (r *runner) publishLocked(t watch.EventType) {
	if r.deletedPublished {
		return
	}
	if t == watch.Modified && r.lastPublished != nil {
		cur := r.objectLocked()
		cur.ResourceVersion = r.lastPublished.ResourceVersion
		if equality.Semantic.DeepEqual(cur, r.lastPublished) {
			return
		}
	}
	old := r.lastPublished
	r.sup.watch.publish(t, func(rv string) (*corev1.Pod, *corev1.Pod) {
		r.rec.Pod.ResourceVersion = rv
		r.lastPublished = r.objectLocked()
		return r.lastPublished.DeepCopy(), old.DeepCopy()
	})
	if t == watch.Deleted {
		r.deletedPublished = true
	}
}

// publishDeleted announces that the pod is gone from the API: when it is
// forgotten, or at once when it was deleted with grace 0.
func (r *runner) publishDeleted() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishLocked(watch.Deleted)
}

// Watch streams the changes of the pods of a namespace ("" for all) until
// ctx ends; the channel is closed then, or when the watcher fell too far
// behind.
//
// With initial, it starts with an Added event for every existing pod, then
// a Bookmark event at the version those events are consistent with: where
// the initial events end (the API's sendInitialEvents). resourceVersion is
// then only a lower bound, which the current state always satisfies.
// Without initial, it starts with the changes after resourceVersion, or
// after now for "" and "0".
//
// A version newer than the latest is refused as "too large" (a client that
// knew an earlier incarnation, whose deletions left no version behind):
// client-go lists again on that error. While the watcher has nothing to
// read, a Bookmark event tells it every bookmarkInterval the version it is
// up to, so that it can resume from there rather than from a version long
// evicted from the history.
func (s *Supervisor) Watch(ctx context.Context, namespace, resourceVersion string, initial bool) (<-chan WatchEvent, error) {
	var since uint64
	if resourceVersion != "" {
		n, err := strconv.ParseUint(resourceVersion, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: %v", resourceVersion, err))
		}
		since = n
	}
	if cur := s.watch.current(); since > cur {
		return nil, tooLargeResourceVersion(since, cur)
	} else if initial || since == 0 {
		since = cur
	}
	sub, err := s.watch.subscribe(since)
	if err != nil {
		return nil, err
	}
	// Subscribed before listing, so no change falls in between. Changes
	// the listed objects already show are skipped (seen holds the version
	// each pod was sent at), and so are changes of pods the list never
	// showed, except their creation.
	var first []corev1.Pod
	if initial {
		first = s.List(namespace)
	}
	out := make(chan WatchEvent)
	go s.feed(ctx, sub, namespace, initial, first, since, out)
	return out, nil
}

// feed delivers a watch (Watch): the initial events and their bookmark,
// then the subscription's events of the namespace and, while idle, periodic
// bookmarks.
func (s *Supervisor) feed(ctx context.Context, sub *subscription, namespace string, initial bool, first []corev1.Pod, since uint64, out chan<- WatchEvent) {
	defer close(out)
	defer s.watch.unsubscribe(sub)
	send := func(ev WatchEvent) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	seen := map[types.UID]uint64{}
	for i := range first {
		p := &first[i]
		seen[p.UID] = rvOf(p)
		if !send(WatchEvent{Type: watch.Added, Pod: p.DeepCopy()}) {
			return
		}
	}
	if initial && !send(bookmark(since)) {
		return
	}
	var tick <-chan time.Time
	if s.bookmarkInterval > 0 {
		t := time.NewTicker(s.bookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			// Read before looking at the queue: every event up to rv was
			// queued when it was published, so an empty queue means all
			// of them went out already.
			rv := s.watch.current()
			if len(sub.ch) == 0 && !send(bookmark(rv)) {
				return
			}
		case ev, ok := <-sub.ch:
			if !ok {
				return
			}
			if namespace != "" && ev.Pod.Namespace != namespace {
				continue
			}
			if initial {
				last, known := seen[ev.Pod.UID]
				if (!known && ev.Type != watch.Added) || rvOf(ev.Pod) <= last {
					continue
				}
				seen[ev.Pod.UID] = rvOf(ev.Pod)
			}
			if !send(ev) {
				return
			}
		}
	}
}

// bookmark is the Bookmark event at version rv.
func bookmark(rv uint64) WatchEvent {
	p := &corev1.Pod{}
	p.ResourceVersion = strconv.FormatUint(rv, 10)
	return WatchEvent{Type: watch.Bookmark, Pod: p}
}

// tooLargeResourceVersion is the API server's error for a version it has
// not reached (k8s.io/apiserver's storage.NewTooLargeResourceVersionError):
// a timeout whose cause client-go's reflector recognises.
func tooLargeResourceVersion(want, cur uint64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", want, cur), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// ResourceVersion is the version of the latest change to any pod, which a
// list reports so that a watch can continue from it.
func (s *Supervisor) ResourceVersion() string {
	return strconv.FormatUint(s.watch.current(), 10)
}

// UpdateMetadata changes a pod's labels and annotations, the only fields of
// a running pod that podbox lets a client change. change gets the pod as the
// API shows it and returns it changed, or an error that is returned as is;
// it runs under the pod's lock, so concurrent updates never lose each other's
// changes. Only labels and annotations are taken from its result. A change
// that changes nothing keeps the resource version, as in Kubernetes.
func (s *Supervisor) UpdateMetadata(namespace, name string, change func(*corev1.Pod) (*corev1.Pod, error)) (*corev1.Pod, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return nil, err
	}
	changed, err := r.updateMetadata(change)
	if err != nil {
		return nil, err
	}
	if changed {
		r.metadataChanged()
	}
	return r.object(), nil
}

func (r *runner) updateMetadata(change func(*corev1.Pod) (*corev1.Pod, error)) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	want, err := change(r.objectLocked())
	if err != nil {
		return false, err
	}
	meta := &r.rec.Pod.ObjectMeta
	if equality.Semantic.DeepEqual(emptyNil(want.Labels), emptyNil(meta.Labels)) &&
		equality.Semantic.DeepEqual(emptyNil(want.Annotations), emptyNil(meta.Annotations)) {
		return false, nil
	}
	meta.Labels, meta.Annotations = emptyNil(want.Labels), emptyNil(want.Annotations)
	r.commitLocked(watch.Modified)
	return true, nil
}

// emptyNil treats an empty map as absent, as the API server stores it.
func emptyNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// metadataChanged is called, outside the runner's lock, after the pod's
// labels or annotations changed. It is the hook for what depends on them
// inside a running pod: downwardAPI volumes with metadata.labels or
// metadata.annotations are refreshed from here (environment variables are
// fixed when a container starts, as in Kubernetes). The record is already
// saved and the change published when it runs.
func (r *runner) metadataChanged() {
	r.sup.opts.Log.Debug("pod metadata changed", "pod", r.namespace+"/"+r.name)
	r.refreshVolumes()
}
