package sandbox

import (
	"context"
	"fmt"
	"os"
)

// Run creates and starts a container in one runsc process (`runsc run
// --detach`): the same as Create then Start, with one exec of the runsc
// binary fewer, which is most of what each of them costs. stdout and
// stderr are what Start would take: nil for the root (pause) container,
// whose stdio goes to /dev/null and the runsc log (see Create), or files
// donated to a subcontainer.
func (r *Runsc) Run(ctx context.Context, id, bundle string, stdout, stderr *os.File) error {
	cmd := r.Command(ctx, "run", "--detach", "--bundle="+bundle, id)
	if stdout == nil && stderr == nil {
		return r.runWithLogStderr(cmd, "run "+id)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("runsc run %s: %w%s", id, err, r.logTail())
	}
	return nil
}
