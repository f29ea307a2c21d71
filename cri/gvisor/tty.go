package gvisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/cri/crilog"
	"podbox.dev/podbox/sandbox"
)

// execTTY runs an exec process on a host pseudo-terminal (see
// sandbox.StartOnTerminal); the client's stdin is written
// to the master, everything the process writes to its terminal is read from
// it, and resize requests are applied to it.
func execTTY(ctx context.Context, inst *instance, procFile string, st cri.Streams) (int, error) {
	x := inst.sb.runsc.Command(ctx, "exec", "--process="+procFile, inst.id)
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
func pumpTerminal(master *os.File, st cri.Streams) <-chan struct{} {
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

// runOnTerminal creates and starts a `tty: true` container instance and
// returns the master of the terminal runsc made for it.
func (rt *Runtime) runOnTerminal(ctx context.Context, inst *instance, bundle string) (*os.File, error) {
	cs, err := sandbox.NewConsoleSocket(rt.opts.Dirs.Runtime)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	id, runsc := inst.id, inst.sb.runsc
	recvCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type received struct {
		f   *os.File
		err error
	}
	got := make(chan received, 1)
	go func() {
		f, err := cs.Receive(recvCtx)
		got <- received{f, err}
	}()
	// runsc sends the master before it returns.
	if err := runsc.RunWithConsole(ctx, id, bundle, cs.Path()); err != nil {
		cancel()
		if res := <-got; res.f != nil {
			res.f.Close()
		}
		return nil, err
	}
	select {
	case res := <-got:
		if res.err != nil {
			_ = runsc.Delete(context.Background(), id)
		}
		return res.f, res.err
	case <-time.After(10 * time.Second):
		cancel()
		<-got
		_ = runsc.Delete(context.Background(), id)
		return nil, fmt.Errorf("runsc run %s: no terminal received", id)
	}
}

// runWithTerminal creates and starts a `tty: true` container from bundle
// and hands its terminal's master to the log server, which logs what the
// container writes to it (as stdout, as the CRI does for terminals) and
// offers it to attach clients for input and resizing, so the terminal
// outlives a supervisor crash.
func (rt *Runtime) runWithTerminal(ctx context.Context, inst *instance, cfg *cri.ContainerConfig, bundle string) error {
	master, err := rt.runOnTerminal(ctx, inst, bundle)
	if err != nil {
		return err
	}
	defer master.Close()
	inst.logs.Add(1)
	server := rt.opts.LogServer
	if server == "" {
		lf, err := crilog.Open(cfg.LogPath, rt.opts.Clock.Now)
		if err != nil {
			inst.logs.Done()
			return err
		}
		dup, err := dupFile(master)
		if err != nil {
			lf.Close()
			inst.logs.Done()
			return err
		}
		go func() { copyTerminal(lf, dup); inst.logs.Done() }()
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(rt.attachPath(inst.id)), 0o700); err != nil {
		inst.logs.Done()
		return err
	}
	lr := logRequest{Path: cfg.LogPath, TTY: true, Attach: rt.attachPath(inst.id)}
	done, err := sendTerminal(server, lr, master)
	if err != nil {
		inst.logs.Done()
		return err
	}
	go func() { <-done; inst.logs.Done() }()
	return nil
}
