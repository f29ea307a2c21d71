package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ExecHandler runs a command in the container: exit 0 is Success, any other
// exit Failure, with the command's output as the message either way.
type ExecHandler struct {
	// Command, already expanded (see ExpandCommand).
	Command []string
	// Timeout of the command; exceeding it is a Failure, as with the
	// kubelet's ExecProbeTimeout (GA) behaviour.
	Timeout time.Duration
	// Exec runs the command.
	Exec ExecFunc
}

type execResult struct {
	out  []byte
	code int
	err  error
}

// Probe runs the command once.
func (h *ExecHandler) Probe(ctx context.Context) Outcome {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	// Run in a goroutine so that a function ignoring ctx cannot hold the
	// worker past the timeout; its late result is dropped (buffered send).
	done := make(chan execResult, 1)
	go func() {
		out, code, err := h.Exec(ctx, h.Command)
		done <- execResult{out, code, err}
	}()
	var r execResult
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The kubelet's text for a timed-out ExecSync; the output is
			// lost with the process, so the message stands alone.
			return Outcome{Result: Failure, Output: fmt.Sprintf("command %q timed out", strings.Join(h.Command, " "))}
		}
		return Outcome{Result: Unknown, Err: r.err}
	}
	out := r.out
	if len(out) > MaxOutput {
		out = out[:MaxOutput]
	}
	if r.code != 0 {
		return Outcome{Result: Failure, Output: string(out)}
	}
	return Outcome{Result: Success, Output: string(out)}
}
