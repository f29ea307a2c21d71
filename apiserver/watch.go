package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/supervisor"
)

// podFilter is a request's labelSelector and fieldSelector.
type podFilter struct {
	labels labels.Selector
	fields fields.Selector
}

// parseFilter reads labelSelector and fieldSelector with apimachinery's
// parsers, refusing fields pods do not have with the API server's message.
// name, when the request addresses one pod, is an implicit metadata.name.
func parseFilter(r *http.Request, name string) (podFilter, error) {
	q := r.URL.Query()
	f := podFilter{labels: labels.Everything(), fields: fields.Everything()}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return f, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		f.labels = sel
	}
	if s := q.Get("fieldSelector"); s != "" {
		sel, err := fields.ParseSelector(s)
		if err != nil {
			return f, apierrors.NewBadRequest(err.Error())
		}
		if err := pod.CheckFieldSelector(sel); err != nil {
			return f, apierrors.NewBadRequest(err.Error())
		}
		f.fields = sel
	}
	if name != "" {
		f.fields = fields.AndSelectors(f.fields, fields.OneTermEqualSelector("metadata.name", name))
	}
	return f, nil
}

func (f podFilter) matches(p *corev1.Pod) bool {
	if p == nil || !f.labels.Matches(labels.Set(p.Labels)) {
		return false
	}
	return f.fields.Matches(pod.Fields(p))
}

// listPods serves GET .../pods: the list, or with watch=true a stream of
// changes.
func (s *Server) listPods(w http.ResponseWriter, r *http.Request) {
	filter, err := parseFilter(r, "")
	if err != nil {
		writeError(w, err)
		return
	}
	if isWatch(r) {
		s.watchPods(w, r, filter)
		return
	}
	// Read before listing: a watch from this version may repeat a change
	// the list already shows, but never misses one.
	rv := s.sup.ResourceVersion()
	list := &corev1.PodList{Items: []corev1.Pod{}}
	for _, p := range s.sup.List(r.PathValue("ns")) {
		if filter.matches(&p) {
			p.APIVersion, p.Kind = "", ""
			list.Items = append(list.Items, p)
		}
	}
	if wantsTable(r) {
		writePodTable(w, r, list.Items, rv)
		return
	}
	list.APIVersion, list.Kind = "v1", "PodList"
	list.ResourceVersion = rv
	writeNegotiated(w, r, http.StatusOK, list)
}

func isWatch(r *http.Request) bool {
	v := strings.ToLower(r.URL.Query().Get("watch"))
	return v == "true" || v == "1"
}

// watchEvent is metav1.WatchEvent with the object typed, as it goes on the
// wire: one JSON object per event.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// watchPods streams the changes of the pods matching filter as the API
// server does: ADDED, MODIFIED and DELETED events, a pod that stops matching
// the selectors reported as DELETED and one that starts matching as ADDED;
// with sendInitialEvents, first the current pods (watchlist.go). The stream
// ends when the client goes away, at timeoutSeconds, or when the supervisor
// drops a watcher that fell behind.
func (s *Server) watchPods(w http.ResponseWriter, r *http.Request, filter podFilter) {
	opts, err := watchOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if t := opts.TimeoutSeconds; t != nil && *t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*t)*time.Second)
		defer cancel()
	}
	initial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	events, err := s.sup.Watch(ctx, r.PathValue("ns"), opts.ResourceVersion, initial)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flush(w)
	enc := json.NewEncoder(w)
	// The supervisor's first bookmark of a watch with initial events is
	// where they end.
	initialEnd := initial
	for ev := range events {
		var out watchEvent
		if ev.Type == watch.Bookmark {
			if !opts.AllowWatchBookmarks {
				initialEnd = false
				continue
			}
			out = bookmarkEvent(ev.Pod.ResourceVersion, initialEnd)
			initialEnd = false
		} else {
			t, ok := filtered(ev, filter)
			if !ok {
				continue
			}
			// The event's pod is every watcher's: type a copy.
			p := *ev.Pod
			p.APIVersion, p.Kind = "v1", "Pod"
			out = watchEvent{Type: t, Object: &p}
		}
		if err := enc.Encode(out); err != nil {
			return
		}
		flush(w)
	}
}

// filtered decides how a change shows through a selector: as itself when the
// pod matches before and after, as ADDED or DELETED when it starts or stops
// matching, not at all when it matches neither.
func filtered(ev supervisor.WatchEvent, f podFilter) (watch.EventType, bool) {
	now := f.matches(ev.Pod)
	before := ev.Old != nil && f.matches(ev.Old)
	switch {
	case ev.Type == watch.Deleted:
		return watch.Deleted, now || before
	case ev.Type == watch.Added:
		return watch.Added, now
	case now && before:
		return watch.Modified, true
	case now:
		return watch.Added, true
	case before:
		return watch.Deleted, true
	}
	return "", false
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
