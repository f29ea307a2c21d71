package supervisor

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	testingclock "k8s.io/utils/clock/testing"
)

// syncBuffer is a bytes.Buffer that a test reads while a goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsLimitBytesPerRequest follows a container's log across a restart:
// limitBytes is on the whole response, so the second instance gets what the
// first left of it.
func TestLogsLimitBytesPerRequest(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Now())
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	pod.Name, pod.Namespace, pod.UID = "p", "default", uuid.NewUUID()
	r := testRunner(t, nil, fc, pod)
	if _, err := r.ensureDir("logs", "app"); err != nil {
		t.Fatal(err)
	}
	for attempt, text := range []string{"abc", "defghij\nklm"} {
		var log strings.Builder
		for _, line := range strings.Split(text, "\n") {
			log.WriteString("2026-11-22T07:00:00.000000000Z stdout F " + line + "\n")
		}
		if err := os.WriteFile(r.logPath("app", int32(attempt)), []byte(log.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := r.rec.Containers[0]
	r.mu.Lock()
	c.Running, c.WaitingReason = true, ""
	r.mu.Unlock()

	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- r.logs(context.Background(), LogOptions{Follow: true, TailLines: -1, LimitBytes: 10}, &out)
	}()
	for deadline := time.Now().Add(5 * time.Second); out.String() != "abc\n"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first instance's log: %q", out.String())
		}
	}
	r.mu.Lock()
	c.RestartCount, c.Last = 1, &terminatedInstance{Attempt: 0}
	r.mu.Unlock()
	select {
	case err := <-done:
		if err != ErrLogLimitReached || out.String() != "abc\ndefghi" {
			t.Errorf("got %q, %v; want %q, ErrLogLimitReached", out.String(), err, "abc\ndefghi")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("follow went on after limitBytes: %q", out.String())
	}
}
