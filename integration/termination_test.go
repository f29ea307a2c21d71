//go:build integration

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/testdata/images"
)

func TestTerminationMessages(t *testing.T) {
	t.Parallel()
	e := shared
	pod := func(name, policy, script string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %s
    terminationMessagePolicy: %s
    command: ["sh", "-c", %q]
`, name, busyboxRef, policy, script)
	}
	e.apply(t, pod("msg-file", "File", `printf "custom message" > /dev/termination-log; exit 1`))
	e.apply(t, pod("msg-logs", "FallbackToLogsOnError", `echo first line; echo last line; exit 2`))
	defer e.run(t, nil, "delete", "pod", "msg-file", "msg-logs")
	for name, want := range map[string]string{"msg-file": "custom message", "msg-logs": "first line\nlast line"} {
		p := e.waitFor(t, name, 60*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Message != want {
			t.Errorf("%s: terminated state %+v, want message %q", name, term, want)
		}
	}
}

func TestActiveDeadlineSeconds(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: deadline
spec:
  activeDeadlineSeconds: 3
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    command: ["sleep", "100000"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "deadline")
	p := e.waitFor(t, "deadline", 60*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	// The phase turns Failed when the deadline passes; the container is
	// then stopped with the pod's grace period.
	p = e.waitFor(t, "deadline", 30*time.Second, "stopped", func(p *corev1.Pod) bool {
		return p.Status.ContainerStatuses[0].State.Terminated != nil
	})
	if p.Status.Reason != "DeadlineExceeded" || p.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("status reason %q message %q", p.Status.Reason, p.Status.Message)
	}
}

// TestHooksAndStopSignal: postStart runs before the container is reported
// Running; preStop runs before the stop signal; the image's STOPSIGNAL is
// the signal sent.
func TestHooksAndStopSignal(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: hooks
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "trap '' TERM; while [ ! -f /tmp/stop ]; do sleep 0.1; done"]
    lifecycle:
      postStart:
        exec:
          command: ["sh", "-c", "sleep 1; echo ok > /tmp/poststart"]
      preStop:
        exec:
          command: ["touch", "/tmp/stop"]
`, busyboxRef))
	e.waitFor(t, "hooks", 60*time.Second, "Running", running)
	if got := e.ok(t, "exec", "hooks", "--", "cat", "/tmp/poststart"); got != "ok\n" {
		t.Errorf("the container was reported Running before postStart finished: %q", got)
	}
	start := time.Now()
	e.ok(t, "delete", "pod", "hooks")
	// Without the preStop hook, this container (which ignores SIGTERM)
	// would only die at the end of its 20 s grace period.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("delete took %s: the preStop hook did not run", took)
	}

	// An image whose STOPSIGNAL is SIGUSR1: the container exits on it and
	// ignores SIGTERM.
	host, stop, err := images.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	bb, err := images.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := bb.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.StopSignal = "SIGUSR1"
	img, err := mutate.ConfigFile(bb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := images.Push(host, "podbox/stopsignal:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: stopsignal
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "trap 'exit 0' USR1; trap '' TERM; while true; do sleep 0.1; done"]
`, ref))
	e.waitFor(t, "stopsignal", 60*time.Second, "Running", running)
	start = time.Now()
	r := e.run(t, nil, "delete", "pod", "stopsignal")
	if took := time.Since(start); r.code != 0 || took > 10*time.Second {
		t.Errorf("delete took %s (%+v): the image's STOPSIGNAL was not sent", took, r)
	}
}
