package sandbox

import (
	"context"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/urpc"
)

// This file runs a command in a container over the sandbox's control socket,
// as `runsc exec` does but without starting a runsc process for it. A runsc
// process costs about 20 ms of CPU (a 40 MB binary loaded, its flags and
// state file read), which is the whole cost of an exec probe: 50 pods probed
// every second kept a core busy. Over the socket the same exec is two calls
// (ExecuteAsync, then WaitPID) on the sentry's control server; the sentry
// itself fills in what runsc exec leaves to it (the container's mount and PID
// namespaces, cgroup, rlimits and seccomp filter, HOME).
//
// TTY execs still go through `runsc exec --console-socket`: runsc forwards
// signals to the terminal's foreground process group and owns the pty.

// Control calls of runsc's boot.containerManager (runsc/boot/controller.go).
const (
	ctlExecuteAsync = "containerManager.ExecuteAsync"
	ctlWaitPID      = "containerManager.WaitPID"
	ctlSignal       = "containerManager.Signal"
)

// execArgs mirrors the JSON of gVisor's control.ExecArgs, the argument of
// containerManager.ExecuteAsync, for the fields runsc exec sets (see
// argsFromProcess in runsc/cmd/exec.go). The sentry's types cannot be
// imported without linking the sentry into podbox. The embedded
// urpc.FilePayload carries the process's stdio as SCM_RIGHTS; GuestFDs says
// which descriptor each file becomes.
type execArgs struct {
	Argv             []string        `json:"argv"`
	Envv             []string        `json:"envv"`
	WorkingDirectory string          `json:"wd"`
	KUID             uint32          `json:"KUID"`
	KGID             uint32          `json:"KGID"`
	ExtraKGIDs       []uint32        `json:"ExtraKGIDs"`
	NoNewPrivileges  bool            `json:"NoNewPrivileges"`
	Capabilities     *capabilitySets `json:"Capabilities"`
	SupportTTYs      bool            `json:"SupportTTYs"`
	ContainerID      string          `json:"ContainerID"`
	GuestFDs         []int           `json:"GuestFDs"`
	urpc.FilePayload
}

// capabilitySets mirrors auth.TaskCapabilities: one bit per capability.
type capabilitySets struct {
	PermittedCaps   uint64
	InheritableCaps uint64
	EffectiveCaps   uint64
	BoundingCaps    uint64
	AmbientCaps     uint64
}

// waitPIDArgs mirrors boot.WaitPIDArgs.
type waitPIDArgs struct {
	PID int32  `json:"PID"`
	CID string `json:"CID"`
}

// signalArgs mirrors boot.SignalArgs; mode 0 is DeliverToProcess.
type signalArgs struct {
	CID   string `json:"CID"`
	Signo int32  `json:"Signo"`
	PID   int32  `json:"PID"`
	Mode  int    `json:"Mode"`
}

// Stdio is what an exec'd process gets as descriptors 0, 1 and 2. The files
// are sent to the sentry, which keeps its own copies: the caller may close
// them once Exec has started the process.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// Exec runs process p in container containerID of sandbox sandboxID and
// returns its exit status as a shell reports it (128+n for signal n), which
// is also what `runsc exec` exits with. When ctx ends first, the process is
// killed and ctx's error returned. p.Terminal must be false (see the file
// comment).
func (r *Runsc) Exec(ctx context.Context, sandboxID, containerID string, p *specs.Process, stdio Stdio) (int, error) {
	if p.Terminal {
		return -1, fmt.Errorf("exec in %s: a terminal needs runsc exec --console-socket", containerID)
	}
	args, err := newExecArgs(containerID, p, stdio)
	if err != nil {
		return -1, err
	}
	c, err := r.control(sandboxID)
	if err != nil {
		return -1, err
	}
	defer c.Close()
	var pid int32
	if err := c.Call(ctlExecuteAsync, args, &pid); err != nil {
		return -1, fmt.Errorf("exec %q in container %s: %w", args.Argv, containerID, err)
	}
	return r.waitExec(ctx, c, sandboxID, containerID, pid)
}

func newExecArgs(containerID string, p *specs.Process, stdio Stdio) (*execArgs, error) {
	caps, err := capabilitySetsOf(p.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", containerID, err)
	}
	args := &execArgs{
		Argv:             p.Args,
		Envv:             p.Env,
		WorkingDirectory: p.Cwd,
		KUID:             p.User.UID,
		KGID:             p.User.GID,
		ExtraKGIDs:       p.User.AdditionalGids,
		NoNewPrivileges:  p.NoNewPrivileges,
		Capabilities:     caps,
		SupportTTYs:      true,
		ContainerID:      containerID,
	}
	for fd, f := range []*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr} {
		if f != nil {
			args.GuestFDs = append(args.GuestFDs, fd)
			args.Files = append(args.Files, f)
		}
	}
	return args, nil
}

// waitExec waits for the exec'd process pid over c. WaitPID blocks the
// connection; if ctx ends first, the process is killed over another one,
// which ends the wait.
func (r *Runsc) waitExec(ctx context.Context, c *urpc.Client, sandboxID, containerID string, pid int32) (int, error) {
	stop := context.AfterFunc(ctx, func() {
		if err := r.signalProcess(sandboxID, containerID, pid, unix.SIGKILL); err != nil {
			// The sandbox is unreachable: unblock the wait instead.
			// (Not c.Close: it waits for the call in progress.)
			c.Socket.Close()
		}
	})
	defer stop()
	var ws unix.WaitStatus
	err := c.Call(ctlWaitPID, &waitPIDArgs{PID: pid, CID: containerID}, &ws)
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	if err != nil {
		return -1, fmt.Errorf("wait for exec'd process %d in container %s: %w", pid, containerID, err)
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

func (r *Runsc) signalProcess(sandboxID, containerID string, pid int32, sig unix.Signal) error {
	c, err := r.control(sandboxID)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(ctlSignal, &signalArgs{CID: containerID, Signo: int32(sig), PID: pid}, nil)
}

// capabilitySetsOf turns OCI capability names into the sentry's bit sets,
// as runsc's specutils.Capabilities does (podbox runs runsc with --net-raw,
// so CAP_NET_RAW is not filtered out).
func capabilitySetsOf(lc *specs.LinuxCapabilities) (*capabilitySets, error) {
	if lc == nil {
		// runsc exec would fall back to the container's set; podbox
		// always states the set (ExecProcess), so this is a bug.
		return nil, fmt.Errorf("the process spec has no capabilities")
	}
	var sets capabilitySets
	for _, s := range []struct {
		names []string
		set   *uint64
	}{
		{lc.Permitted, &sets.PermittedCaps},
		{lc.Inheritable, &sets.InheritableCaps},
		{lc.Effective, &sets.EffectiveCaps},
		{lc.Bounding, &sets.BoundingCaps},
		{lc.Ambient, &sets.AmbientCaps},
	} {
		for _, name := range s.names {
			c, ok := linux.CapabilityFromString(name)
			if !ok {
				return nil, fmt.Errorf("unknown capability %q", name)
			}
			*s.set |= 1 << uint(c)
		}
	}
	return &sets, nil
}
