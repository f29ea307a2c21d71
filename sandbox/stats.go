package sandbox

import (
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/unet"
	"gvisor.dev/gvisor/pkg/urpc"
)

// Stats is what the sentry reports about one container.
type Stats struct {
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
	return Stats{MemoryBytes: d.Memory.Usage.Usage, Pids: d.Pids.Current}, nil
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
