package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroups is a delegated cgroup v2 subtree podbox may manage: where the
// user has one (a systemd user manager with Delegate=yes, or a container
// runtime delegating to podbox), each sandbox runs in a child cgroup of its
// own whose memory.max is the pod's memory limit and whose cpu.max is its CPU
// limit, enforced by the kernel. Without one, podbox enforces memory limits by
// accounting (supervisor/oom.go) and CPU limits by CPU affinity (CreatePinned).
type Cgroups struct {
	// Dir is the delegated cgroup's directory; pods are "pod-<sandbox ID>"
	// below it, beside "supervisor", the leaf podbox's own process moves to
	// (cgroup v2 lets only leaves hold processes once controllers are
	// enabled for children).
	Dir string
	// Pids is whether the pids controller is delegated too: each pod's
	// cgroup then also has pids.max (HostPidsMax), a kernel bound on the
	// host tasks of its sandbox.
	Pids bool
}

// Host tasks a sandbox may have, for pids.max of its pod cgroup: the
// sentry's own bound is the in-sandbox pids.max of each container
// (PrepareContainerCgroup); this is the kernel's backstop behind it, never reached
// first by a pod within its limit. Each address space in the pod is a stub
// process on the host with a thread or two (2.1 host tasks per pod task,
// measured with 2,000 sleeping processes), more for busy multi-threaded
// processes (systrap adds up to a thread per CPU to a stub); the sentry,
// its gofers and the pause add a fixed set of threads.
const (
	hostTasksPerPodTask = 4
	hostTasksPerSandbox = 512
)

// HostPidsMax is pids.max for the cgroup of a sandbox whose containers may
// hold podTasks tasks in all (the sum of their in-sandbox limits).
func HostPidsMax(podTasks int) int {
	return hostTasksPerPodTask*podTasks + hostTasksPerSandbox
}

// DetectCgroups finds a delegated cgroup v2 subtree for this process: a
// pure cgroup v2 host (cgroup2 at mount), this process's cgroup writable
// with the memory and cpu controllers available. It returns an error saying
// why not otherwise; nothing is changed.
func DetectCgroups(mount, procSelfCgroup string) (*Cgroups, error) {
	if _, err := os.Stat(filepath.Join(mount, "cgroup.controllers")); err != nil {
		return nil, errors.New("no cgroup v2 hierarchy (cgroup v1 or hybrid host)")
	}
	b, err := os.ReadFile(procSelfCgroup)
	if err != nil {
		return nil, err
	}
	var rel string
	s := bufio.NewScanner(strings.NewReader(string(b)))
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			rel = p
		}
	}
	if rel == "" {
		return nil, errors.New("this process is in no cgroup v2 cgroup")
	}
	dir := filepath.Join(mount, rel)
	ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	have := strings.Fields(string(ctrl))
	for _, c := range []string{"memory", "cpu"} {
		if !contains(have, c) {
			return nil, fmt.Errorf("cgroup %s lacks the %s controller (not delegated)", rel, c)
		}
	}
	for _, f := range []string{".", "cgroup.procs", "cgroup.subtree_control"} {
		if err := unix.Access(filepath.Join(dir, f), unix.W_OK); err != nil {
			return nil, fmt.Errorf("cgroup %s is not delegated to this user (%s not writable)", rel, f)
		}
	}
	return &Cgroups{Dir: dir, Pids: contains(have, "pids")}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Init moves this process into the "supervisor" leaf and enables the memory
// and cpu controllers for the pods' cgroups.
func (c *Cgroups) Init() error {
	leaf := filepath.Join(c.Dir, "supervisor")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte("0"), 0o644); err != nil {
		return fmt.Errorf("move podbox into %s: %w", leaf, err)
	}
	ctrl := "+memory +cpu"
	if c.Pids {
		ctrl += " +pids"
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "cgroup.subtree_control"), []byte(ctrl), 0o644); err != nil {
		return fmt.Errorf("enable controllers (%s) in %s: %w", ctrl, c.Dir, err)
	}
	return nil
}

// PodCgroup creates (or reuses) the cgroup of sandbox id with the pod's
// limits: memoryMax bytes (0: none), cpuMilli thousandths of a CPU (0:
// none) as cpu.max over the kernel's default 100 ms period, and, with the
// pids controller, pids.max = HostPidsMax(podTasks). It returns the
// directory, for RunSandbox.
func (c *Cgroups) PodCgroup(id string, memoryMax uint64, cpuMilli int64, podTasks int) (string, error) {
	dir := filepath.Join(c.Dir, "pod-"+id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	mem := "max"
	if memoryMax > 0 {
		mem = strconv.FormatUint(memoryMax, 10)
	}
	cpu := "max 100000"
	if cpuMilli > 0 {
		cpu = fmt.Sprintf("%d 100000", max(1000, cpuMilli*100))
	}
	files := map[string]string{"memory.max": mem, "memory.swap.max": "0", "cpu.max": cpu}
	if c.Pids && podTasks > 0 {
		files["pids.max"] = strconv.Itoa(HostPidsMax(podTasks))
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil && f != "memory.swap.max" {
			return "", fmt.Errorf("set %s of %s: %w", f, dir, err)
		}
	}
	return dir, nil
}

// OOMKills is the pod cgroup's count of processes the kernel's OOM killer
// killed (memory.events oom_kill).
func OOMKills(podCgroup string) int {
	b, err := os.ReadFile(filepath.Join(podCgroup, "memory.events"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// RemovePodCgroup removes a sandbox's cgroup once its processes are gone.
func (c *Cgroups) RemovePodCgroup(id string) error {
	err := os.Remove(filepath.Join(c.Dir, "pod-"+id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
