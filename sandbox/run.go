package sandbox

import (
	"context"
	"fmt"
	"os"
)

// Creating and starting a container with one runsc process.
//
// `runsc create` followed by `runsc start` runs the 100 MB runsc binary
// twice, and each run loads the container's state and takes its lock
// again; `runsc run --detach` does both steps in one process (Run's flags
// are a superset of Create's, console socket included) and returns once the
// container runs. On a pod start that is one exec fewer for the sandbox and
// one fewer per container, on the critical path.

// Run creates and starts a subcontainer from the bundle in one runsc
// process (`runsc run --detach`). stdin (nil: /dev/null), stdout and stderr
// are donated to the container: the sentry keeps them after runsc exits,
// and runsc's own complaints land in the container's stderr too, and in
// the runsc log.
func (r *Runsc) Run(ctx context.Context, id, bundle string, stdin, stdout, stderr *os.File) error {
	cmd := r.Command(ctx, "run", "--detach", "--bundle="+bundle, id)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("runsc run %s: %w%s", id, err, r.logTail())
	}
	return nil
}

// RunWithConsole is Run for a container with a terminal: runsc sends the
// terminal's master to the console socket at socket before it returns.
func (r *Runsc) RunWithConsole(ctx context.Context, id, bundle, socket string) error {
	cmd := r.Command(ctx, "run", "--detach", "--bundle="+bundle, "--console-socket="+socket, id)
	return r.runWithLogStderr(cmd, "run "+id)
}
