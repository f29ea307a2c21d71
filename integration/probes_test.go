//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestExecProbes: a readiness probe keeps a container unready until it
// passes; a failing liveness probe gets the container killed and restarted,
// with the kubelet's events. The supervisor runs the probes from outside the
// sandbox, exec probes inside the container.
func TestExecProbes(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: slow
    image: %[1]s
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3; touch /tmp/ready; while true; do sleep 0.2; done"]
    readinessProbe:
      exec:
        command: ["test", "-f", "/tmp/ready"]
      periodSeconds: 1
  - name: flaky
    image: %[1]s
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/alive; sleep 2; rm /tmp/alive; while true; do sleep 0.2; done"]
    livenessProbe:
      exec:
        command: ["test", "-f", "/tmp/alive"]
      periodSeconds: 1
      failureThreshold: 2
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "probed", "--grace-period=1")

	status := func(p *corev1.Pod, name string) corev1.ContainerStatus {
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no status for %s", name)
		return corev1.ContainerStatus{}
	}
	p := e.waitFor(t, "probed", 60*time.Second, "running", func(p *corev1.Pod) bool {
		return status(p, "slow").State.Running != nil
	})
	if status(p, "slow").Ready {
		t.Errorf("slow is ready before its readiness probe passed")
	}
	e.waitFor(t, "probed", 30*time.Second, "slow ready", func(p *corev1.Pod) bool { return status(p, "slow").Ready })
	p = e.waitFor(t, "probed", 60*time.Second, "flaky restarted", func(p *corev1.Pod) bool { return status(p, "flaky").RestartCount >= 1 })
	var unhealthy, killing bool
	for _, ev := range e.events(t, p.UID) {
		if ev.Reason == "Unhealthy" && strings.HasPrefix(ev.Message, "Liveness probe failed") && ev.InvolvedObject.FieldPath == "spec.containers{flaky}" {
			unhealthy = true
		}
		if ev.Reason == "Killing" && ev.Message == "Container flaky failed liveness probe, will be restarted" {
			killing = true
		}
	}
	if !unhealthy || !killing {
		t.Errorf("events: Unhealthy %v, Killing %v: %+v", unhealthy, killing, e.events(t, p.UID))
	}
}
