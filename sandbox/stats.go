package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/pkg/urpc"
)

// Stats is what the sentry reports about one container.
type Stats struct {
	// CPU is the sentry's cumulative CPU figure for the container in
	// nanoseconds. Rootless (no host cgroup of the sandbox's own) runsc
	// scales it by an unrelated host cgroup's usage, so only its ratio to the
	// figures of the other containers sampled at the same moment means
	// anything: see SandboxCPU.
	CPU uint64
	// MemoryBytes is the container's memory usage by the sentry's own
	// accounting (its per-container cgroup's memory.current): anonymous
	// memory, page cache and the container's tmpfs and overlay files kept
	// in memory.
	MemoryBytes uint64
	// Pids is the number of tasks in the container.
	Pids uint64
}

// eventOut mirrors the JSON of runsc's boot.EventOut, the result of the
// containerManager.Event control call (the one `runsc events --stats`
// makes); only the fields podbox reads.
type eventOut struct {
	Event struct {
		Data struct {
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage,omitempty"`
				} `json:"usage,omitempty"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current,omitempty"`
			} `json:"pids"`
		} `json:"data"`
	} `json:"event"`
	// ContainerUsage is the sentry's own CPU figure per container ID (the
	// runsc process of `runsc events` scales it into data.cpu; the raw
	// control call leaves data.cpu empty).
	ContainerUsage map[string]uint64 `json:"containerUsage"`
}

// Stats asks the sandbox sandboxID for container containerID's usage over
// the sandbox's control socket, as `runsc events --stats` does but without
// starting a runsc process, so sampling many containers often stays cheap.
func (r *Runsc) Stats(sandboxID, containerID string) (Stats, error) {
	c, err := r.control(sandboxID)
	if err != nil {
		return Stats{}, err
	}
	defer c.Close()
	var out eventOut
	if err := c.Call("containerManager.Event", &containerID, &out); err != nil {
		return Stats{}, fmt.Errorf("stats of container %s: %w", containerID, err)
	}
	d := out.Event.Data
	return Stats{CPU: out.ContainerUsage[containerID], MemoryBytes: d.Memory.Usage.Usage, Pids: d.Pids.Current}, nil
}

// control connects to a sandbox's control socket in runsc's root.
func (r *Runsc) control(sandboxID string) (*urpc.Client, error) {
	path := filepath.Join(r.Root, "runsc-"+sandboxID+".sock")
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		// Too long for a sockaddr: reach it through /proc/self/fd, as runsc does.
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("control socket of sandbox %s: %w", sandboxID, err)
		}
		defer unix.Close(fd)
		path = "/proc/self/fd/" + strconv.Itoa(fd)
	}
	conn, err := unet.Connect(path, false)
	if err != nil {
		return nil, fmt.Errorf("control socket of sandbox %s: %w", sandboxID, err)
	}
	return urpc.NewClient(conn), nil
}

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux ABI).
const userHZ = 100

// SandboxCPU returns the host CPU time used so far by the sandbox process
// pid and all its descendants (the sentry and the stub processes that run
// the application's code), including exited children they have reaped.
// This is the sandbox's real CPU use; the sentry's per-container figures
// only say how to divide it.
func SandboxCPU(pid int) (time.Duration, error) {
	return processTreeCPU("/proc", pid)
}

func processTreeCPU(proc string, root int) (time.Duration, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return 0, err
	}
	type stat struct {
		ppid  int
		ticks uint64
	}
	stats := map[int]stat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		ppid, ticks, ok := parseStat(string(b))
		if ok {
			stats[pid] = stat{ppid, ticks}
		}
	}
	if _, ok := stats[root]; !ok {
		return 0, fmt.Errorf("sandbox process %d not found", root)
	}
	children := map[int][]int{}
	for pid, s := range stats {
		children[s.ppid] = append(children[s.ppid], pid)
	}
	var ticks uint64
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		ticks += stats[pid].ticks
		queue = append(queue, children[pid]...)
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// parseStat reads the parent PID and utime+stime+cutime+cstime from a
// /proc/PID/stat line. The command name (field 2) may contain spaces and
// parentheses, so fields are counted from its last ')'.
func parseStat(s string) (ppid int, ticks uint64, ok bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); ppid is field 4; utime..cstime are 14..17.
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	for _, v := range f[11:15] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		ticks += n
	}
	return ppid, ticks, true
}

// memoryUsageOpts and memoryUsage mirror control.MemoryUsageOpts and
// control.MemoryUsage (the Usage.Collect call of `runsc usage`).
type memoryUsageOpts struct {
	Full bool `json:"Full"`
}

type memoryUsage struct {
	System uint64 `json:"System"`
	Total  uint64 `json:"Total"`
}

// SandboxMemory is the sentry's whole memory accounting for a sandbox, as
// `runsc usage --full` reports it.
type SandboxMemory struct {
	// Total is everything the sentry accounts: every container's anonymous
	// memory, page cache and memory-backed files (tmpfs, emptyDir medium
	// Memory, the overlay's upper layer), including what belongs to no live
	// container (files left by containers that exited, the pause), plus
	// System.
	Total uint64
	// System is the sentry's own allocations from its memory file.
	System uint64
}

// PodMemory asks the sentry for its total memory usage (the Usage.Collect
// control call with a full accounting). Unlike the per-container figures it
// counts memory whose container has exited, so a pod cannot hide usage from
// its pod-level limit by leaving it behind.
func (r *Runsc) PodMemory(sandboxID string) (SandboxMemory, error) {
	c, err := r.control(sandboxID)
	if err != nil {
		return SandboxMemory{}, err
	}
	defer c.Close()
	var out memoryUsage
	if err := c.Call("Usage.Collect", &memoryUsageOpts{Full: true}, &out); err != nil {
		return SandboxMemory{}, fmt.Errorf("memory usage of sandbox %s: %w", sandboxID, err)
	}
	if out.Total == 0 {
		return SandboxMemory{}, errors.New("memory usage of sandbox " + sandboxID + ": the sentry reported none")
	}
	return SandboxMemory{Total: out.Total, System: out.System}, nil
}
