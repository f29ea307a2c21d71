package gvisor

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/sandbox"
)

// Exec runs cmd in an instance, as CRI exec does, and returns its exit
// code. A terminal session goes through runsc exec (which owns the pty and
// forwards signals to its foreground process); everything else — probes,
// hooks, cp, exec without -t — through the sandbox's control socket, which
// costs no runsc process.
func (rt *Runtime) Exec(ctx context.Context, id string, cmd []string, st cri.Streams) (int, error) {
	inst, err := rt.instance(id)
	if err != nil {
		return -1, err
	}
	if !st.TTY {
		return execPipes(ctx, inst, cmd, st)
	}
	procFile, err := writeExecProcess(inst, cmd)
	if err != nil {
		return -1, err
	}
	defer os.Remove(procFile)
	return execTTY(ctx, inst, procFile, st)
}

// exitCode turns the outcome of a finished runsc exec into the command's
// exit code (runsc exec exits with it).
func exitCode(x *exec.Cmd, err error) (int, error) {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		return x.ProcessState.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// writeExecProcess writes the process file of a terminal session for
// runsc exec --process.
func writeExecProcess(inst *instance, cmd []string) (string, error) {
	p := sandbox.ExecProcess(inst.proc, cmd)
	sandbox.WithTerminal(p)
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Join(inst.sb.cfg.Dir, "bundles"), "exec-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.Write(b)
	return f.Name(), err
}

// PortForward connects to port on the pod's loopback (127.0.0.1 inside
// the sandbox's network stack), as kubectl port-forward does: services
// bound only to localhost in the pod are reachable too. The connection
// goes through runsc, since no host-side socket can reach the sandbox's
// loopback.
func (rt *Runtime) PortForward(ctx context.Context, sandboxID string, port uint16) (net.Conn, error) {
	// runsc port-forward matches IDs by prefix, and the sandbox's ID is a
	// prefix of its containers' IDs, so it names a running container
	// instead: all of the pod's containers share the sandbox's loopback.
	for _, inst := range rt.instancesOf(sandboxID) {
		if inst.running() {
			return inst.sb.runsc.PortForward(ctx, inst.id, port, rt.opts.Dirs.Runtime)
		}
	}
	return nil, cri.ErrNotRunning
}
