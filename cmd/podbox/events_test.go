package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEventTable(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	ev := func(name, typ, reason, msg string, count int32, first, last time.Duration) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web"},
			Type:           typ, Reason: reason, Message: msg, Count: count,
			FirstTimestamp: metav1.NewTime(now.Add(-first)), LastTimestamp: metav1.NewTime(now.Add(-last)),
		}
	}
	cs := fake.NewSimpleClientset(
		ev("web.2", "Warning", "Failed", "Error: ImagePullBackOff", 4, 90*time.Second, 5*time.Second),
		ev("web.1", "Normal", "Scheduled", "Successfully assigned default/web to host", 1, 2*time.Minute, 2*time.Minute),
	)
	var out, errOut bytes.Buffer
	if err := listEvents(context.Background(), core(cs), "default", false, "", &out, &errOut, now); err != nil {
		t.Fatal(err)
	}
	want := "LAST SEEN          TYPE      REASON      OBJECT    MESSAGE\n" +
		"2m                 Normal    Scheduled   pod/web   Successfully assigned default/web to host\n" +
		"5s (x4 over 90s)   Warning   Failed      pod/web   Error: ImagePullBackOff\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	empty := fake.NewSimpleClientset()
	if err := listEvents(context.Background(), core(empty), "default", false, "", &out, &errOut, now); err != nil {
		t.Fatal(err)
	}
	if errOut.String() != "No resources found in default namespace.\n" {
		t.Errorf("empty: %q", errOut.String())
	}
}
