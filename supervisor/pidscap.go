package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

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

// firstInstanceIDs are the runsc IDs of the instances each container of the
// pod starts next in a new sandbox.
func (r *runner) firstInstanceIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, cr := range append(append([]*containerRecord{}, r.rec.InitContainers...), r.rec.Containers...) {
		ids = append(ids, containerID(r.rec.SandboxID, cr.Name, cr.RestartCount))
	}
	return ids
}

// pauseMakesCgroups asks the pause container of the sandbox about to start
// to make the first instances' capped cgroups, and returns the pipe end it
// reports on, for RunSandbox; watchPauseReport reads it.
func (r *runner) pauseMakesCgroups(spec *specs.Spec) (*os.File, *os.File, error) {
	ids := r.firstInstanceIDs()
	if len(ids) == 0 {
		return nil, nil, nil
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	sandbox.WithPauseCgroups(spec, ids, pod.PidsLimit(&r.rec.Pod.ObjectMeta))
	pc := &pauseCgroups{ids: map[string]bool{}, done: make(chan struct{})}
	for _, id := range ids {
		pc.ids[id] = true
	}
	r.mu.Lock()
	r.pauseCg = pc
	r.mu.Unlock()
	return rd, wr, nil
}

// watchPauseReport reads the pause container's report (rd is closed after).
func (r *runner) watchPauseReport(rd *os.File) {
	r.mu.Lock()
	pc := r.pauseCg
	r.mu.Unlock()
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
func (r *runner) capPids(id string) error {
	r.mu.Lock()
	pc := r.pauseCg
	r.mu.Unlock()
	if pc != nil && pc.ids[id] {
		err := pc.wait(r.ctx)
		var failed *sandbox.PauseError
		if !errors.As(err, &failed) {
			return err // nil, or no report: the pause's state is unknown
		}
		// The pause gave up its capabilities, then said what failed.
		r.sup.opts.Log.Warn("pause container did not make the container's cgroup; using a helper", "pod", r.name, "container", id, "err", err)
	}
	limit := pod.PidsLimit(&r.rec.Pod.ObjectMeta)
	if err := r.runsc.PrepareContainerCgroup(r.ctx, r.rec.SandboxID, id, limit); err != nil {
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
