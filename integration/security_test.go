//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestSecurityContext runs one container per securityContext field and
// checks, from inside the sandbox, that gVisor applied it.
func TestSecurityContext(t *testing.T) {
	t.Parallel()
	e := shared
	sh := func(name, script, sc string) string {
		return fmt.Sprintf(`
  - name: %s
    image: %s
    command: ["sh", "-c", %q]
    securityContext: %s`, name, busyboxRef, script, sc)
	}
	app := func(name, arg, sc string) string {
		return fmt.Sprintf(`
  - name: %s
    image: %s
    args: [%q]
    securityContext: %s`, name, testAppRef, arg, sc)
	}
	status := `grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):' /proc/self/status`
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: secctx
spec:
  restartPolicy: Never
  securityContext:
    supplementalGroups: [4000]
    fsGroup: 2000
  containers:` +
		sh("ids", status, `{runAsUser: 1000, runAsGroup: 3000}`) +
		sh("defaults", status+`; touch /f && chown 1234 /f && echo chown ok`, `{}`) +
		sh("nochown", `touch /f && chown 1234 /f && echo chown ok`, `{capabilities: {drop: [CHOWN]}}`) +
		sh("added", status, `{capabilities: {add: [NET_ADMIN, sys_time]}}`) +
		sh("minimal", status, `{capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}`) +
		sh("nnp", status, `{allowPrivilegeEscalation: false}`) +
		sh("readonly", `touch /x 2>&1; touch /dev/shm/x && echo shm ok; echo x > /dev/termination-log && echo term ok`, `{readOnlyRootFilesystem: true}`) +
		sh("workdir", `pwd`, `{}`) + "\n    workingDir: /work/new/dir" +
		app("raw", "rawsocket", `{}`) +
		app("noraw", "rawsocket", `{capabilities: {drop: [NET_RAW]}}`) + "\n"
	if r := e.apply(t, manifest); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	defer e.run(t, nil, "delete", "pod", "secctx", "--now")
	e.waitFor(t, "secctx", 90*time.Second, "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs := func(c string) string { return e.ok(t, "logs", "secctx", "-c", c) }
	// Default capability set of container runtimes, CAP_NET_RAW included.
	const defaultCaps = "00000000a80425fb"
	checks := []struct {
		container string
		want      []string
		not       []string
	}{
		{"ids", []string{"Uid:\t1000\t1000\t1000", "Gid:\t3000\t3000\t3000", "4000", "2000", "CapEff:\t0000000000000000", "CapBnd:\t" + defaultCaps}, nil},
		{"defaults", []string{"CapEff:\t" + defaultCaps, "NoNewPrivs:\t0", "chown ok"}, nil},
		{"nochown", nil, []string{"chown ok"}},
		{"added", []string{fmt.Sprintf("CapEff:\t%016x", 0xa80425fb|1<<12|1<<25)}, nil},
		{"minimal", []string{"CapEff:\t0000000000000400"}, nil},
		{"nnp", []string{"NoNewPrivs:\t1"}, nil},
		{"readonly", []string{"Read-only file system", "shm ok", "term ok"}, nil},
		{"workdir", []string{"/work/new/dir"}, nil},
		{"raw", []string{"raw socket: ok"}, nil},
		{"noraw", []string{"raw socket: operation not permitted"}, nil},
	}
	for _, c := range checks {
		out := logs(c.container)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("container %s: output lacks %q:\n%s", c.container, w, out)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n) {
				t.Errorf("container %s: output has %q:\n%s", c.container, n, out)
			}
		}
	}
}

// TestRunAsNonRoot: a root image under runAsNonRoot is refused with the
// kubelet's reason and message, and so is runAsUser 0; a numeric non-root
// user runs.
func TestRunAsNonRoot(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: nonroot
spec:
  securityContext:
    runAsNonRoot: true
  containers:
  - name: image-root
    image: %[1]s
    command: ["sleep", "1000"]
  - name: uid-zero
    image: %[1]s
    command: ["sleep", "1000"]
    securityContext: {runAsUser: 0}
  - name: ok
    image: %[1]s
    command: ["sleep", "1000"]
    securityContext: {runAsUser: 1000}
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "nonroot", "--now")
	want := map[string]string{
		"image-root": "container has runAsNonRoot and image will run as root (pod: \"nonroot_default(",
		"uid-zero":   "container's runAsUser breaks non-root policy (pod: \"nonroot_default(",
	}
	p := e.waitFor(t, "nonroot", 60*time.Second, "refused", func(p *corev1.Pod) bool {
		n := 0
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
				n++
			}
			if c.Name == "ok" && c.State.Running != nil {
				n++
			}
		}
		return n == 3
	})
	for _, c := range p.Status.ContainerStatuses {
		if w, ok := want[c.Name]; ok && !strings.Contains(c.State.Waiting.Message, w) {
			t.Errorf("container %s: message %q, want it to contain %q", c.Name, c.State.Waiting.Message, w)
		}
	}
	found := false
	for _, ev := range e.events(t, p.UID) {
		if ev.Reason == "Failed" && strings.HasPrefix(ev.Message, "Error: container has runAsNonRoot and image will run as root") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Failed event with the kubelet's runAsNonRoot message")
	}
}

// TestShareProcessNamespace: shared, a container sees its sibling's
// processes and the pause as PID 1; not shared, its first process is PID 1.
func TestShareProcessNamespace(t *testing.T) {
	t.Parallel()
	e := shared
	pod := func(name string, share bool) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  shareProcessNamespace: %v
  containers:
  - name: sleeper
    image: %[3]s
    command: ["sleep", "4242"]
  - name: looker
    image: %[3]s
    command: ["sh", "-c", "echo self=$$$$; echo one=$(cat /proc/1/cmdline | tr '\\0' ' '); ps -o args; sleep 1000"]
`, name, share, busyboxRef)
	}
	e.apply(t, pod("pidshared", true))
	e.apply(t, pod("pidprivate", false))
	defer e.run(t, nil, "delete", "pod", "pidshared", "pidprivate", "--now")
	for _, name := range []string{"pidshared", "pidprivate"} {
		e.waitFor(t, name, 60*time.Second, "Running", running)
	}
	var shared, private string
	eventually(t, 30*time.Second, func() string {
		shared, private = e.ok(t, "logs", "pidshared", "-c", "looker"), e.ok(t, "logs", "pidprivate", "-c", "looker")
		if !strings.Contains(shared, "sleep 4242") || !strings.Contains(private, "self=") {
			return "logs incomplete"
		}
		return ""
	})
	if !strings.Contains(shared, "one=/pause") || strings.Contains(shared, "self=1\n") {
		t.Errorf("shared PID namespace: want the pause as PID 1 and the sibling's sleep visible:\n%s", shared)
	}
	if !strings.Contains(private, "self=1\n") || strings.Contains(private, "sleep 4242") {
		t.Errorf("private PID namespaces: want the shell as PID 1 and no sibling processes:\n%s", private)
	}
}

// TestHostnameSubdomain: hostname and subdomain set the container's
// hostname and the FQDN line of /etc/hosts, as the kubelet writes it.
func TestHostnameSubdomain(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: named
spec:
  hostname: h1
  subdomain: sub
  restartPolicy: Never
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "hostname; cat /etc/hosts"]
`, busyboxRef))
	defer e.run(t, nil, "delete", "pod", "named", "--now")
	e.waitFor(t, "named", 60*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	out := e.ok(t, "logs", "named")
	if !strings.HasPrefix(out, "h1\n") || !regexpMatch(`(?m)^10\.88\.\d+\.\d+\th1\.sub\.default\.svc\.cluster\.local\th1$`, out) {
		t.Errorf("hostname and /etc/hosts:\n%s", out)
	}
}

// TestLongPodNameHostname: a pod name longer than a hostname may be (63
// characters) gives the kubelet's truncated hostname, the same in the
// sandbox (hostname) and in /etc/hostname.
func TestLongPodNameHostname(t *testing.T) {
	t.Parallel()
	e := shared
	name := "long-" + strings.Repeat("abcdefghi-", 7) + "end"
	want := strings.TrimRight(name[:63], "-.")
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "hostname; cat /etc/hostname"]
`, name, busyboxRef))
	defer e.run(t, nil, "delete", "pod", name, "--now")
	e.waitFor(t, name, 60*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if out := e.ok(t, "logs", name); out != want+"\n"+want+"\n" {
		t.Errorf("hostname, then /etc/hostname: %q, want %q twice", out, want)
	}
}

// TestRefusedIsolationBreakers: privileged and host namespaces are refused
// at apply time, saying why, and nothing is created.
func TestRefusedIsolationBreakers(t *testing.T) {
	t.Parallel()
	e := shared
	r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: breaker
spec:
  hostNetwork: true
  hostPID: true
  containers:
  - name: main
    image: %s
    securityContext: {privileged: true}
`, busyboxRef))
	if r.code == 0 {
		t.Fatalf("apply of a privileged, hostNetwork pod succeeded")
	}
	for _, w := range []string{"spec.hostNetwork: Forbidden", "spec.hostPID: Forbidden", "spec.containers[0].securityContext.privileged: Forbidden", "gVisor sandbox"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("apply error lacks %q:\n%s", w, r.stderr)
		}
	}
	if g := e.run(t, nil, "get", "pod", "breaker"); g.code == 0 {
		t.Errorf("a refused pod exists: %s", g.stdout)
	}
}
