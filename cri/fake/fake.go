// Package fake is an in-memory cri.Runtime for unit tests of the policy
// side: no sandbox, process or network exists. Instances are "running" from
// StartContainer until a test ends them (Exit, ExitByName, OOMKill) or the
// policy stops them (StopContainer, KillContainer, StopPodSandbox). Every
// call is recorded, in order (Calls), and a test can wait for one (Await).
// It is safe for concurrent use.
package fake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/cri"
)

// Runtime is the fake. Its zero value is not ready; use New.
type Runtime struct {
	mu      sync.Mutex
	calls   []string
	changed chan struct{} // closed and replaced when a call is recorded

	sandboxes map[string]*podSandbox
	instances map[string]*instance
	// running are the sandboxes Recover reports running (SetRunning).
	running    map[string]bool
	ignoreStop map[string]bool
	failStart  map[string]error
	exec       map[string]func(cmd []string) (int, error)
	stats      map[string]cri.ContainerStats
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	lastIP     int
}

type podSandbox struct {
	cfg     cri.SandboxConfig
	stopped bool
}

type instance struct {
	id, sandboxID, name string
	attempt             int32
	cfg                 cri.ContainerConfig
	seq                 int // start order, for ExitByName
	status              cri.ExitStatus
	exited              chan struct{}
}

var _ cri.Runtime = (*Runtime)(nil)

// New returns a fake runtime with nothing running.
func New() *Runtime {
	return &Runtime{
		changed:    make(chan struct{}),
		sandboxes:  map[string]*podSandbox{},
		instances:  map[string]*instance{},
		running:    map[string]bool{},
		ignoreStop: map[string]bool{},
		failStart:  map[string]error{},
		exec:       map[string]func([]string) (int, error){},
		stats:      map[string]cri.ContainerStats{},
	}
}

// Calls returns the calls made so far, in order: the method's name, then
// what it was about, e.g. "RunPodSandbox 0123456789abcdef",
// "StartContainer web attempt=0", "StopContainer web attempt=0 signal=TERM",
// "Exec web attempt=0 [sh -c ready]".
func (f *Runtime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Await blocks until a call with the given prefix has been recorded (or
// ctx ends) and returns it.
func (f *Runtime) Await(ctx context.Context, prefix string) (string, error) {
	for {
		f.mu.Lock()
		for _, c := range f.calls {
			if strings.HasPrefix(c, prefix) {
				f.mu.Unlock()
				return c, nil
			}
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("no call %q: %w", prefix, ctx.Err())
		}
	}
}

// recordLocked appends a call. The caller holds f.mu.
func (f *Runtime) recordLocked(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	close(f.changed)
	f.changed = make(chan struct{})
}

// SetRunning makes Recover report these sandboxes running (for adoption).
func (f *Runtime) SetRunning(sandboxIDs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range sandboxIDs {
		f.running[id] = true
	}
}

// IgnoreStop makes the instances of a container ignore StopContainer's
// signal (only KillContainer, or the sandbox's end, stops them).
func (f *Runtime) IgnoreStop(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ignoreStop[name] = true
}

// FailStart makes the next StartContainer of a container fail with err.
func (f *Runtime) FailStart(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failStart[name] = err
}

// SetExec sets what Exec in a container's instances returns (exit code 0
// by default).
func (f *Runtime) SetExec(name string, exec func(cmd []string) (int, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exec[name] = exec
}

// SetDial sets what Dial does (it fails by default).
func (f *Runtime) SetDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dial = dial
}

// SetStats sets the figures Stats reports for a container's running
// instance (zero by default).
func (f *Runtime) SetStats(name string, st cri.ContainerStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats[name] = st
}

// Exit makes a running instance exit with code; WaitContainer then returns.
// It reports whether the instance was running.
func (f *Runtime) Exit(id string, code int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exitLocked(f.instances[id], cri.ExitStatus{ExitCode: code})
}

// ExitByName makes the newest instance of a container exit with code
// (tests of one pod: names are not told apart by sandbox). It reports
// whether that instance was running.
func (f *Runtime) ExitByName(name string, code int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exitLocked(f.newestLocked(name), cri.ExitStatus{ExitCode: code})
}

// OOMKill ends a running instance as the runtime's memory enforcement
// would: exit code 137, OOMKilled.
func (f *Runtime) OOMKill(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exitLocked(f.instances[id], cri.ExitStatus{ExitCode: 137, OOMKilled: true})
}

// Running reports whether an instance is running.
func (f *Runtime) Running(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	inst := f.instances[id]
	return inst != nil && inst.runningLocked()
}

// Newest returns the ID of a container's newest instance ("" for none).
func (f *Runtime) Newest(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inst := f.newestLocked(name); inst != nil {
		return inst.id
	}
	return ""
}

func (f *Runtime) newestLocked(name string) *instance {
	var newest *instance
	for _, inst := range f.instances {
		if inst.name == name && (newest == nil || inst.seq > newest.seq) {
			newest = inst
		}
	}
	return newest
}

func (inst *instance) runningLocked() bool {
	select {
	case <-inst.exited:
		return false
	default:
		return true
	}
}

// exitLocked ends a running instance. The caller holds f.mu.
func (f *Runtime) exitLocked(inst *instance, st cri.ExitStatus) bool {
	if inst == nil || !inst.runningLocked() {
		return false
	}
	inst.status = st
	close(inst.exited)
	return true
}

// describe names an instance in calls: "<name> attempt=<n>", or its ID if
// the fake does not know it.
func (f *Runtime) describeLocked(id string) string {
	if inst := f.instances[id]; inst != nil {
		return fmt.Sprintf("%s attempt=%d", inst.name, inst.attempt)
	}
	return id
}

func (f *Runtime) instance(id string) (*instance, error) {
	if inst := f.instances[id]; inst != nil {
		return inst, nil
	}
	return nil, fmt.Errorf("fake: no instance %s", id)
}

// Recover reports the known sandboxes SetRunning named, with adopt.
func (f *Runtime) Recover(_ context.Context, known []*cri.SandboxConfig, adopt bool) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("Recover known=%d adopt=%t", len(known), adopt)
	out := map[string]bool{}
	for _, cfg := range known {
		if adopt && f.running[cfg.ID] {
			out[cfg.ID] = true
		}
	}
	return out, nil
}

// ReserveHostPorts records the call.
func (f *Runtime) ReserveHostPorts(_ context.Context, sandboxID string, _ *corev1.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("ReserveHostPorts %s", sandboxID)
	return nil
}

// RunPodSandbox gives the pod an address: cfg.PodIP if set, else the next
// of 10.88.0.2, 10.88.0.3, ...
func (f *Runtime) RunPodSandbox(_ context.Context, cfg *cri.SandboxConfig) (*cri.SandboxStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("RunPodSandbox %s", cfg.ID)
	ip := cfg.PodIP
	if ip == "" {
		f.lastIP++
		ip = "10.88.0." + strconv.Itoa(f.lastIP+1)
	}
	c := *cfg
	c.PodIP = ip
	f.sandboxes[cfg.ID] = &podSandbox{cfg: c}
	return &cri.SandboxStatus{ID: cfg.ID, PodIP: ip, HostIP: "10.88.0.1"}, nil
}

// AdoptPodSandbox takes over the sandbox with its recorded address.
func (f *Runtime) AdoptPodSandbox(_ context.Context, cfg *cri.SandboxConfig) (*cri.SandboxStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("AdoptPodSandbox %s", cfg.ID)
	f.sandboxes[cfg.ID] = &podSandbox{cfg: *cfg}
	return &cri.SandboxStatus{ID: cfg.ID, PodIP: cfg.PodIP, HostIP: "10.88.0.1"}, nil
}

// StopPodSandbox ends every instance of the sandbox still running (exit
// code 137, as deleting a container does).
func (f *Runtime) StopPodSandbox(_ context.Context, sandboxID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("StopPodSandbox %s", sandboxID)
	for _, inst := range f.instances {
		if inst.sandboxID == sandboxID {
			f.exitLocked(inst, cri.ExitStatus{ExitCode: 137})
		}
	}
	if sb := f.sandboxes[sandboxID]; sb != nil {
		sb.stopped = true
	}
	return nil
}

// RemovePodSandbox forgets the sandbox and its instances.
func (f *Runtime) RemovePodSandbox(_ context.Context, sandboxID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("RemovePodSandbox %s", sandboxID)
	delete(f.sandboxes, sandboxID)
	for id, inst := range f.instances {
		if inst.sandboxID == sandboxID {
			f.exitLocked(inst, cri.ExitStatus{ExitCode: 137})
			delete(f.instances, id)
		}
	}
	return nil
}

// StartContainer makes a running instance, unless FailStart said no.
func (f *Runtime) StartContainer(_ context.Context, sandboxID string, cfg *cri.ContainerConfig) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("StartContainer %s attempt=%d", cfg.Name, cfg.Attempt)
	if err, ok := f.failStart[cfg.Name]; ok {
		delete(f.failStart, cfg.Name)
		return "", err
	}
	if sb := f.sandboxes[sandboxID]; sb == nil || sb.stopped {
		return "", fmt.Errorf("fake: sandbox %s is not running", sandboxID)
	}
	return f.addLocked(sandboxID, cri.ContainerID(sandboxID, cfg.Name, cfg.Attempt), cfg).id, nil
}

func (f *Runtime) addLocked(sandboxID, id string, cfg *cri.ContainerConfig) *instance {
	inst := &instance{id: id, sandboxID: sandboxID, name: cfg.Name, attempt: cfg.Attempt, cfg: *cfg, seq: len(f.calls), exited: make(chan struct{})}
	f.instances[id] = inst
	return inst
}

// AdoptContainer makes the instance running again, as found.
func (f *Runtime) AdoptContainer(_ context.Context, sandboxID, id string, cfg *cri.ContainerConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("AdoptContainer %s attempt=%d", cfg.Name, cfg.Attempt)
	f.addLocked(sandboxID, id, cfg)
	return nil
}

// StopContainer makes the instance exit with 128 + the signal's number,
// unless IgnoreStop said to ignore it (SIGKILL is never ignored).
func (f *Runtime) StopContainer(_ context.Context, id, signal string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("StopContainer %s signal=%s", f.describeLocked(id), signal)
	inst, err := f.instance(id)
	if err != nil {
		return err
	}
	num, err := signalNumber(signal)
	if err != nil {
		return err
	}
	if num != unix.SIGKILL && f.ignoreStop[inst.name] {
		return nil
	}
	f.exitLocked(inst, cri.ExitStatus{ExitCode: 128 + int32(num)})
	return nil
}

// signalNumber reads a signal as runsc kill does: a name, with or without
// SIG, or a number.
func signalNumber(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if num := unix.SignalNum(name); num != 0 {
		return num, nil
	}
	return 0, fmt.Errorf("fake: unknown signal %q", s)
}

// KillContainer makes the instance exit with 137.
func (f *Runtime) KillContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("KillContainer %s", f.describeLocked(id))
	inst, err := f.instance(id)
	if err != nil {
		return err
	}
	f.exitLocked(inst, cri.ExitStatus{ExitCode: 137})
	return nil
}

// WaitContainer blocks until the instance has exited.
func (f *Runtime) WaitContainer(ctx context.Context, id string) (cri.ExitStatus, error) {
	f.mu.Lock()
	f.recordLocked("WaitContainer %s", f.describeLocked(id))
	inst, err := f.instance(id)
	f.mu.Unlock()
	if err != nil {
		return cri.ExitStatus{}, err
	}
	select {
	case <-inst.exited:
		f.mu.Lock()
		defer f.mu.Unlock()
		return inst.status, nil
	case <-ctx.Done():
		return cri.ExitStatus{}, ctx.Err()
	}
}

// RemoveContainer forgets the instance, ending it (137) if it still runs.
func (f *Runtime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("RemoveContainer %s", f.describeLocked(id))
	if inst := f.instances[id]; inst != nil {
		f.exitLocked(inst, cri.ExitStatus{ExitCode: 137})
		delete(f.instances, id)
	}
	return nil
}

// Exec returns what SetExec set for the container, 0 by default. It fails
// for an instance that is not running.
func (f *Runtime) Exec(_ context.Context, id string, cmd []string, _ cri.Streams) (int, error) {
	f.mu.Lock()
	f.recordLocked("Exec %s %v", f.describeLocked(id), cmd)
	inst, err := f.instance(id)
	if err == nil && !inst.runningLocked() {
		err = fmt.Errorf("fake: instance %s has exited", id)
	}
	var exec func([]string) (int, error)
	if err == nil {
		exec = f.exec[inst.name]
	}
	f.mu.Unlock()
	if err != nil {
		return -1, err
	}
	if exec == nil {
		return 0, nil
	}
	return exec(cmd)
}

// Attach records the call.
func (f *Runtime) Attach(_ context.Context, id string, _ cri.Streams) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("Attach %s", f.describeLocked(id))
	_, err := f.instance(id)
	return err
}

// PortForward returns a connection that reads EOF, if an instance of the
// sandbox runs.
func (f *Runtime) PortForward(_ context.Context, sandboxID string, port uint16) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("PortForward %s %d", sandboxID, port)
	for _, inst := range f.instances {
		if inst.sandboxID == sandboxID && inst.runningLocked() {
			client, server := net.Pipe()
			server.Close()
			return client, nil
		}
	}
	return nil, cri.ErrNotRunning
}

// Stats reports what SetStats set for the running instances among ids.
func (f *Runtime) Stats(_ context.Context, sandboxID string, ids []string) ([]cri.ContainerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordLocked("Stats %s", sandboxID)
	var out []cri.ContainerStats
	for _, id := range ids {
		inst := f.instances[id]
		if inst == nil || inst.sandboxID != sandboxID || !inst.runningLocked() {
			continue
		}
		st := f.stats[inst.name]
		st.ID = id
		out = append(out, st)
	}
	return out, nil
}

// ErrNoDial is what Dial returns unless SetDial set a dialer.
var ErrNoDial = errors.New("fake: no dialer set")

// Dial uses what SetDial set.
func (f *Runtime) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.recordLocked("Dial %s %s", network, addr)
	dial := f.dial
	f.mu.Unlock()
	if dial == nil {
		return nil, ErrNoDial
	}
	return dial(ctx, network, addr)
}
