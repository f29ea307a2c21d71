//go:build integration

package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// impostor serves HTTP on sock as another local user's process would,
// answering every request 404 (so apply goes on to create), and records the
// connections it gets and whether a Secret's value reached it. The CLI must
// not even connect.
type impostor struct {
	conns  atomic.Int32
	leaked atomic.Bool
}

func serveImpostor(t *testing.T, sock string) *impostor {
	t.Helper()
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	imp := &impostor{}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if strings.Contains(string(b), "hunter2") {
				imp.leaked.Store(true)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404}`))
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				imp.conns.Add(1)
			}
		},
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return imp
}

const hijackSecret = `apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
`

// TestHardeningLocalRuntimeDirHijack: another local user who creates the
// runtime directory first (world-writable, or a symbolic link to a directory
// of theirs) with a listening podbox.sock must get nothing, not even a
// connection; the CLI refuses, naming the directory, what is wrong and the
// fix. (Without XDG_RUNTIME_DIR the directory is /tmp/podbox-UID; the test
// sets XDG_RUNTIME_DIR to its own directory and plants the same thing there.)
func TestHardeningLocalRuntimeDirHijack(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, rt string) (sock string, want []string){
		"world-writable": func(t *testing.T, rt string) (string, []string) {
			if err := os.MkdirAll(rt, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(rt, 0o777); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(rt, "podbox.sock"), []string{"mode is 0777"}
		},
		"symlink": func(t *testing.T, rt string) (string, []string) {
			theirs := filepath.Join(filepath.Dir(rt), "theirs")
			if err := os.MkdirAll(theirs, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(theirs, rt); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(theirs, "podbox.sock"), []string{"symbolic link"}
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := privateEnv(t, false)
			rt := filepath.Join(e.runtime, "podbox")
			if err := os.MkdirAll(e.runtime, 0o700); err != nil {
				t.Fatal(err)
			}
			sock, want := plant(t, rt)
			imp := serveImpostor(t, sock)
			r := e.apply(t, hijackSecret)
			if r.code == 0 {
				t.Errorf("apply succeeded through a planted runtime directory: %+v", r)
			}
			if imp.leaked.Load() {
				t.Errorf("the impostor received the Secret's value")
			}
			if n := imp.conns.Load(); n != 0 {
				t.Errorf("the impostor's socket got %d connections", n)
			}
			for _, w := range append(want, "refusing to use "+rt, "XDG_RUNTIME_DIR") {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not say %q", r.stderr, w)
				}
			}
			// The supervisor refuses to serve from such a directory too.
			if r := e.run(t, nil, "daemon"); r.code == 0 || !strings.Contains(r.stderr, "refusing to use "+rt) {
				t.Errorf("podbox daemon in a planted runtime directory: %+v", r)
			}
		})
	}
}

// TestHardeningLocalDaemonStop: `podbox daemon stop` stops the background
// supervisor and its pods and waits for them; with none running it says so
// and succeeds; the next command starts a supervisor again, which starts the
// pod again (README: "If podbox daemon itself is stopped, it stops its pods,
// and the next one starts them again").
func TestHardeningLocalDaemonStop(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, false)
	// Before e.close (cleanups run last-registered first): the supervisor
	// the commands start runs in the background, outside the harness.
	t.Cleanup(func() { e.run(t, nil, "daemon", "stop") })

	if r := e.run(t, nil, "daemon", "stop"); r.code != 0 || !strings.Contains(r.stdout, "podbox daemon is not running") {
		t.Errorf("daemon stop before any daemon ran: %+v", r)
	}
	if r := e.apply(t, twoContainerPod("stopme")); r.code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	before := e.waitFor(t, "stopme", 90*time.Second, "Running", running)
	sandbox := sandboxOf(t, before)
	if len(processesMentioning(sandbox)) == 0 {
		t.Fatalf("found no process of sandbox %s to watch", sandbox)
	}

	r := e.run(t, nil, "daemon", "stop")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "podbox daemon stopped" {
		t.Fatalf("daemon stop: %+v", r)
	}
	// When stop returns, the pods' sandboxes are gone and nothing answers.
	if procs := processesMentioning(sandbox); len(procs) > 0 {
		t.Errorf("processes of the pod's sandbox outlive daemon stop:\n%s", strings.Join(procs, "\n"))
	}
	if c, err := net.Dial("unix", filepath.Join(e.runtime, "podbox", "podbox.sock")); err == nil {
		c.Close()
		t.Errorf("the supervisor's socket still answers after daemon stop")
	}
	// The outer `podbox daemon` process exits just after the holder.
	eventually(t, 10*time.Second, func() string {
		if pids := daemonProcesses(e); len(pids) > 0 {
			return fmt.Sprintf("podbox daemon processes left after daemon stop: %v", pids)
		}
		return ""
	})
	if r := e.run(t, nil, "daemon", "stop"); r.code != 0 || !strings.Contains(r.stdout, "podbox daemon is not running") {
		t.Errorf("second daemon stop: %+v", r)
	}

	// The next command starts a supervisor, which starts the pod again.
	after := e.waitFor(t, "stopme", 90*time.Second, "Running again", running)
	if after.UID != before.UID {
		t.Errorf("pod identity changed across daemon stop: %s -> %s", before.UID, after.UID)
	}
	for _, c := range after.Status.ContainerStatuses {
		if c.RestartCount != 1 {
			t.Errorf("container %s restartCount = %d, want 1 (its sandbox was stopped)", c.Name, c.RestartCount)
		}
	}
}

// daemonProcesses returns the pids of the processes of e's supervisor
// (the outer `podbox daemon`, the namespace holder and the supervisor).
func daemonProcesses(e *env) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !strings.Contains(string(env), "XDG_RUNTIME_DIR="+e.runtime+"\x00") {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if strings.HasSuffix(string(cmdline), "daemon\x00") {
			pids = append(pids, d.Name())
		}
	}
	return pids
}

// TestHardeningLocalCpKeepsDestinationMode: copying a world-writable
// directory out of a pod into an existing private directory leaves that
// directory private (kubectl leaves an existing destination's mode alone);
// what cp creates gets the container's mode less the umask.
func TestHardeningLocalCpKeepsDestinationMode(t *testing.T) {
	t.Parallel()
	e := shared
	startShellPod(t, e, "cpmode")
	e.ok(t, "exec", "cpmode", "--", "sh", "-c",
		"mkdir -p /out/sub && echo hi > /out/sub/f && chmod 777 /out /out/sub && chmod 666 /out/sub/f")
	dest := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(dest, 0o700); err != nil {
		t.Fatal(err)
	}
	e.ok(t, "cp", "cpmode:/out", dest)
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("destination mode after cp: %v %v, want 0700 kept", fi.Mode(), err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "sub", "f")); err != nil || string(b) != "hi\n" {
		t.Fatalf("copied file: %q %v", b, err)
	}
	// The test process's umask applies to the podbox it runs.
	umask := currentUmask(t)
	for p, mode := range map[string]os.FileMode{"sub": 0o777, "sub/f": 0o666} {
		fi, err := os.Stat(filepath.Join(dest, p))
		if err != nil {
			t.Fatal(err)
		}
		if want := mode &^ umask; fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o (the container's less the umask %03o)", p, fi.Mode().Perm(), want, umask)
		}
	}
}

// currentUmask reads the umask from /proc (setting it to read it would
// race with the parallel tests creating files).
func currentUmask(t *testing.T) os.FileMode {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			var m uint32
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%o", &m); err == nil {
				return os.FileMode(m)
			}
		}
	}
	t.Fatal("no Umask in /proc/self/status")
	return 0
}
