package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The pod's process cap.
//
// gVisor runs every process of a pod inside one sentry, but on the host each
// address space of the pod is a stub process of its own (the systrap
// platform), with one or more threads: about two host processes for every
// process in the pod, measured. Nothing in runsc bounds that: the sentry never
// applies linux.resources.pids (only a host cgroup would, and podbox runs
// runsc with --ignore-cgroups), its RLIMIT_NPROC is counted per user and
// escapes by a setuid, and its own ceiling is 65,536 tasks. A fork flood in one
// pod therefore exhausted the user's process limit on the host.
//
// What the sentry does enforce is the pids controller of its own cgroup v2
// hierarchy (pkg/sentry/fsimpl/cgroup2fs/pids.go): with --in-sandbox-cgroup=v2
// and the cgroup2 mount every container gets (cgroupMount), each container
// runs in the in-sandbox cgroup /<container ID>, and a clone that would take it
// past that cgroup's pids.max fails with EAGAIN, as on Linux. The container's
// exec'd processes join that cgroup too. The mount is read-only in the
// container and mounting another cgroup2 needs CAP_SYS_ADMIN, which podbox
// refuses (pod.validateContainerSecurity), so a container cannot lift its own
// limit. podbox creates the container's cgroup with its pids.max before the
// container starts (PrepareContainerCgroup).

// DefaultPodPidsLimit is the default limit on the tasks (processes and
// threads, as pids.max counts them) of each container of a pod, the pod
// annotation PidsLimitAnnotation overriding it. 1,024 is generous for one
// service on a laptop (a JVM with a large thread pool stays below it) and
// bounds a fork flood to about 2 × 1,024 host processes per container
// (measured: docs/resources.md, integration TestForkFloodCapped).
const DefaultPodPidsLimit = 1024

// MaxPodPidsLimit is the largest limit a pod may ask for: the sentry's own
// ceiling on tasks (kernel.TasksLimit), beyond which a limit means nothing.
const MaxPodPidsLimit = 1 << 16

// cgroupFile names one control file of the sentry's cgroup hierarchy
// (control.CgroupControlFile).
type cgroupFile struct {
	Controller string `json:"controller"`
	Path       string `json:"path"`
	Name       string `json:"name"`
}

// cgroupsReadArgs mirrors control.CgroupsReadArgs.
type cgroupsReadArgs struct {
	Args []cgroupRead `json:"args"`
}

type cgroupRead struct {
	File cgroupFile `json:"file"`
}

// cgroupsResults mirrors control.CgroupsResults: one result per argument.
type cgroupsResults struct {
	Results []struct {
		Data    string `json:"value"`
		IsError bool   `json:"is_error"`
	} `json:"results"`
}

// containerCgroup is the in-sandbox cgroup the sentry runs a container in
// (runsc/boot/vfs.go, setupContainerCgroup2).
func containerCgroup(containerID string) string { return "/" + containerID }

// PrepareContainerCgroup creates container containerID's in-sandbox cgroup
// in sandbox sandboxID with pids.max = limit, before `runsc run` starts the
// container: the sentry then starts it in that cgroup (it tolerates an
// existing one), so the cap holds from the container's first instruction. It
// runs `/pause pids-max` in the pause container, the only writer there is:
// the Cgroups.WriteControlFiles control call fails on pids.max under the
// sentry's nsdelegate at this gVisor version (it dereferences a nil file).
// The helper gets CAP_SYS_ADMIN, for itself only, to mount cgroup2 in a mount
// namespace of its own.
func (r *Runsc) PrepareContainerCgroup(ctx context.Context, sandboxID, containerID string, limit int) error {
	p := pidsHelper(containerID, limit)
	out, err := os.CreateTemp("", "podbox-pids-*")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	code, err := r.Exec(ctx, sandboxID, sandboxID, p, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		return fmt.Errorf("set pids.max of container %s: %w", containerID, err)
	}
	if code != 0 {
		msg, _ := os.ReadFile(out.Name())
		return fmt.Errorf("set pids.max of container %s: exit status %d: %s", containerID, code, strings.TrimSpace(string(msg)))
	}
	return nil
}

// pidsHelper is the process PrepareContainerCgroup runs in the pause
// container: podbox-pause as root with CAP_SYS_ADMIN alone (to mount cgroup2
// in a mount namespace of its own), no_new_privs set.
func pidsHelper(containerID string, limit int) *specs.Process {
	return &specs.Process{
		Args:            []string{pauseBinary, "pids-max", containerID, strconv.Itoa(limit)},
		Cwd:             "/",
		Capabilities:    sysAdminOnly(),
		NoNewPrivileges: true,
	}
}

// ReadCgroupFile reads a control file of the in-sandbox cgroup of container
// containerID (e.g. "pids.max", "pids.peak").
func (r *Runsc) ReadCgroupFile(sandboxID, containerID, controller, name string) (string, error) {
	c, err := r.control(sandboxID)
	if err != nil {
		return "", err
	}
	defer c.Close()
	args := cgroupsReadArgs{Args: []cgroupRead{{File: cgroupFile{Controller: controller, Path: containerCgroup(containerID), Name: name}}}}
	var out cgroupsResults
	if err := c.Call("Cgroups.ReadControlFiles", &args, &out); err != nil {
		return "", fmt.Errorf("read %s of container %s: %w", name, containerID, err)
	}
	if err := resultErr(out, "read "+name+" of container "+containerID); err != nil {
		return "", err
	}
	return out.Results[0].Data, nil
}

func resultErr(out cgroupsResults, what string) error {
	if len(out.Results) != 1 {
		return fmt.Errorf("%s: %d results, want 1", what, len(out.Results))
	}
	if out.Results[0].IsError {
		return fmt.Errorf("%s: %s", what, out.Results[0].Data)
	}
	return nil
}

// WithPauseCgroups makes the pause container create the capped cgroups of
// the containers ids as it boots (`podbox-pause --pids-max`), so that their
// first start needs no helper exec (PrepareContainerCgroup). The pause gets
// CAP_SYS_ADMIN for that and drops every capability before it reports on
// its stdout; read the report with PauseReport before starting any of ids.
func WithPauseCgroups(s *specs.Spec, ids []string, limit int) {
	s.Process.Args = append([]string{pauseBinary, "--pids-max", strconv.Itoa(limit)}, ids...)
	s.Process.Capabilities = sysAdminOnly()
}

// sysAdminOnly is CAP_SYS_ADMIN and nothing else, none inheritable: what
// podbox-pause needs to mount cgroup2 in a mount namespace of its own.
func sysAdminOnly() *specs.LinuxCapabilities {
	caps := []string{"CAP_SYS_ADMIN"}
	return &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
}

// PauseReport reads the pause container's report of WithPauseCgroups from
// its stdout: nil once the cgroups exist and the pause holds no capability;
// a *PauseError when the pause dropped its capabilities but could not make
// the cgroups; another error when there is no report (the pause's state is
// then unknown).
func PauseReport(r io.Reader) error {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	switch {
	case line == "ok\n":
		return nil
	case strings.HasPrefix(line, "error: "):
		return &PauseError{Msg: strings.TrimSpace(strings.TrimPrefix(line, "error: "))}
	case err != nil:
		return fmt.Errorf("pause container gave no cgroup report: %w", err)
	}
	return fmt.Errorf("pause container: unexpected cgroup report %q", line)
}

// PauseError is the pause container's account of cgroups it could not make.
type PauseError struct{ Msg string }

func (e *PauseError) Error() string { return "pause container: " + e.Msg }
