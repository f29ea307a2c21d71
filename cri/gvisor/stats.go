package gvisor

import (
	"context"
	"fmt"
	"time"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/sandbox"
)

// Stats reads the sandbox's host CPU time and the sentry's figures for
// each instance.
//
// The sandbox's CPU comes from the host (the sentry and its stub processes,
// see sandbox.SandboxCPU); the sentry's own per-container figures, which
// rootless runsc scales by an unrelated host cgroup, are used only for how
// to divide it between the containers. Memory is the sentry's figure per
// container (its usage split evenly between the containers, without
// cgroups inside the sandbox).
func (rt *Runtime) Stats(ctx context.Context, sandboxID string, ids []string) ([]cri.ContainerStats, error) {
	sb, err := rt.runningSandbox(sandboxID)
	if err != nil {
		return nil, err
	}
	states, err := rt.runscForState().States(ctx)
	if err != nil {
		return nil, err
	}
	st, ok := states[sandboxID]
	if !ok || st.Pid == 0 {
		return nil, fmt.Errorf("sandbox %s not running", sandboxID)
	}
	hostCPU, err := sandbox.SandboxCPU(st.Pid)
	if err != nil {
		return nil, err
	}
	var out []cri.ContainerStats
	var figures []uint64
	// The pause container's share is negligible, and runsc cannot name it
	// (its ID is a prefix of the others').
	var total uint64
	for _, id := range ids {
		stats, err := sb.runsc.Stats(sandboxID, id)
		if err != nil {
			continue // exited meanwhile
		}
		figures = append(figures, stats.CPU)
		total += stats.CPU
		out = append(out, cri.ContainerStats{ID: id, MemoryBytes: stats.MemoryBytes})
	}
	for i, f := range figures {
		if total > 0 {
			out[i].CPU = time.Duration(float64(hostCPU) * float64(f) / float64(total))
		}
	}
	return out, nil
}
