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

// TestNetworkProbes: httpGet and tcpSocket probes dial the pod's IP from the
// supervisor, outside the sandbox, so images need no curl or nc.
func TestNetworkProbes(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: netprobed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %[1]s
    args: ["serve", ":8080", "ok"]
    ports:
    - name: http
      containerPort: 8080
    readinessProbe:
      httpGet:
        path: /healthz
        port: http
      periodSeconds: 1
    livenessProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 1
  - name: wrong
    image: %[1]s
    args: ["serve", ":8081", "ok"]
    readinessProbe:
      httpGet:
        port: 9999
      periodSeconds: 1
`, testAppRef))
	defer e.run(t, nil, "delete", "pod", "netprobed", "--grace-period=1")
	p := e.waitFor(t, "netprobed", 60*time.Second, "web ready", func(p *corev1.Pod) bool {
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "web" {
				return c.Ready
			}
		}
		return false
	})
	if p.Status.PodIP == "" {
		t.Fatalf("the pod has no IP")
	}
	var refused bool
	eventually(t, 30*time.Second, func() string {
		for _, ev := range e.events(t, p.UID) {
			if ev.Reason == "Unhealthy" && strings.HasPrefix(ev.Message, fmt.Sprintf(`Readiness probe failed: Get "http://%s:9999/"`, p.Status.PodIP)) {
				refused = true
			}
		}
		if !refused {
			return "no Unhealthy event for the readiness probe on a closed port"
		}
		return ""
	})
	for _, c := range e.getPod(t, "netprobed").Status.ContainerStatuses {
		if c.Name == "wrong" && c.Ready {
			t.Errorf("a container whose readiness probe fails is ready")
		}
		if c.Name == "web" && c.RestartCount != 0 {
			t.Errorf("web was restarted although its liveness probe (tcpSocket) passes")
		}
	}
}

// TestGRPCProbes: gRPC probes use the standard health service over the pod
// network.
func TestGRPCProbes(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: grpcprobed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: healthy
    image: %[1]s
    args: ["grpc", ":9090", "SERVING"]
    readinessProbe:
      grpc:
        port: 9090
      periodSeconds: 1
  - name: sick
    image: %[1]s
    args: ["grpc", ":9091", "NOT_SERVING"]
    readinessProbe:
      grpc:
        port: 9091
      periodSeconds: 1
`, testAppRef))
	defer e.run(t, nil, "delete", "pod", "grpcprobed", "--grace-period=1")
	p := e.waitFor(t, "grpcprobed", 60*time.Second, "healthy ready", func(p *corev1.Pod) bool {
		for _, c := range p.Status.ContainerStatuses {
			if c.Name == "healthy" {
				return c.Ready
			}
		}
		return false
	})
	eventually(t, 30*time.Second, func() string {
		for _, ev := range e.events(t, p.UID) {
			if ev.Reason == "Unhealthy" && ev.InvolvedObject.FieldPath == "spec.containers{sick}" &&
				strings.Contains(ev.Message, `Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`) {
				return ""
			}
		}
		return "no Unhealthy event for the NOT_SERVING gRPC readiness probe"
	})
	for _, c := range e.getPod(t, "grpcprobed").Status.ContainerStatuses {
		if c.Name == "sick" && c.Ready {
			t.Errorf("a NOT_SERVING container is ready")
		}
	}
}

// TestExecSemantics: exec probes and `podbox exec` without a terminal run
// over the sandbox's control socket; what a user sees must be what runsc exec
// (and the kubelet) gives: a failing probe's output in its event, a probe
// that times out killed rather than left running, exit codes (128+n for a
// signal), stdin to the end, stdout and stderr apart, the container's
// environment, user and working directory.
func TestExecSemantics(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: exec-semantics
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    workingDir: /tmp
    env:
    - name: GREETING
      value: hello
    securityContext:
      runAsUser: 1234
    readinessProbe:
      exec:
        command: ["sh", "-c", "echo not ready yet; exit 3"]
      periodSeconds: 1
    livenessProbe:
      exec:
        command: ["sleep", "31"]
      timeoutSeconds: 1
      periodSeconds: 1
      failureThreshold: 1000
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "exec-semantics", "--grace-period=1")
	p := e.waitFor(t, "exec-semantics", 60*time.Second, "running", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})

	// Both probes fail, with the kubelet's messages.
	want := map[string]bool{
		"Readiness probe failed: not ready yet\n":             false,
		`Liveness probe failed: command "sleep 31" timed out`: false,
	}
	deadline := time.Now().Add(30 * time.Second)
	for !(want["Readiness probe failed: not ready yet\n"] && want[`Liveness probe failed: command "sleep 31" timed out`]) && time.Now().Before(deadline) {
		for _, ev := range e.events(t, p.UID) {
			if _, ok := want[ev.Message]; ok && ev.Reason == "Unhealthy" {
				want[ev.Message] = true
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	for msg, seen := range want {
		if !seen {
			t.Errorf("no Unhealthy event %q; events: %+v", msg, e.events(t, p.UID))
		}
	}
	// The timed-out probe commands were killed: at most the one in flight
	// is left, not one per second of the test.
	time.Sleep(3 * time.Second)
	ps := e.ok(t, "exec", "exec-semantics", "--", "ps", "-o", "args")
	if !strings.Contains(ps, "sleep 3600") {
		t.Fatalf("ps in the container does not show its main process:\n%s", ps)
	}
	if n := strings.Count(ps, "sleep 31"); n > 1 {
		t.Errorf("%d timed-out probe commands still run:\n%s", n, ps)
	}

	// Exit codes, a signal's included.
	for cmd, code := range map[string]int{"exit 7": 7, "kill -9 $$": 137, "true": 0} {
		if r := e.run(t, nil, "exec", "exec-semantics", "--", "sh", "-c", cmd); r.code != code {
			t.Errorf("exec sh -c %q: exit %d, want %d (stderr %q)", cmd, r.code, code, r.stderr)
		}
	}
	// stdin to its end; stdout and stderr kept apart.
	r := e.run(t, strings.NewReader("line one\nline two\n"), "exec", "-i", "exec-semantics", "--", "sh", "-c", "wc -l; echo oops >&2")
	if strings.TrimSpace(r.stdout) != "2" || strings.TrimSpace(r.stderr) != "oops" || r.code != 0 {
		t.Errorf("exec -i: exit %d, stdout %q, stderr %q; want 2 lines counted and oops on stderr", r.code, r.stdout, r.stderr)
	}
	// The container's environment, user and working directory.
	if out := e.ok(t, "exec", "exec-semantics", "--", "sh", "-c", "echo $GREETING $(id -u) $(pwd)"); strings.TrimSpace(out) != "hello 1234 /tmp" {
		t.Errorf("exec environment: got %q, want %q", out, "hello 1234 /tmp")
	}
}
