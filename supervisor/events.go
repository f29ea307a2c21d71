package supervisor

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// eventTTL is how long events are kept, the API server's default.
const eventTTL = time.Hour

// Event types, as corev1 names them.
const (
	normal  = corev1.EventTypeNormal
	warning = corev1.EventTypeWarning
)

// eventLog keeps the Events of the user's pods, as the API server keeps them
// for `kubectl describe` and `kubectl get events`: repeats of the same event
// for the same object are aggregated into one with a count, as the kubelet's
// recorder does. Events live in memory for an hour; a restarted supervisor
// starts with none.
type eventLog struct {
	clock clock.Clock
	host  string

	mu     sync.Mutex
	events map[string]*corev1.Event // by aggregation key
	seq    uint64
}

func newEventLog(c clock.Clock) *eventLog {
	host, _ := os.Hostname()
	return &eventLog{clock: c, host: host, events: map[string]*corev1.Event{}}
}

// record adds an event about pod (fieldPath "spec.containers{web}" for a
// container, "" for the pod itself), emitted by the kubelet or, for
// Scheduled, by the scheduler.
func (l *eventLog) record(pod *corev1.Pod, fieldPath, eventType, reason, message string) {
	now := metav1.NewTime(l.clock.Now())
	key := fmt.Sprintf("%s/%s/%s/%s/%s", pod.UID, fieldPath, eventType, reason, message)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked()
	if ev, ok := l.events[key]; ok {
		ev.Count++
		ev.LastTimestamp = now
		return
	}
	l.seq++
	component := "kubelet"
	if reason == "Scheduled" {
		component = "default-scheduler"
	}
	l.events[key] = &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:              fmt.Sprintf("%s.%x%04x", pod.Name, now.UnixNano(), l.seq&0xffff),
			Namespace:         pod.Namespace,
			CreationTimestamp: now,
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, FieldPath: fieldPath,
		},
		Reason:              reason,
		Message:             message,
		Type:                eventType,
		Count:               1,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Source:              corev1.EventSource{Component: component, Host: l.host},
		ReportingController: component,
		ReportingInstance:   l.host,
	}
}

func (l *eventLog) expireLocked() {
	cutoff := l.clock.Now().Add(-eventTTL)
	for k, ev := range l.events {
		if ev.LastTimestamp.Time.Before(cutoff) {
			delete(l.events, k)
		}
	}
}

// list returns the events of a namespace ("" for all), of one object if uid
// is set, oldest first.
func (l *eventLog) list(namespace string, uid types.UID) []corev1.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked()
	out := []corev1.Event{}
	for _, ev := range l.events {
		if (namespace == "" || ev.Namespace == namespace) && (uid == "" || ev.InvolvedObject.UID == uid) {
			out = append(out, *ev.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastTimestamp.Equal(&out[j].LastTimestamp) {
			return out[i].LastTimestamp.Before(&out[j].LastTimestamp)
		}
		return out[i].Name < out[j].Name
	})
	return out
}
