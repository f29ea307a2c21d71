package gvisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/sandbox"
)

// The pod's process cap (sandbox/pids.go) is the pids.max of each container
// instance's in-sandbox cgroup, which must exist before the instance starts.
// The first instances' cgroups are made by the pause container as it boots,
// off the pod's start path (pauseCgroups); a later instance (a restart) gets
// its own with a helper exec in the pause container.

// pauseReportWait bounds how long a container start waits for the pause
// container's report before it falls back to the helper exec.
const pauseReportWait = 10 * time.Second

// pauseCgroups is the pause container's report on the cgroups it made at
// boot (sandbox.WithPauseCgroups). err is set before done is closed.
type pauseCgroups struct {
	ids  map[string]bool
	done chan struct{}
	err  error
}

// pauseMakesCgroups asks the pause container of the sandbox about to start
// to make the first instances' capped cgroups, and returns the pipe end it
// reports on, for RunSandbox; watchPauseReport reads it.
func (rt *Runtime) pauseMakesCgroups(sb *podSandbox, spec *specs.Spec) (*os.File, *os.File, error) {
	var ids []string
	for _, in := range sb.cfg.FirstInstances {
		ids = append(ids, cri.ContainerID(sb.cfg.ID, in.Name, in.Attempt))
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	sandbox.WithPauseCgroups(spec, ids, pod.PidsLimit(&sb.cfg.Pod.ObjectMeta))
	pc := &pauseCgroups{ids: map[string]bool{}, done: make(chan struct{})}
	for _, id := range ids {
		pc.ids[id] = true
	}
	rt.mu.Lock()
	sb.pauseCg = pc
	rt.mu.Unlock()
	return rd, wr, nil
}

// watchPauseReport reads the pause container's report (rd is closed after).
func (rt *Runtime) watchPauseReport(sb *podSandbox, rd *os.File) {
	rt.mu.Lock()
	pc := sb.pauseCg
	rt.mu.Unlock()
	go func() {
		defer rd.Close()
		pc.err = sandbox.PauseReport(rd)
		close(pc.done)
	}()
}

// capPids makes sure the in-sandbox cgroup of a container instance about to
// start exists with the pod's process cap as its pids.max, so that the
// instance is born capped: made by the pause container for a first
// instance, else by a helper exec (sandbox.PrepareContainerCgroup).
func (rt *Runtime) capPids(ctx context.Context, sb *podSandbox, id string) error {
	rt.mu.Lock()
	pc := sb.pauseCg
	rt.mu.Unlock()
	if pc != nil && pc.ids[id] {
		err := pc.wait(ctx)
		var failed *sandbox.PauseError
		if !errors.As(err, &failed) {
			return err // nil, or no report: the pause's state is unknown
		}
		// The pause gave up its capabilities, then said what failed.
		rt.opts.Log.Warn("pause container did not make the container's cgroup; using a helper", "pod", sb.cfg.Pod.Name, "container", id, "err", err)
	}
	limit := pod.PidsLimit(&sb.cfg.Pod.ObjectMeta)
	if err := sb.runsc.PrepareContainerCgroup(ctx, sb.cfg.ID, id, limit); err != nil {
		return fmt.Errorf("apply the pod's process cap (%d tasks, annotation %s): %w", limit, pod.PidsLimitAnnotation, err)
	}
	return nil
}

// wait returns the pause container's report, or an error when it is not
// there within pauseReportWait.
func (pc *pauseCgroups) wait(ctx context.Context) error {
	t := time.NewTimer(pauseReportWait)
	defer t.Stop()
	select {
	case <-pc.done:
		return pc.err
	case <-t.C:
		return fmt.Errorf("no report within %s", pauseReportWait)
	case <-ctx.Done():
		return ctx.Err()
	}
}
