package sandbox

import (
	"context"
	"fmt"
	"hash/fnv"
	"runtime"

	"golang.org/x/sys/unix"
)

// CreatePinned is Create for a pod's root container with the sandbox
// confined to n of the CPUs this process may use (all of them if n <= 0 or
// n is not fewer). Rootless there is no cgroup to throttle a sandbox, but a
// process may restrict its own CPU affinity, and children inherit it: the
// sentry then runs on n host CPUs and, because runsc sizes the sandbox from
// runtime.NumCPU (which reads the affinity mask) when it has no cgroup, it
// also shows n vCPUs to the pod (nproc, /proc/cpuinfo). Which n CPUs is a
// function of the sandbox ID, spreading pods over the host.
func (r *Runsc) CreatePinned(ctx context.Context, id, bundle string, n int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("read CPU affinity: %w", err)
	}
	cpus := cpuList(&allowed)
	if n <= 0 || n >= len(cpus) {
		return r.Create(ctx, id, bundle)
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
		errc <- r.Create(ctx, id, bundle)
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
