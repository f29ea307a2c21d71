package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The CRI annotations runsc reads to assemble a pod from containers
// (runsc/specutils/cri.go); the same ones containerd sets on a cluster.
const (
	annContainerType = "io.kubernetes.cri.container-type"
	annSandboxID     = "io.kubernetes.cri.sandbox-id"
	annSandboxName   = "io.kubernetes.cri.sandbox-name"
	annSandboxNS     = "io.kubernetes.cri.sandbox-namespace"
	annSandboxUID    = "io.kubernetes.cri.sandbox-uid"
	annContainerName = "io.kubernetes.cri.container-name"
	annImageName     = "io.kubernetes.cri.image-name"
)

// Pod identifies the pod a sandbox belongs to.
type Pod struct {
	// ID is the sandbox (and pause container) ID in runsc.
	ID        string
	Name      string
	Namespace string
	UID       string
	// Hostname is what every container of the pod sees as its hostname.
	Hostname string
	// NetNS is the path of the pod's pinned network namespace.
	NetNS string
	// Mounts are added to every app container (e.g. the pod's /etc/hosts).
	Mounts []specs.Mount
	// SharePID is shareProcessNamespace: the containers share the pause
	// container's PID namespace instead of having one each.
	SharePID bool
}

// Process is what a container runs and as whom.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
	UID  uint32
	GID  uint32
	// AdditionalGids are supplementary groups.
	AdditionalGids []uint32
	// Security holds capabilities, no_new_privs and the read-only root.
	Security Security
}

// defaultCaps is the capability set container runtimes give a container by
// default (containerd's and Docker's list); Kubernetes' add/drop apply on top.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// pauseBinary is podbox-pause inside the pause container's root.
const pauseBinary = "/pause"

// PauseSpec is the root container of the pod: a tiny process that only
// keeps the sandbox alive. Its read-only root needs no overlay.
func PauseSpec(p Pod, pauseRootfs string) *specs.Spec {
	s := baseSpec(p, Process{Args: []string{pauseBinary}, Cwd: "/"})
	s.Root = &specs.Root{Path: pauseRootfs, Readonly: true}
	s.Process.Capabilities = &specs.LinuxCapabilities{}
	s.Process.NoNewPrivileges = true
	s.Annotations[annContainerType] = "sandbox"
	return s
}

// ContainerSpec is an app container of the pod, started as a subcontainer of
// its sandbox. rootfs is the shared image tree; writes go to the overlay.
// mounts are the container's own, after the pod's.
func ContainerSpec(p Pod, name, image string, proc Process, rootfs string, mounts ...specs.Mount) *specs.Spec {
	s := baseSpec(p, proc)
	// A read-only root has no overlay (runsc turns it off), so nothing can
	// write to it; otherwise writes go to the pod's overlay.
	s.Root = &specs.Root{Path: rootfs, Readonly: proc.Security.ReadOnlyRoot}
	s.Process.Capabilities = capabilities(proc.Security, proc.UID)
	s.Process.NoNewPrivileges = proc.Security.NoNewPrivileges
	s.Mounts = append(s.Mounts, cgroupMount())
	// A cgroup namespace of its own, rooted at the container's in-sandbox
	// cgroup, as containerd gives each container on cgroup v2: with the
	// sentry's nsdelegate, the namespace's root files (pids.max) cannot be
	// written from inside, even through a cgroup2 mount made in a nested
	// user namespace, so the container cannot lift its process cap
	// (PrepareContainerCgroup).
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	s.Mounts = append(s.Mounts, p.Mounts...)
	s.Mounts = append(s.Mounts, mounts...)
	s.Annotations[annContainerType] = "container"
	s.Annotations[annContainerName] = name
	s.Annotations[annImageName] = image
	return s
}

func baseSpec(p Pod, proc Process) *specs.Spec {
	cwd := proc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: proc.Args,
			Env:  proc.Env,
			Cwd:  cwd,
			User: specs.User{UID: proc.UID, GID: proc.GID, AdditionalGids: proc.AdditionalGids},
		},
		Hostname: p.Hostname,
		Mounts:   defaultMounts(),
		Annotations: map[string]string{
			annSandboxID:   p.ID,
			annSandboxName: p.Name,
			annSandboxNS:   p.Namespace,
			annSandboxUID:  p.UID,
		},
		Linux: &specs.Linux{Namespaces: podNamespaces(p)},
	}
}

// podNamespaces are the namespaces of every container of the pod. The
// root (pause) container's netns path is what runsc turns into the
// sentry's netstack and its hostname is the pod's; subcontainers share
// network, UTS and IPC with it. A pid entry without a path gives each
// container a PID namespace of its own (Kubernetes' default,
// shareProcessNamespace: false). With shareProcessNamespace every container
// names the same pid namespace path, which the sentry only uses as a key:
// containers naming the same path join one PID namespace, the pause
// container's, whose first process (the pause) is PID 1
// (runsc/boot/loader.go, createContainerProcess).
func podNamespaces(p Pod) []specs.LinuxNamespace {
	pid := specs.LinuxNamespace{Type: specs.PIDNamespace}
	if p.SharePID {
		pid.Path = sharedPIDKey(p)
	}
	return []specs.LinuxNamespace{
		pid,
		{Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace},
		{Type: specs.MountNamespace},
		{Type: specs.NetworkNamespace, Path: p.NetNS},
	}
}

// defaultMounts are the kernel filesystems every container expects; gVisor
// implements them inside the sentry.
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

// FileMount bind-mounts a host file or directory at dest in a container.
func FileMount(source, dest string, readOnly bool) specs.Mount {
	opts := []string{"rbind", "rw"}
	if readOnly {
		opts = []string{"rbind", "ro"}
	}
	return specs.Mount{Destination: dest, Type: "bind", Source: source, Options: opts}
}

// WriteBundle writes spec as dir/config.json, creating dir.
func WriteBundle(dir string, spec *specs.Spec) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("write OCI bundle: %w", err)
	}
	return nil
}

// ExecProcess is the process spec of an exec (Runsc.Exec, or `runsc exec
// --process` for a terminal): a command run in a container as CRI exec
// does, with the container's environment, working directory, user and
// capabilities.
func ExecProcess(container Process, args []string) *specs.Process {
	cwd := container.Cwd
	if cwd == "" {
		cwd = "/"
	}
	return &specs.Process{
		Args:            args,
		Env:             container.Env,
		Cwd:             cwd,
		User:            specs.User{UID: container.UID, GID: container.GID, AdditionalGids: container.AdditionalGids},
		Capabilities:    capabilities(container.Security, container.UID),
		NoNewPrivileges: container.Security.NoNewPrivileges,
	}
}
