package supervisor

import (
	"context"
	"io"
	"os"
	"time"

	"podbox.dev/podbox/sandbox"
)

// execTTY runs an exec process on a host pseudo-terminal (see
// sandbox.StartOnTerminal); the client's stdin is written
// to the master, everything the process writes to its terminal is read from
// it, and resize requests are applied to it.
func (r *runner) execTTY(ctx context.Context, live *liveContainer, procFile string, st Streams) (int, error) {
	x := r.runsc.Command(ctx, "exec", "--process="+procFile, live.id)
	master, err := sandbox.StartOnTerminal(x)
	if err != nil {
		return -1, err
	}
	defer master.Close()
	outputDone := pumpTerminal(master, st)
	waitErr := x.Wait()
	// The process and runsc have closed the replica: what is left in the
	// master's buffer comes out, then reads fail with EIO. Don't hang on a
	// replica some background process of the command still holds.
	select {
	case <-outputDone:
	case <-time.After(time.Second):
	}
	return exitCode(x, waitErr)
}

// pumpTerminal connects a pty master to the session's streams and applies
// its resize requests; the returned channel is closed when the terminal's
// output has ended.
func pumpTerminal(master *os.File, st Streams) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		out := st.Stdout
		if out == nil {
			out = io.Discard
		}
		// Ends with EIO, which is how a pty master reports that every
		// replica is closed.
		_, _ = io.Copy(out, master)
	}()
	if st.Stdin != nil {
		// The end of the client's input is not the end of the session: a
		// terminal has no EOF of its own (^D is a character).
		go func() { _, _ = io.Copy(master, st.Stdin) }()
	}
	if st.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-st.Resize:
					if !ok {
						return
					}
					_ = sandbox.Resize(master, sz.Width, sz.Height)
				case <-done:
					return
				}
			}
		}()
	}
	return done
}
