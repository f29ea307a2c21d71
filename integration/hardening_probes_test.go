//go:build integration

package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// This file: what probes, lifecycle hooks and container output can do to the
// supervisor (issue 13). Exec output is capped at the kubelet's 10 KiB,
// hooks follow same-host redirects only, the host's loopback is dialled only
// with hostGateway on, and log lines are split at 16 KiB.

// supervisorPeakMiB is the peak resident set (VmHWM) of e's supervisor, in
// MiB: the holder's child, itself the child of `podbox daemon`. The peak,
// not the current size, so that a burst the garbage collector has since
// returned still counts.
func supervisorPeakMiB(t *testing.T, e *env) float64 {
	t.Helper()
	holder := childOf(e.daemon.Process.Pid)
	sup := childOf(atoi(holder))
	st, err := os.ReadFile("/proc/" + sup + "/status")
	if sup == "" || err != nil {
		t.Fatalf("no supervisor process under the holder %q: %v", holder, err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	t.Fatalf("no VmHWM in /proc/%s/status", sup)
	return 0
}

// supervisorPeakBound is well above a supervisor running one pod (its peak
// was 36 MiB with the probe or hook below) and below what the unbounded
// buffers reached (160 MiB to 2 GiB here; 4 GiB on a faster machine).
const supervisorPeakBound = 128

// hostListener counts the connections made to a listener on the host's
// 127.0.0.1, serving HTTP on them; pods and their handlers must not reach it.
type hostListener struct {
	l    net.Listener
	hits atomic.Int64
}

func listenHostLoopback(t *testing.T) *hostListener {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostListener{l: l}
	t.Cleanup(func() { l.Close() })
	go http.Serve(countingListener{l, &h.hits}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "the host's loopback")
	}))
	return h
}

func (h *hostListener) port() int { return h.l.Addr().(*net.TCPAddr).Port }

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (c countingListener) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err == nil {
		c.n.Add(1)
	}
	return conn, err
}

func containerStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, c := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if c.Name == name {
			return c
		}
	}
	return corev1.ContainerStatus{}
}

// TestHardeningExecProbeOutputBounded: an exec liveness probe whose command
// prints without end (cat of a symlink to /dev/zero) times out and gets the
// container restarted, as on a cluster, while the supervisor keeps only the
// kubelet's 10 KiB of it: its peak memory stays bounded.
func TestHardeningExecProbeOutputBounded(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, true)
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: zero-probe
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "ln -sf /dev/zero /tmp/h; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    livenessProbe:
      exec:
        command: ["cat", "/tmp/h"]
      periodSeconds: 5
      timeoutSeconds: 4
      failureThreshold: 3
`, busyboxRef))
	p := e.waitFor(t, "zero-probe", 120*time.Second, "restarted by its liveness probe", func(p *corev1.Pod) bool {
		return containerStatus(p, "main").RestartCount >= 1
	})
	var timedOut, killing bool
	for _, ev := range e.events(t, p.UID) {
		if ev.Reason == "Unhealthy" && ev.Message == `Liveness probe failed: command "cat /tmp/h" timed out` {
			timedOut = true
		}
		if ev.Reason == "Killing" && ev.Message == "Container main failed liveness probe, will be restarted" {
			killing = true
		}
	}
	if !timedOut || !killing {
		t.Errorf("events: Unhealthy (timed out) %v, Killing %v: %+v", timedOut, killing, e.events(t, p.UID))
	}
	peak := supervisorPeakMiB(t, e)
	t.Logf("the supervisor's peak RSS: %.0f MiB", peak)
	if peak > supervisorPeakBound {
		t.Errorf("the supervisor's peak RSS reached %.0f MiB (bound %d MiB): exec probe output is buffered", peak, supervisorPeakBound)
	}
}

// TestHardeningPostStartHookOutputBounded: a postStart exec hook printing
// 256 MiB completes (its output is drained and dropped) and the container
// becomes Running, without the supervisor holding the output.
func TestHardeningPostStartHookOutputBounded(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, true)
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: loud-hook
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    command: ["sleep", "100000"]
    lifecycle:
      postStart:
        exec:
          command: ["head", "-c", "268435456", "/dev/zero"]
`, busyboxRef))
	e.waitFor(t, "loud-hook", 180*time.Second, "Running after its postStart hook", running)
	peak := supervisorPeakMiB(t, e)
	t.Logf("the supervisor's peak RSS: %.0f MiB", peak)
	if peak > supervisorPeakBound {
		t.Errorf("the supervisor's peak RSS reached %.0f MiB (bound %d MiB): hook output is buffered", peak, supervisorPeakBound)
	}
}

// TestHardeningHookRedirectToHostLoopback: a native sidecar answers the
// main container's postStart httpGet with a redirect to localhost:PORT,
// where a server listens on the host's 127.0.0.1. As the kubelet's
// lifecycle client, podbox follows same-host redirects only: the hook ends
// with the 302 (the status is not checked) and the host is never reached.
func TestHardeningHookRedirectToHostLoopback(t *testing.T) {
	t.Parallel()
	e := shared
	host := listenHostLoopback(t)
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: hook-redirect
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: redirector
    image: %[1]s
    restartPolicy: Always
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      cat > /www/cgi-bin/r <<'EOF'
      #!/bin/sh
      touch /tmp/hooked
      printf 'HTTP/1.1 302 Found\r\nLocation: http://localhost:%[2]d/\r\nContent-Length: 0\r\n\r\n'
      EOF
      chmod 755 /www/cgi-bin/r
      exec httpd -f -p 8080 -h /www
    startupProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 1
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "100000"]
    lifecycle:
      postStart:
        httpGet:
          port: 8080
          path: /cgi-bin/r
`, busyboxRef, host.port()))
	defer e.run(t, nil, "delete", "pod", "hook-redirect", "--now")
	e.waitFor(t, "hook-redirect", 90*time.Second, "Running", running)
	if out := e.ok(t, "exec", "hook-redirect", "-c", "redirector", "--", "ls", "/tmp/hooked"); !strings.Contains(out, "hooked") {
		t.Errorf("the postStart hook never reached the sidecar: %q", out)
	}
	if n := host.hits.Load(); n != 0 {
		t.Errorf("the hook's redirect reached the host's 127.0.0.1:%d (%d connections)", host.port(), n)
	}
}

// localhostProbePod has two containers whose readiness probes name
// host: localhost, at port (httpGet and tcpSocket).
func localhostProbePod(name string, port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: tcp
    image: %[2]s
    command: ["sleep", "100000"]
    readinessProbe:
      tcpSocket:
        host: localhost
        port: %[3]d
      periodSeconds: 1
  - name: http
    image: %[2]s
    command: ["sleep", "100000"]
    readinessProbe:
      httpGet:
        host: localhost
        port: %[3]d
      periodSeconds: 1
`, name, busyboxRef, port)
}

// TestHardeningProbeHostLocalhost: probes naming host: localhost do not
// reach the host's loopback (the host gateway is off): they fail with a
// message that names the host and hostGateway, and a listener on the
// host's 127.0.0.1 sees no connection, so readiness tells the pod nothing
// about which host ports are open.
func TestHardeningProbeHostLocalhost(t *testing.T) {
	t.Parallel()
	e := shared
	host := listenHostLoopback(t)
	e.apply(t, localhostProbePod("probe-localhost", host.port()))
	defer e.run(t, nil, "delete", "pod", "probe-localhost", "--now")
	p := e.waitFor(t, "probe-localhost", 90*time.Second, "with running containers", func(p *corev1.Pod) bool {
		return containerStatus(p, "tcp").State.Running != nil && containerStatus(p, "http").State.Running != nil
	})
	want := map[string]bool{"tcp": false, "http": false}
	eventually(t, 30*time.Second, func() string {
		var unhealthy []string
		for _, ev := range e.events(t, p.UID) {
			if ev.Reason != "Unhealthy" {
				continue
			}
			unhealthy = append(unhealthy, ev.InvolvedObject.FieldPath+": "+ev.Message)
			for c := range want {
				if ev.InvolvedObject.FieldPath == "spec.containers{"+c+"}" &&
					strings.HasPrefix(ev.Message, "Readiness probe failed: ") &&
					strings.Contains(ev.Message, `"localhost"`) && strings.Contains(ev.Message, "hostGateway") {
					want[c] = true
				}
			}
		}
		if !want["tcp"] || !want["http"] {
			return fmt.Sprintf("no readiness failure naming localhost and hostGateway for each container (%v); Unhealthy events: %q; the host listener had %d connections",
				want, unhealthy, host.hits.Load())
		}
		return ""
	})
	p = e.getPod(t, "probe-localhost")
	for _, c := range []string{"tcp", "http"} {
		if containerStatus(p, c).Ready {
			t.Errorf("container %s is ready: its probe reached the host's loopback", c)
		}
	}
	if n := host.hits.Load(); n != 0 {
		t.Errorf("probes reached the host's 127.0.0.1:%d (%d connections)", host.port(), n)
	}
}

// TestHardeningProbeHostLocalhostOptIn: with hostGateway on, the user has
// let pods reach the host's loopback, and host: localhost in a probe means
// it, as on a cluster node.
func TestHardeningProbeHostLocalhostOptIn(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, false)
	e.writeNetworkConfig(t, "hostGateway: true\n")
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	host := listenHostLoopback(t)
	e.apply(t, localhostProbePod("probe-gateway", host.port()))
	e.waitFor(t, "probe-gateway", 90*time.Second, "Running and ready", running)
	if host.hits.Load() == 0 {
		t.Errorf("the probes are ready but the host listener saw no connection")
	}
}

// TestHardeningLongLogLine: a container printing a 4 MiB line with no
// newline has it logged as 16 KiB partial (P) records, so neither the log
// server nor the supervisor holds the line; `podbox logs` joins them back
// into one line, as the kubelet's reader does.
func TestHardeningLongLogLine(t *testing.T) {
	t.Parallel()
	e := shared
	const size = 4 << 20
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: long-line
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "head -c %d /dev/zero | tr '\\0' a; echo; echo done"]
`, busyboxRef, size))
	defer e.run(t, nil, "delete", "pod", "long-line", "--now")
	p := e.waitFor(t, "long-line", 90*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	out := e.ok(t, "logs", "long-line")
	lines := strings.Split(out, "\n")
	if len(lines) != 3 || len(lines[0]) != size || strings.Trim(lines[0], "a") != "" || lines[1] != "done" {
		t.Errorf("logs: %d lines, the first %d bytes (want %d), then %.40q", len(lines), len(lines[0]), size, lines[1:])
	}
	raw, err := os.ReadFile(filepath.Join(podDirOf(t, e, p), "logs", "main", "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	records := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	partial := 0
	for _, r := range records {
		if len(r) > 16*1024+64 {
			t.Fatalf("a log record of %d bytes: lines are not split at 16 KiB", len(r))
		}
		if strings.Contains(r, " stdout P ") {
			partial++
		}
	}
	if partial != size/(16*1024) {
		t.Errorf("%d partial records, want %d", partial, size/(16*1024))
	}
}
