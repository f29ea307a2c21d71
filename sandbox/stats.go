package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stats is what `runsc events --stats` reports for a container, in the
// units runsc uses.
type Stats struct {
	// CPU is the sentry's cumulative CPU figure for the container in
	// nanoseconds. Rootless (no host cgroup of the sandbox's own) runsc
	// scales it by an unrelated host cgroup's usage, so only its ratio to the
	// figures of the other containers sampled at the same moment means
	// anything: see SandboxCPU.
	CPU uint64
	// Memory is the container's memory use in bytes as the sentry accounts
	// it: per container where the sentry has cgroups, otherwise the
	// sandbox's usage split evenly over its containers.
	Memory uint64
	// Pids is the number of tasks in the container.
	Pids uint64
}

// Stats samples a container's usage.
func (r *Runsc) Stats(ctx context.Context, id string) (Stats, error) {
	out, err := r.run(ctx, "events", "--stats", id)
	if err != nil {
		return Stats{}, err
	}
	var ev struct {
		Data struct {
			CPU struct {
				Usage struct {
					Total uint64 `json:"total"`
				} `json:"usage"`
			} `json:"cpu"`
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage"`
				} `json:"usage"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
			} `json:"pids"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		return Stats{}, fmt.Errorf("runsc events --stats %s: %w", id, err)
	}
	return Stats{CPU: ev.Data.CPU.Usage.Total, Memory: ev.Data.Memory.Usage.Usage, Pids: ev.Data.Pids.Current}, nil
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
