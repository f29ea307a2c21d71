//go:build integration

// Package integration runs podbox end to end, as a user would: the real
// podbox, runsc and podbox-pause binaries, real gVisor sandboxes started by
// the calling (unprivileged) user, and images pulled from an in-process
// registry that serves images built from testdata.
//
// Run with `make integration` (or `go test -tags integration ./integration/`
// with PODBOX_BIN pointing at a directory holding the three binaries).
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"podbox.dev/podbox/testdata/images"
)

// env is one podbox installation: its binaries, its own runtime and data
// directories, and the supervisor that serves them.
type env struct {
	bin     string
	runtime string
	data    string
	home    string
	daemon  *exec.Cmd
}

var (
	// shared is the installation most tests use, in parallel.
	shared *env
	// testAppRef and busyboxRef are images in the test registry.
	testAppRef, busyboxRef string
	// raceDir collects the race detector's reports of every podbox process
	// the suite starts (see environ): a supervisor's report lands in no
	// test's output, so TestMain fails the run when one is there.
	raceDir string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	bin := os.Getenv("PODBOX_BIN")
	if bin == "" {
		return 0, fmt.Errorf("PODBOX_BIN must name the directory with podbox, runsc and podbox-pause (make integration sets it)")
	}
	var err error
	if raceDir, err = os.MkdirTemp("/tmp", "pbit-race-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(raceDir)
	code, err := run(m, bin)
	if raceReports() > 0 && code == 0 {
		code = 1
	}
	return code, err
}

// run starts the registry and the shared installation and runs the tests;
// it returns when every podbox process it started has exited.
func run(m *testing.M, bin string) (int, error) {
	if os.Getuid() == 0 {
		fmt.Fprintln(os.Stderr, "warning: running the integration suite as root; podbox is meant to be proven rootless (CI runs it as an unprivileged user)")
	}
	host, stop, err := images.StartRegistry()
	if err != nil {
		return 0, err
	}
	defer stop()
	app, err := images.TestApp()
	if err != nil {
		return 0, err
	}
	if testAppRef, err = images.Push(host, "podbox/testapp:v1", app); err != nil {
		return 0, err
	}
	bb, err := images.Busybox()
	if err != nil {
		return 0, err
	}
	if busyboxRef, err = images.Push(host, "podbox/busybox:v1", bb); err != nil {
		return 0, err
	}
	shared, err = newEnv(bin)
	if err != nil {
		return 0, err
	}
	defer shared.close()
	if err := shared.startDaemon(); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// raceReports prints the reports of data races that podbox processes built
// with the race detector (make race) wrote, and returns how many processes
// wrote one.
func raceReports() int {
	reports, _ := filepath.Glob(filepath.Join(raceDir, "podbox.*"))
	for _, f := range reports {
		b, _ := os.ReadFile(f)
		fmt.Fprintf(os.Stderr, "--- race report of podbox process %s:\n%s\n", strings.TrimPrefix(filepath.Ext(f), "."), b)
	}
	if len(reports) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the race detector reported data races in %d podbox processes (above)\n", len(reports))
	}
	return len(reports)
}

// newEnv makes an installation with fresh directories. The runtime directory
// is short and under /tmp: unix socket paths are limited to 108 bytes.
func newEnv(bin string) (*env, error) {
	root, err := os.MkdirTemp("/tmp", "pbit-")
	if err != nil {
		return nil, err
	}
	e := &env{bin: bin, runtime: filepath.Join(root, "run"), data: filepath.Join(root, "data"), home: filepath.Join(root, "home")}
	return e, os.MkdirAll(e.home, 0o700)
}

// privateEnv makes an installation of the test's own, removed when the test
// ends; with start, its supervisor is running.
func privateEnv(t *testing.T, start bool) *env {
	t.Helper()
	e, err := newEnv(shared.bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	if start {
		if err := e.startDaemon(); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// writeNetworkConfig writes the installation's network.yaml; the daemon
// reads it when it starts.
func (e *env) writeNetworkConfig(t *testing.T, yaml string) {
	t.Helper()
	dir := filepath.Join(e.home, ".config", "podbox")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "network.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// environ is the environment of every podbox process the suite starts
// (and so of the daemons they start). GORACE matters only to a podbox built
// with -race: it writes its reports to raceDir, one file per process, keeps
// running after one, and exits at once (by default it sleeps a second
// first, which would make every command a second slower).
func (e *env) environ() []string {
	return append(os.Environ(),
		"XDG_RUNTIME_DIR="+e.runtime,
		"XDG_DATA_HOME="+e.data,
		"HOME="+e.home,
		"GORACE=log_path="+filepath.Join(raceDir, "podbox")+" halt_on_error=0 atexit_sleep_ms=0",
	)
}

// startDaemon runs `podbox daemon` in the foreground of a child process and
// waits until it answers.
func (e *env) startDaemon() error {
	e.daemon = exec.Command(filepath.Join(e.bin, "podbox"), "daemon")
	e.daemon.Env = e.environ()
	logf, err := os.Create(filepath.Join(filepath.Dir(e.runtime), "daemon.log"))
	if err != nil {
		return err
	}
	e.daemon.Stdout, e.daemon.Stderr = logf, logf
	if err := e.daemon.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(e.runtime, "podbox", "podbox.sock")); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(logf.Name())
	return fmt.Errorf("podbox daemon did not start:\n%s", b)
}

// stopDaemon stops the supervisor with SIGTERM, as a service manager would.
func (e *env) stopDaemon() {
	if e.daemon == nil || e.daemon.Process == nil {
		return
	}
	e.daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { e.daemon.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		e.daemon.Process.Kill()
		<-done
	}
	e.daemon = nil
}

func (e *env) close() {
	// Delete whatever a failed test left, then stop the supervisor.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	podbox := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "podbox"), args...)
		cmd.Env = e.environ()
		return cmd
	}
	if e.daemon != nil {
		out, _ := podbox("get", "pods", "-A", "-o", "name").Output()
		for _, n := range strings.Fields(string(out)) {
			podbox("delete", n, "--grace-period=1").Run()
		}
	}
	e.stopDaemon()
	os.RemoveAll(filepath.Dir(e.runtime))
}

// result is what one podbox command did.
type result struct {
	stdout, stderr string
	code           int
}

// run runs podbox with args (and stdin, if not nil) and returns its outcome.
func (e *env) run(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return e.runTool(t, filepath.Join(e.bin, "podbox"), 2*time.Minute, stdin, args...)
}

// runTool runs a program with e's environment (podbox, or a client such as
// kubectl) and returns its outcome; it fails the test if the program could
// not be run at all.
func (e *env) runTool(t *testing.T, path string, timeout time.Duration, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = e.environ()
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(path), strings.Join(args, " "), err)
	}
	return r
}

// ok runs podbox and fails the test unless it exits 0; it returns stdout.
func (e *env) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("podbox %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// apply writes manifest to a file and applies it.
func (e *env) apply(t *testing.T, manifest string) result {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return e.run(t, nil, "apply", "-f", f)
}

// getPod returns the pod as `get pod -o json` prints it.
func (e *env) getPod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal([]byte(e.ok(t, "get", "pod", name, "-o", "json")), &p); err != nil {
		t.Fatalf("get pod %s -o json is not a Pod: %v", name, err)
	}
	return &p
}

// events returns the events about the object with uid.
func (e *env) events(t *testing.T, uid types.UID) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	if err := json.Unmarshal([]byte(e.ok(t, "get", "events", "-A", "-o", "json")), &list); err != nil {
		t.Fatalf("get events -o json: %v", err)
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		if ev.InvolvedObject.UID == uid {
			out = append(out, ev)
		}
	}
	return out
}

// waitFor polls the pod until cond holds, failing after timeout.
func (e *env) waitFor(t *testing.T, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := e.getPod(t, name)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(p.Status, "", "  ")
			t.Fatalf("pod %s not %s after %s; status:\n%s", name, what, timeout, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if !c.Ready {
			return false
		}
	}
	return len(p.Status.ContainerStatuses) > 0
}

// eventually polls f until it returns "" (success) or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesMentioning returns the command lines of this user's processes
// whose arguments contain s.
func processesMentioning(s string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, s) {
			found = append(found, cmd)
		}
	}
	return found
}

// childOf returns the pid of a child process of pid, or "".
func childOf(pid int) string {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok && strings.TrimSpace(v) == strconv.Itoa(pid) {
				return e.Name()
			}
		}
	}
	return ""
}
