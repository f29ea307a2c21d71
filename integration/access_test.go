//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	corev1 "k8s.io/api/core/v1"
)

// shellPod runs a busybox container that only sleeps, for exec, cp and top.
func shellPod(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: %[2]s
    command: ["sh", "-c", "exec sleep 100000"]
`, name, busyboxRef)
}

// startShellPod applies a shellPod and waits for it to run.
func startShellPod(t *testing.T, e *env, name string) {
	t.Helper()
	if r := e.apply(t, shellPod(name)); r.code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", name, "--grace-period=1") })
	e.waitFor(t, name, 2*time.Minute, "running", running)
}

// terminal is podbox running on a pseudo-terminal, as in an interactive
// shell: what it prints is collected, and lines can be typed at it.
type terminal struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func (e *env) startOnTerminal(t *testing.T, rows, cols uint16, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "podbox"), args...)
	cmd.Env = e.environ()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, cmd: cmd, tty: f, done: make(chan struct{})}
	go func() {
		defer close(term.done)
		r := bufio.NewReader(f)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		f.Close()
	})
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

func (term *terminal) typeLine(s string) {
	term.t.Helper()
	if _, err := io.WriteString(term.tty, s+"\r"); err != nil {
		term.t.Fatal(err)
	}
}

// waitOutput waits until the output from offset on contains want.
func (term *terminal) waitOutput(offset int, want string) int {
	term.t.Helper()
	var at int
	eventually(term.t, time.Minute, func() string {
		out := term.output()
		if i := strings.Index(out[min(offset, len(out)):], want); i >= 0 {
			at = offset + i + len(want)
			return ""
		}
		return fmt.Sprintf("terminal output does not show %q:\n%s", want, out)
	})
	return at
}

// exitCode waits for podbox to exit and returns its status.
func (term *terminal) exitCode() int {
	term.t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- term.cmd.Wait() }()
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			term.t.Fatal(err)
		}
		return 0
	case <-time.After(time.Minute):
		term.t.Fatalf("podbox did not exit; terminal:\n%s", term.output())
	}
	return -1
}

func TestExecTTY(t *testing.T) {
	t.Parallel()
	e := shared
	startShellPod(t, e, "exec-tty")

	term := e.startOnTerminal(t, 30, 100, "exec", "-it", "exec-tty", "--", "sh")
	// gVisor gives the command the host pty's replica as an imported host
	// terminal, so it is a terminal (isatty, job control, sizes) but has no
	// /dev/pts name inside the sandbox: `tty` says "not a tty" there.
	term.typeLine("test -t 0 && test -t 1 && echo on-$((1+1))-terminal; stty size; echo term=$TERM")
	at := term.waitOutput(0, "on-2-terminal")
	at = term.waitOutput(at, "30 100")
	at = term.waitOutput(at, "term=xterm")

	// Resizing podbox's terminal resizes the command's.
	if err := pty.Setsize(term.tty, &pty.Winsize{Rows: 41, Cols: 123}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() string {
		term.typeLine("stty size")
		time.Sleep(300 * time.Millisecond)
		if strings.Contains(term.output()[at:], "41 123") {
			return ""
		}
		return "the new size did not reach the command:\n" + term.output()
	})
	// The terminal is raw on podbox's side: ^C goes to the remote shell
	// (which survives it) and does not kill podbox.
	io.WriteString(term.tty, "sleep 30\r")
	time.Sleep(500 * time.Millisecond)
	io.WriteString(term.tty, "\x03")
	term.typeLine("echo still-$((40+2))")
	term.waitOutput(at, "still-42")
	term.typeLine("exit 7")
	if code := term.exitCode(); code != 7 {
		t.Errorf("exec -it exited %d, want the shell's 7; terminal:\n%s", code, term.output())
	}

	// Without a terminal on podbox's side, -t is refused with kubectl's notice
	// and the command still runs.
	r := e.run(t, strings.NewReader("echo piped\n"), "exec", "-it", "exec-tty", "--", "sh")
	if r.code != 0 || !strings.Contains(r.stdout, "piped") || !strings.Contains(r.stderr, "Unable to use a TTY") {
		t.Errorf("exec -it without a terminal: %+v", r)
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	e := shared
	startShellPod(t, e, "cp")

	// A tree with modes, an empty directory and a symbolic link.
	src := filepath.Join(t.TempDir(), "tree")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "bin"), 0o755))
	must(os.Mkdir(filepath.Join(src, "private"), 0o700))
	must(os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o640))
	must(os.WriteFile(filepath.Join(src, "bin", "run.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755))
	must(os.Symlink("a.txt", filepath.Join(src, "link")))
	must(os.Chmod(filepath.Join(src, "a.txt"), 0o640))

	// Into an existing directory: the tree lands inside it.
	e.ok(t, "cp", src, "cp:/tmp")
	out := e.ok(t, "exec", "cp", "--", "sh", "-c",
		"cd /tmp/tree && stat -c '%a %n' a.txt bin/run.sh private && readlink link && cat link && bin/run.sh")
	for _, want := range []string{"640 a.txt", "755 bin/run.sh", "700 private", "a.txt\nalpha\nran"} {
		if !strings.Contains(out, want) {
			t.Errorf("in the container after cp to it: %q lacks %q", out, want)
		}
	}
	// To a new name: the tree is copied as that name.
	e.ok(t, "cp", src, "default/cp:/tmp/renamed")
	if out := e.ok(t, "exec", "cp", "--", "cat", "/tmp/renamed/a.txt"); out != "alpha\n" {
		t.Errorf("cp to a new name: %q", out)
	}

	// Back out: modes kept, the symlink skipped with kubectl's warning.
	e.ok(t, "exec", "cp", "--", "sh", "-c", "chmod 604 /tmp/tree/a.txt")
	dst := filepath.Join(t.TempDir(), "back")
	r := e.run(t, nil, "cp", "cp:/tmp/tree", dst)
	if r.code != 0 || !strings.Contains(r.stderr, "warning: skipping symlink") {
		t.Fatalf("cp from the pod: %+v", r)
	}
	for name, mode := range map[string]os.FileMode{"a.txt": 0o604, "bin/run.sh": 0o755, "private": 0o700 | os.ModeDir} {
		fi, err := os.Stat(filepath.Join(dst, name))
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s after cp from the pod: %v %v, want mode %v", name, fi.Mode(), err, mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "bin", "run.sh")); string(b) != "#!/bin/sh\necho ran\n" {
		t.Errorf("run.sh content %q", b)
	}
	// A single file into an existing local directory.
	e.ok(t, "cp", "cp:/tmp/tree/a.txt", dst+"/bin")
	if b, _ := os.ReadFile(filepath.Join(dst, "bin", "a.txt")); string(b) != "alpha\n" {
		t.Errorf("single file copy: %q", b)
	}
	// A missing path in the container fails.
	if r := e.run(t, nil, "cp", "cp:/no/such", dst+"/x"); r.code == 0 {
		t.Errorf("cp of a missing path succeeded: %+v", r)
	}
}

func TestTop(t *testing.T) {
	t.Parallel()
	e := shared
	if r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: top
  labels: {app: top}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: busy
    image: %[1]s
    command: ["sh", "-c", "while :; do :; done"]
  - name: idle
    image: %[1]s
    command: ["sh", "-c", "exec sleep 100000"]
`, busyboxRef)); r.code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", "top", "--grace-period=1") })
	e.waitFor(t, "top", 2*time.Minute, "running", running)

	logDaemonOnFailure(t, e)
	out := e.ok(t, "top", "pod", "top", "--containers")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "POD NAME CPU(cores) MEMORY(bytes)" {
		t.Fatalf("top pod --containers:\n%s", out)
	}
	cpu := map[string]int{}
	for _, l := range lines[1:] {
		var pod, name string
		var milli, mi int
		if _, err := fmt.Sscanf(strings.Join(strings.Fields(l), " "), "%s %s %dm %dMi", &pod, &name, &milli, &mi); err != nil {
			t.Fatalf("row %q: %v", l, err)
		}
		cpu[name] = milli
	}
	// A busy loop uses a good part of a core even on a loaded machine; a
	// sleeping shell next to it almost nothing.
	if cpu["busy"] < 100 || cpu["idle"] > cpu["busy"]/4 {
		t.Errorf("CPU: busy %dm, idle %dm\n%s", cpu["busy"], cpu["idle"], out)
	}

	// The pod row, by label, across namespaces.
	out = e.ok(t, "top", "pod", "-A", "-l", "app=top")
	if f := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1]); len(f) != 4 || f[0] != "default" || f[1] != "top" || !strings.HasSuffix(f[3], "Mi") {
		t.Errorf("top pod -A -l app=top:\n%s", out)
	}
	r := e.run(t, nil, "top", "pod", "no-such-pod")
	if r.code == 0 || !strings.Contains(r.stderr, `podmetrics.metrics.k8s.io "default/no-such-pod" not found`) {
		t.Errorf("top of a missing pod: %+v", r)
	}
}

func TestStaticPods(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, false)
	logDaemonOnFailure(t, e)
	dir := filepath.Join(e.home, ".config", "podbox", "manifests")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeManifest := func(file, content string) {
		t.Helper()
		// Written beside and renamed, as editors and config tools do.
		tmp := filepath.Join(dir, ".tmp-"+file)
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, file)); err != nil {
			t.Fatal(err)
		}
	}
	static := func(greeting string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: %s
    env: [{name: GREETING, value: %q}]
    command: ["sh", "-c", "echo $GREETING; exec sleep 100000"]
`, busyboxRef, greeting)
	}
	// A file present before the daemon starts.
	writeManifest("web.yaml", static("hello"))
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	// waitPod waits for the static pod to exist and meet cond. Unlike
	// e.waitFor it lets the pod be absent for a while: a static pod whose
	// file changed is deleted before it is created again.
	waitPod := func(what string, cond func(*corev1.Pod) bool) *corev1.Pod {
		t.Helper()
		var p corev1.Pod
		eventually(t, 2*time.Minute, func() string {
			r := e.run(t, nil, "get", "pod", "static-web", "-o", "json")
			if r.code != 0 {
				return "no static pod: " + r.stderr
			}
			p = corev1.Pod{}
			if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
				return err.Error()
			}
			if !cond(&p) {
				return "static pod not " + what
			}
			return ""
		})
		return &p
	}
	p := waitPod("running", running)
	if p.Annotations["kubernetes.io/config.source"] != "file" || p.Annotations["kubernetes.io/config.hash"] == "" {
		t.Errorf("annotations of a static pod: %v", p.Annotations)
	}
	uid := p.UID

	// A changed file replaces the pod.
	writeManifest("web.yaml", static("changed"))
	p = waitPod("replaced and running", func(p *corev1.Pod) bool { return p.UID != uid && running(p) })
	eventually(t, time.Minute, func() string {
		if out := e.run(t, nil, "logs", "static-web").stdout; out != "changed\n" {
			return "logs of the replaced pod: " + out
		}
		return ""
	})
	uid = p.UID

	// Deleting it through the API only restarts it from its file.
	e.ok(t, "delete", "pod", "static-web")
	p = waitPod("recreated", func(p *corev1.Pod) bool { return p.UID != uid && running(p) })
	uid = p.UID

	// A restarted daemon resumes the same pod: not duplicated, not replaced.
	e.stopDaemon()
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	p = waitPod("running again", running)
	if p.UID != uid {
		t.Errorf("the daemon restart replaced the static pod (%s -> %s)", uid, p.UID)
	}
	if names := strings.Fields(e.ok(t, "get", "pods", "-A", "-o", "name")); len(names) != 1 {
		t.Errorf("pods after the restart: %v", names)
	}

	// A bad file is reported in the daemon's log; the daemon goes on.
	writeManifest("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: c, imagee: x}]}\n")
	eventually(t, time.Minute, func() string {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(e.runtime), "daemon.log"))
		if !strings.Contains(string(b), "bad manifest file") || !strings.Contains(string(b), "imagee") {
			return "the bad file is not reported in the daemon log"
		}
		return ""
	})

	// Removing the file removes the pod.
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() string {
		if r := e.run(t, nil, "get", "pod", "static-web"); r.code == 0 {
			return "the pod of a removed file still exists"
		}
		return ""
	})
}

// logDaemonOnFailure shows the supervisor's log when the test fails.
func logDaemonOnFailure(t *testing.T, e *env) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(filepath.Dir(e.runtime), "daemon.log"))
			t.Logf("daemon log:\n%s", b)
		}
	})
}

func TestRun(t *testing.T) {
	t.Parallel()
	e := shared

	// run --rm -i: stdin reaches the container, its exit code becomes
	// podbox's, and the pod is deleted afterwards.
	r := e.run(t, strings.NewReader("hello\n"), "run", "run-rm", "--image="+busyboxRef, "--restart=Never", "--rm", "-i",
		"--", "sh", "-c", "read x; echo got $x; exit 3")
	if r.code != 3 || !strings.Contains(r.stdout, "got hello") || !strings.Contains(r.stdout, `pod "run-rm" deleted`) {
		t.Errorf("run --rm -i: %+v", r)
	}
	if r := e.run(t, nil, "get", "pod", "run-rm"); r.code == 0 {
		t.Errorf("run --rm left the pod: %s", r.stdout)
	}

	// run without -i: the pod kubectl run makes.
	out := e.ok(t, "run", "run-web", "--image="+busyboxRef, "--env", "A=1", "--env=B=two", "--port=8080",
		"--labels=app=web,tier=front", "--command", "--", "sh", "-c", "exec sleep 100000")
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", "run-web", "--grace-period=1") })
	if out != "pod/run-web created\n" {
		t.Errorf("run: %q", out)
	}
	p := e.waitFor(t, "run-web", 2*time.Minute, "running", running)
	c := p.Spec.Containers[0]
	if p.Labels["app"] != "web" || p.Labels["tier"] != "front" || p.Spec.RestartPolicy != corev1.RestartPolicyAlways ||
		c.Name != "run-web" || strings.Join(c.Command, " ") != "sh -c exec sleep 100000" || len(c.Args) != 0 ||
		len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || len(c.Env) != 2 || c.Env[1].Value != "two" {
		t.Errorf("run made: labels %v restart %s container %+v", p.Labels, p.Spec.RestartPolicy, c)
	}
	if out := e.ok(t, "get", "pods", "-l", "run=run-web", "-o", "name"); out != "" {
		t.Errorf("--labels replaces run=NAME, as in kubectl; got %q", out)
	}

	// Bad flags are refused before anything is created.
	for _, args := range [][]string{
		{"run", "bad", "--image=" + busyboxRef, "--restart=Sometimes"},
		{"run", "bad", "--image=" + busyboxRef, "--rm"},
		{"run", "bad"},
		{"run", "bad", "--image=" + busyboxRef, "--env", "NOEQUALS"},
	} {
		if r := e.run(t, nil, args...); r.code == 0 {
			t.Errorf("%v succeeded: %+v", args, r)
		}
	}
	if r := e.run(t, nil, "get", "pod", "bad"); r.code == 0 {
		t.Error("a refused run created its pod")
	}
}

// TestAttachStdinSurvivesSupervisorCrash: a container with stdin: true
// keeps its stdin across a crash of the supervisor; attach -i after the
// adoption still talks to the same process.
func TestAttachStdinSurvivesSupervisorCrash(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, true)
	logDaemonOnFailure(t, e)
	if r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: echo
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: %s
    stdin: true
    command: ["sh", "-c", "while read l; do echo \"echo:$l\"; [ \"$l\" = quit ] && exit 4; done; echo eof"]
`, busyboxRef)); r.code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	before := e.waitFor(t, "echo", 2*time.Minute, "running", running)

	// The first attach ends when its input does; stdin stays open (no
	// stdinOnce), so the container goes on reading.
	term := e.startOnTerminal(t, 24, 80, "attach", "-i", "echo")
	io.WriteString(term.tty, "one\r")
	term.waitOutput(0, "echo:one")
	term.cmd.Process.Kill()
	term.exitCode()

	holder := childOf(e.daemon.Process.Pid)
	sup := childOf(atoi(holder))
	if err := syscall.Kill(atoi(sup), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() string {
		if now := childOf(atoi(holder)); now == "" || now == sup {
			return "the supervisor was not replaced"
		}
		if r := e.run(t, nil, "get", "pod", "echo"); r.code != 0 {
			return "the new supervisor does not answer yet"
		}
		return ""
	})

	r := e.run(t, strings.NewReader("two\nquit\n"), "attach", "-i", "echo")
	if r.code != 0 || !strings.Contains(r.stdout, "echo:two") || !strings.Contains(r.stdout, "echo:quit") {
		t.Errorf("attach after the supervisor crash: %+v", r)
	}
	after := e.waitFor(t, "echo", time.Minute, "terminated", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	st := after.Status.ContainerStatuses[0]
	if st.ContainerID != before.Status.ContainerStatuses[0].ContainerID || st.State.Terminated.ExitCode != 4 {
		t.Errorf("the container was replaced or ended otherwise: %+v", st)
	}
	if logs := e.ok(t, "logs", "echo"); !strings.Contains(logs, "echo:one\necho:two\necho:quit") || strings.Contains(logs, "eof") {
		t.Errorf("log: %q", logs)
	}
}

// TestTTYContainer: a container with tty: true gets a terminal; attach -it
// types into it, resizes it, and its output is logged.
func TestTTYContainer(t *testing.T) {
	t.Parallel()
	e := shared
	logDaemonOnFailure(t, e)
	if r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: tty
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: %s
    stdin: true
    tty: true
    command: ["sh"]
`, busyboxRef)); r.code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", "tty", "--grace-period=1") })
	e.waitFor(t, "tty", 2*time.Minute, "running", running)

	term := e.startOnTerminal(t, 30, 90, "attach", "-it", "tty")
	term.waitOutput(0, "If you don't see a command prompt")
	term.typeLine("test -t 0 && echo on-$((1+1))-terminal; stty size")
	at := term.waitOutput(0, "on-2-terminal")
	at = term.waitOutput(at, "30 90")
	if err := pty.Setsize(term.tty, &pty.Winsize{Rows: 33, Cols: 101}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() string {
		term.typeLine("stty size")
		time.Sleep(300 * time.Millisecond)
		if strings.Contains(term.output()[at:], "33 101") {
			return ""
		}
		return "the new size did not reach the container:\n" + term.output()
	})
	term.typeLine("exit 5")
	if code := term.exitCode(); code != 0 {
		t.Errorf("attach exited %d; terminal:\n%s", code, term.output())
	}
	p := e.waitFor(t, "tty", time.Minute, "terminated", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if code := p.Status.ContainerStatuses[0].State.Terminated.ExitCode; code != 5 {
		t.Errorf("exit code %d, want 5", code)
	}
	if logs := e.ok(t, "logs", "tty"); !strings.Contains(logs, "on-2-terminal") {
		t.Errorf("the terminal's output is not in the log: %q", logs)
	}

	// run -it --rm: a shell on a terminal, its exit code is podbox's.
	term = e.startOnTerminal(t, 24, 80, "run", "-it", "--rm", "--restart=Never", "run-tty", "--image="+busyboxRef, "--", "sh")
	term.waitOutput(0, "If you don't see a command prompt")
	term.typeLine("echo in-$((2+3))")
	term.waitOutput(0, "in-5")
	term.typeLine("exit 6")
	if code := term.exitCode(); code != 6 {
		t.Errorf("run -it --rm exited %d, want 6; terminal:\n%s", code, term.output())
	}
	// The line is printed just before podbox exits; the terminal's reader
	// may not have read it yet when the exit is seen.
	term.waitOutput(0, `pod "run-tty" deleted`)
}
