package gvisor

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/sandbox"
)

// execPipes runs a non-terminal command in a container over the sandbox's
// control socket (sandbox.Runsc.Exec), with the session's streams plumbed
// through pipes, and returns its exit code.
func execPipes(ctx context.Context, inst *instance, cmd []string, st cri.Streams) (int, error) {
	sio, err := newExecIO(st)
	if err != nil {
		return -1, err
	}
	code, err := inst.sb.runsc.Exec(ctx, inst.sb.cfg.ID, inst.id, sandbox.ExecProcess(inst.proc, cmd), sio.stdio)
	sio.finish(time.Second)
	return code, err
}

// execIO gives an exec'd process files for a session's streams, as os/exec
// does for a child: an *os.File is passed as it is, a nil stream is
// /dev/null, and any other reader or writer is copied through a pipe.
type execIO struct {
	stdio sandbox.Stdio
	// child are the process's ends of the pipes (and /dev/null): the
	// sentry holds its own copies once the process runs, so ours are closed
	// when it has exited, which lets the output pipes reach EOF.
	child []*os.File
	// parent are the supervisor's ends, closed once copying is over.
	parent []*os.File
	// outputs is done when every output stream has been copied.
	outputs sync.WaitGroup
}

func newExecIO(st cri.Streams) (*execIO, error) {
	x := &execIO{}
	var err error
	if x.stdio.Stdin, err = x.input(st.Stdin); err != nil {
		x.close()
		return nil, err
	}
	if x.stdio.Stdout, err = x.output(st.Stdout); err != nil {
		x.close()
		return nil, err
	}
	if sameWriter(st.Stdout, st.Stderr) {
		// One pipe for both, so that their order is kept, as os/exec does.
		x.stdio.Stderr = x.stdio.Stdout
	} else if x.stdio.Stderr, err = x.output(st.Stderr); err != nil {
		x.close()
		return nil, err
	}
	return x, nil
}

func (x *execIO) input(r io.Reader) (*os.File, error) {
	if f, ok := r.(*os.File); ok {
		return f, nil
	}
	if r == nil {
		return x.devNull(os.O_RDONLY)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	x.child, x.parent = append(x.child, pr), append(x.parent, pw)
	// Not waited for, as os/exec doesn't: the client may keep its input
	// open after the command has exited. Closing pw on EOF is the
	// command's end of input.
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return pr, nil
}

func (x *execIO) output(w io.Writer) (*os.File, error) {
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	if w == nil {
		return x.devNull(os.O_WRONLY)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	x.child, x.parent = append(x.child, pw), append(x.parent, pr)
	x.outputs.Add(1)
	go func() {
		defer x.outputs.Done()
		_, _ = io.Copy(w, pr)
	}()
	return pw, nil
}

func (x *execIO) devNull(flag int) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, flag, 0)
	if err == nil {
		x.child = append(x.child, f)
	}
	return f, err
}

// finish is called once the process has exited (or could not start): it
// waits up to delay for the output to be copied — a background process the
// command left behind may hold its output open — then closes everything.
func (x *execIO) finish(delay time.Duration) {
	for _, f := range x.child {
		f.Close()
	}
	x.child = nil
	done := make(chan struct{})
	go func() {
		x.outputs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(delay):
	}
	x.close()
}

func (x *execIO) close() {
	for _, f := range append(x.child, x.parent...) {
		f.Close()
	}
}

// sameWriter reports whether two streams are the same writer, which they
// may be only if their dynamic type is comparable.
func sameWriter(a, b io.Writer) (same bool) {
	if a == nil || b == nil {
		return false
	}
	defer func() { _ = recover() }()
	return a == b
}
