// Package cri is the supervisor's view of a container runtime, shaped after
// the Kubernetes CRI's RuntimeService (k8s.io/cri-api): the supervisor is the
// kubelet (policy: restarts, probes, hooks, status, grace periods), a Runtime
// does the mechanics (sandboxes, container instances, the pod network, logs,
// terminals, memory enforcement).
//
// The package holds only types and the interface. The gVisor runtime is
// package cri/gvisor; an in-memory fake for tests is package cri/fake.
//
// Containers are instances: each start of a container is a new instance
// with an ID of its own (ContainerID), which is never reused. The
// supervisor keeps the instance IDs in its records, so a supervisor that
// replaced a crashed one can name the instances it adopts.
package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/sandbox"
)

// Runtime runs pod sandboxes and their container instances. It is safe
// for concurrent use. Methods that name an instance or sandbox the runtime
// does not know fail, except where they are documented as idempotent.
type Runtime interface {
	// Recover is called once, before any other method, with the sandboxes
	// of the pods the supervisor has records of. It removes every sandbox
	// the runtime finds that is not one of them, or that is one of them but
	// cannot be adopted; with adopt (the supervisor replaces a crashed one
	// in the same namespaces), the known sandboxes still running are kept
	// and returned by ID, for AdoptPodSandbox. The PodIP of each known
	// sandbox that has one stays reserved for it, so that a pod started
	// again keeps its address and no new pod gets it.
	Recover(ctx context.Context, known []*SandboxConfig, adopt bool) (running map[string]bool, err error)

	// ReserveHostPorts binds the host ports of a pod about to be created,
	// so that a port taken already is refused before anything of the pod
	// exists. RunPodSandbox serves them; StopPodSandbox releases them.
	ReserveHostPorts(ctx context.Context, sandboxID string, pod *corev1.Pod) error

	// RunPodSandbox makes the pod's sandbox: its network namespace, its
	// address on the pod network, its host ports, its /etc/hosts,
	// /etc/hostname and /etc/resolv.conf, and the sandbox itself with its
	// pause container (which also makes the pids-capped cgroups of
	// cfg.FirstInstances); then the runtime's memory enforcement starts.
	// Its errors read as the user should see them.
	RunPodSandbox(ctx context.Context, cfg *SandboxConfig) (*SandboxStatus, error)
	// AdoptPodSandbox takes over a sandbox that Recover reported running:
	// its host ports are served again and memory enforcement starts. Its
	// network and address (cfg.PodIP) are still in place.
	AdoptPodSandbox(ctx context.Context, cfg *SandboxConfig) (*SandboxStatus, error)
	// StopPodSandbox deletes the sandbox's container instances and the
	// sandbox, which ends whatever still runs in them, stops memory
	// enforcement, and removes the pod's network (veth, host ports,
	// network namespace). The pod's address stays reserved. The instances'
	// exits, with their logs complete, are WaitContainer's to report. It
	// is idempotent.
	StopPodSandbox(ctx context.Context, sandboxID string) error
	// RemovePodSandbox releases what is left of a stopped sandbox: its
	// address and its cgroup. It is idempotent.
	RemovePodSandbox(ctx context.Context, sandboxID string) error

	// StartContainer creates and starts an instance of a container in a
	// running sandbox (the CRI's CreateContainer and StartContainer in one,
	// as runsc run does both) and returns the instance's ID. The instance's
	// output goes to cfg.LogPath in the CRI log format.
	StartContainer(ctx context.Context, sandboxID string, cfg *ContainerConfig) (string, error)
	// AdoptContainer takes over an instance a crashed predecessor started
	// (id from the supervisor's record; cfg as at its start, as far as it
	// is known: its output is still being logged). It fails if the
	// instance cannot be found, but the instance is registered anyway:
	// WaitContainer then reports it lost.
	AdoptContainer(ctx context.Context, sandboxID, id string, cfg *ContainerConfig) error
	// StopContainer sends signal (a name such as "TERM", or a number) to
	// the instance's init process only, as the CRI's graceful stop does.
	StopContainer(ctx context.Context, id, signal string) error
	// KillContainer sends SIGKILL to every process of the instance.
	KillContainer(ctx context.Context, id string) error
	// WaitContainer blocks until the instance has exited and its output is
	// all in its log (or ctx ends), and reports how it ended. An instance
	// that can no longer be found (its sandbox is gone) reports exit code
	// 137, as the kubelet does. It may be called any number of times.
	WaitContainer(ctx context.Context, id string) (ExitStatus, error)
	// RemoveContainer deletes an exited instance and waits until its
	// output is all in its log. It is idempotent.
	RemoveContainer(ctx context.Context, id string) error

	// Exec runs cmd in a running instance with the instance's environment,
	// working directory and user, and returns its exit code. With st.TTY
	// it runs on a terminal.
	Exec(ctx context.Context, id string, cmd []string, st Streams) (int, error)
	// Attach connects st.Stdin (and, for a `tty: true` container, st.Resize)
	// to the instance's stdin or terminal until ctx ends. The instance's
	// output is not part of it: it is in the instance's log.
	Attach(ctx context.Context, id string, st Streams) error
	// PortForward connects to port on the pod's loopback. It fails with
	// ErrNotRunning when no instance of the sandbox is running.
	PortForward(ctx context.Context, sandboxID string, port uint16) (net.Conn, error)
	// Stats reads the resource use of the given running instances of a
	// sandbox; instances that have exited are left out.
	Stats(ctx context.Context, sandboxID string, ids []string) ([]ContainerStats, error)
	// Dial connects probes and lifecycle hooks to addr from the pod
	// network (net.Dialer.DialContext's shape).
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
}

// ErrNotRunning says that nothing of a sandbox runs that could serve a
// request.
var ErrNotRunning = errors.New("not running")

// SandboxConfig is what a runtime needs to know of a pod.
type SandboxConfig struct {
	// ID is the sandbox's ID; every instance's ID begins with it.
	ID string
	// Pod is the pod as created (metadata and spec). The runtime reads its
	// hostname, DNS settings, host aliases, host ports, resources,
	// shareProcessNamespace and process cap annotation.
	Pod *corev1.Pod
	// Dir is the pod's directory, where the runtime keeps the sandbox's
	// files (bundles, overlay, network files, runtime log).
	Dir string
	// PodIP is the address the pod had, kept if it is still reserved for
	// the pod (a pod started again after a supervisor restart, or
	// adopted); "" for none.
	PodIP string
	// Annotations are added to the sandbox's (pause container's) spec:
	// the volumes' mount hints.
	Annotations map[string]string
	// FirstInstances are the instances the pod's containers start next,
	// whose cgroups the sandbox makes as it boots.
	FirstInstances []Instance
	// Warn, if set, receives the runtime's warnings about the pod, to be
	// shown as events (reason OOMKilling when memory enforcement kills a
	// container).
	Warn func(reason, message string)
}

// Instance names one instance of a container: its start number attempt
// (the container's restart count when it started).
type Instance struct {
	Name    string
	Attempt int32
}

// SandboxStatus is a running sandbox.
type SandboxStatus struct {
	ID string
	// PodIP is the pod's address and HostIP the host's on the pod network;
	// both "" when the pod network is unavailable (loopback only).
	PodIP, HostIP string
}

// ContainerConfig is one instance of a container to start.
type ContainerConfig struct {
	Name    string
	Attempt int32
	// Image is the image's reference; Rootfs its unpacked tree.
	Image, Rootfs string
	// Process is what the instance runs, as whom.
	Process sandbox.Process
	// Mounts are the container's own mounts (its volumes).
	Mounts []specs.Mount
	// TerminationMessagePath, when set, is where the container sees the
	// host file TerminationFile (writable).
	TerminationMessagePath, TerminationFile string
	// TTY gives the instance a terminal; Stdin keeps its stdin open for
	// attach, StdinOnce closes it when the first attach ends.
	TTY, Stdin, StdinOnce bool
	// LogPath is the instance's CRI log file.
	LogPath string
}

// ExitStatus is how an instance ended.
type ExitStatus struct {
	ExitCode int32
	// OOMKilled is set when the runtime's memory enforcement killed it.
	OOMKilled bool
}

// ContainerStats is one instance's resource use.
type ContainerStats struct {
	ID string
	// CPU is the instance's cumulative CPU time.
	CPU time.Duration
	// MemoryBytes is its current memory use.
	MemoryBytes uint64
}

// Streams are the standard streams of an exec or attach session; nil ones
// are unused.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY runs the command on a terminal: its output (stdout and stderr
	// merged, as on any terminal) goes to Stdout, and Resize sets its size.
	TTY    bool
	Resize <-chan TermSize
}

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint16 }

// ContainerID is the ID of a container's instance:
// <sandbox ID>-<container name>.<attempt as 8 hex digits>.
//
// runsc resolves an ID it is given by prefix and refuses one that is a
// prefix of another container's (runsc/container/state_file.go,
// findContainerID: "id %q is ambiguous"), so kill, wait and delete of a
// container whose ID begins another's all fail. The old form
// <sandbox>-<name>-<restart> made `a` (…-a-0) a prefix of `a-0` (…-a-0-0)
// and `app` at restart 1 (…-app-1) one of `app-1` (…-app-1-0). In this form
// no instance's ID is a prefix of another's in the same sandbox: a
// container name is a DNS label and cannot hold the '.' that ends it, and
// the attempt after it has a fixed width. The sandbox (pause) ID itself
// begins them all; it is only named once its containers are deleted, or
// through `runsc list`.
func ContainerID(sandboxID, name string, attempt int32) string {
	return fmt.Sprintf("%s-%s.%08x", sandboxID, name, uint32(attempt))
}
