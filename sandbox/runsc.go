package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// gvisorModule is the Go module runsc is built from.
const gvisorModule = "gvisor.dev/gvisor"

// WantVersion is the gVisor version podbox was built against. The Makefile
// sets it with -ldflags; otherwise it is read from the build info.
var WantVersion = ""

// ExpectedVersion returns the gVisor version runsc must report.
func ExpectedVersion() string {
	if WantVersion != "" {
		return WantVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == gvisorModule {
				return dep.Version
			}
		}
	}
	return ""
}

// LocateRunsc finds runsc: next to the podbox executable first (how `make`
// and `make install` lay it out), then on PATH.
func LocateRunsc() (string, error) { return locate("runsc") }

// LocatePause finds podbox-pause, the pods' root process, the same way.
func LocatePause() (string, error) { return locate("podbox-pause") }

func locate(name string) (string, error) {
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			p := filepath.Join(filepath.Dir(exe), name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found next to the podbox executable or on PATH\n  fix: run `make` (builds bin/%s beside bin/podbox) or `make install`", name, name)
}

// Version runs `runsc --version` and returns the version it reports.
func Version(path string) (string, error) {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "runsc version "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s --version printed no version: %q", path, out)
}

// CheckVersion refuses a runsc built from another gVisor version than podbox:
// podbox relies on that version's flags, annotations and behaviour.
func CheckVersion(path string) error {
	want := ExpectedVersion()
	got, err := Version(path)
	if err != nil {
		return err
	}
	if want == "" || got == want {
		return nil
	}
	return fmt.Errorf("%s is runsc %s, but podbox needs runsc from gVisor %s\n  fix: rebuild it with `make` (CGO_ENABLED=0 go build gvisor.dev/gvisor/runsc at the version in go.mod) or put the matching runsc next to podbox", path, got, want)
}

// Runsc runs runsc commands with one set of global flags.
type Runsc struct {
	// Path of the runsc binary.
	Path string
	// Root is runsc's --root (state files and control sockets).
	Root string
	// OverlayDir receives the sandbox's rootfs overlay files
	// (--overlay2=root:dir=...); commands that create nothing leave it empty.
	OverlayDir string
	// LogFile collects runsc's own log (--log), for diagnosing failures.
	LogFile string
}

func (r *Runsc) args(cmd ...string) []string {
	a := []string{
		"--root=" + r.Root,
		"--ignore-cgroups",
		"--network=sandbox",
		// A go-built runsc has no sidecar binaries; booting from the same
		// binary is this pinned version's supported fallback.
		"--sidecar-usage-policy=LEGACY_DEPRECATED_SLOW_EMBEDDED_FALLBACK",
		// A hostPath volume of type Socket is there to be connected to
		// (docker.sock, /dev/log …); the gofer refuses host sockets unless
		// told. Only sockets the user bind-mounts can be reached, and the
		// user can connect to them anyway.
		"--host-uds=open",
		// A cgroup per container inside the sentry: per-container memory
		// accounting for the supervisor's limits (see cgroupMount).
		"--in-sandbox-cgroup=v2",
		// Raw sockets stay inside the sentry's netstack; with them, the
		// runtime default capability set (which has NET_RAW) and a
		// securityContext dropping NET_RAW mean what they mean on a
		// cluster. runsc strips CAP_NET_RAW from every container otherwise.
		"--net-raw",
	}
	if r.OverlayDir != "" {
		a = append(a, "--overlay2=root:dir="+r.OverlayDir)
	}
	if r.LogFile != "" {
		a = append(a, "--log="+r.LogFile)
	}
	return append(a, cmd...)
}

// Command returns an unstarted runsc command; callers that need stdio (start,
// exec) wire it themselves.
func (r *Runsc) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, r.Path, r.args(args...)...)
}

// run runs a runsc command to completion and returns its stdout; a failure
// carries runsc's stderr, which says what went wrong.
func (r *Runsc) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := r.Command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("runsc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// runWithLogStderr runs cmd with stdout on /dev/null and stderr appended to
// the runsc log, and explains a failure with the end of that log. They are
// files, never pipes: for the root (pause) container runsc donates its own
// stdio to the sandbox, so a pipe would never see EOF (the sandbox keeps the
// write end) and the command would never return.
func (r *Runsc) runWithLogStderr(cmd *exec.Cmd, what string) error {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	cmd.Stdin = null
	if cmd.Stdout == nil {
		cmd.Stdout = null
	}
	if r.LogFile != "" {
		logf, err := os.OpenFile(r.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer logf.Close()
		cmd.Stderr = logf
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("runsc %s: %w%s", what, err, r.logTail())
	}
	return nil
}

// logTail returns the last lines of the runsc log, to explain a failure.
func (r *Runsc) logTail() string {
	if r.LogFile == "" {
		return ""
	}
	b, err := os.ReadFile(r.LogFile)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return ":\n" + strings.Join(lines, "\n")
}

// Wait blocks until the container's init process exits and returns its exit
// status (128+signal for a signal, as a shell reports it).
func (r *Runsc) Wait(ctx context.Context, id string) (int, error) {
	out, err := r.run(ctx, "wait", id)
	if err != nil {
		return -1, err
	}
	var ws struct {
		ExitStatus int `json:"exitStatus"`
	}
	if err := json.Unmarshal(out, &ws); err != nil {
		return -1, fmt.Errorf("runsc wait %s: %q: %w", id, out, err)
	}
	return ws.ExitStatus, nil
}

// Kill sends a signal ("TERM", "KILL", or a number) to the container's init.
func (r *Runsc) Kill(ctx context.Context, id, signal string) error {
	_, err := r.run(ctx, "kill", id, signal)
	return err
}

// KillAll sends a signal to every process of the container (`runsc kill
// --all`), as the kubelet's runtime ends a whole container: with a PID
// namespace shared by the pod (shareProcessNamespace) a container's init is
// not its namespace's init, and its children outlive it unless signalled
// themselves. The sentry pauses its kernel while it delivers, so no process
// forks past the signal, and it still reaches the container's processes
// after its init has exited (runsc's signalRunning accepts a Stopped
// container), until the container is deleted.
func (r *Runsc) KillAll(ctx context.Context, id, signal string) error {
	_, err := r.run(ctx, "kill", "--all", id, signal)
	return err
}

// Delete removes a container's state, stopping it if it still runs.
func (r *Runsc) Delete(ctx context.Context, id string) error {
	_, err := r.run(ctx, "delete", "--force", id)
	return err
}

// State is the part of runsc's OCI state podbox reads.
type State struct {
	ID     string `json:"id"`
	Status string `json:"status"` // created, running, stopped
	Pid    int    `json:"pid"`    // the sandbox process
}

// State reports a container's state; errors.Is(err, ErrNotExist) when runsc
// does not know it.
func (r *Runsc) State(ctx context.Context, id string) (State, error) {
	var st State
	out, err := r.run(ctx, "state", id)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return st, fmt.Errorf("%w: %v", ErrNotExist, err)
		}
		return st, err
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("runsc state %s: %w", id, err)
	}
	return st, nil
}

// ErrNotExist is returned for containers runsc does not know.
var ErrNotExist = errors.New("container does not exist")

// States returns the state of every container in the root, by ID. Unlike
// `runsc state ID`, it is unambiguous for a sandbox whose subcontainers' IDs
// begin with its own (runsc matches IDs by prefix).
func (r *Runsc) States(ctx context.Context) (map[string]State, error) {
	out, err := r.run(ctx, "list", "--format=json")
	if err != nil {
		return nil, err
	}
	var list []State
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("runsc list: %w", err)
	}
	states := make(map[string]State, len(list))
	for _, st := range list {
		states[st.ID] = st
	}
	return states, nil
}

// List returns the IDs of all containers in the root.
func (r *Runsc) List(ctx context.Context) ([]string, error) {
	out, err := r.run(ctx, "list", "--quiet")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}
