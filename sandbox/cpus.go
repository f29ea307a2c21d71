package sandbox

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// SandboxResources is how a pod's sandbox is held to its limits.
type SandboxResources struct {
	// CPUs is how many host CPUs the sandbox may run on (0: all).
	CPUs int
	// Cgroup, when set, is a cgroup v2 directory (Cgroups.PodCgroup) the
	// sandbox is created in, with its processes charged to it from birth.
	Cgroup string
}

// RunSandbox creates and starts a pod's root container from bundle in one
// runsc process (`runsc run --detach`, see run.go), with the sandbox held to
// res: created directly inside res.Cgroup (clone3 CLONE_INTO_CGROUP, so
// every process runsc starts is charged there) and pinned to res.CPUs of
// the CPUs this process may use (all of them if res.CPUs <= 0 or is not
// fewer). Rootless there is no cgroup to throttle a sandbox, but a
// process may restrict its own CPU affinity, and children inherit it: the
// sentry then runs on n host CPUs and, because runsc sizes the sandbox from
// runtime.NumCPU (which reads the affinity mask) when it has no cgroup, it
// also shows n vCPUs to the pod (nproc, /proc/cpuinfo). Which n CPUs is a
// function of the sandbox ID, spreading pods over the host.
func (r *Runsc) RunSandbox(ctx context.Context, id, bundle string, res SandboxResources, stdout *os.File) error {
	cmd := r.Command(ctx, "run", "--detach", "--bundle="+bundle, id)
	if stdout != nil {
		cmd.Stdout = stdout // the pause container's stdout (nil: /dev/null)
	}
	if res.Cgroup != "" {
		fd, err := unix.Open(res.Cgroup, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("cgroup of sandbox %s: %w", id, err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	create := func() error { return r.runWithLogStderr(cmd, "run "+id) }
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("read CPU affinity: %w", err)
	}
	cpus := cpuList(&allowed)
	n := res.CPUs
	if n <= 0 || n >= len(cpus) {
		return create()
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	start := int(h.Sum32() % uint32(len(cpus)))
	var set unix.CPUSet
	for i := range n {
		set.Set(cpus[(start+i)%len(cpus)])
	}
	errc := make(chan error, 1)
	go func() {
		// The mask is set on this goroutine's own OS thread, which forks
		// runsc. The thread is never unlocked, so it exits with the
		// goroutine and no other goroutine ever runs with the mask.
		runtime.LockOSThread()
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("set CPU affinity for sandbox %s: %w", id, err)
			return
		}
		errc <- create()
	}()
	return <-errc
}

func cpuList(s *unix.CPUSet) []int {
	var out []int
	for i := range len(s) * 64 {
		if s.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}
