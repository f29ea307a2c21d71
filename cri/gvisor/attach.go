package gvisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/sandbox"
)

// attachPath is where the log server offers a container instance's stdin.
// It depends only on the instance, so a restarted supervisor finds it. The
// name is a digest of the ID, not the ID: a unix socket path must fit in
// 108 bytes, and an ID with a 63-character container name would not.
func (rt *Runtime) attachPath(id string) string {
	return filepath.Join(rt.opts.Dirs.Runtime, "attach", attachName(id))
}

// attachName is 32 hex digits of the SHA-256 of a container instance's ID.
func attachName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// stdinPipe makes the stdin pipe of a container with `stdin: true` (nil
// files otherwise, or without a log server to hold it) and the log request
// that hands its write end to the log server.
func (rt *Runtime) stdinPipe(id string, cfg *cri.ContainerConfig) (rd, wr *os.File, lr logRequest, err error) {
	if !cfg.Stdin || rt.opts.LogServer == "" {
		return nil, nil, lr, nil
	}
	if err := os.MkdirAll(filepath.Dir(rt.attachPath(id)), 0o700); err != nil {
		return nil, nil, lr, err
	}
	rd, wr, err = os.Pipe()
	if err != nil {
		return nil, nil, lr, err
	}
	return rd, wr, logRequest{Attach: rt.attachPath(id), StdinOnce: cfg.StdinOnce}, nil
}

// Attach connects the client's input to the instance's stdin or terminal,
// which the log server hands out (also for resizing), until ctx ends.
func (rt *Runtime) Attach(ctx context.Context, id string, st cri.Streams) error {
	inst, err := rt.instance(id)
	if err != nil {
		return err
	}
	in, conn, err := attachStdin(rt.attachPath(id))
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	if in != nil {
		pumpAttach(ctx, in, conn, st, inst.tty)
	}
	return nil
}

// pumpAttach copies the client's input to the container's stdin (or
// terminal) and applies resizes to its terminal, in the background. When
// the input ends, the stdin is let go of (the log server closes it for good
// with stdinOnce); a terminal is kept until the attach ends, for resizing.
func pumpAttach(ctx context.Context, in *os.File, conn io.Closer, st cri.Streams, tty bool) {
	if st.Stdin != nil {
		go func() {
			_, _ = io.Copy(in, st.Stdin)
			if !tty {
				in.Close()
				conn.Close()
			}
		}()
	}
	if !tty {
		if st.Stdin == nil {
			in.Close()
		}
		return
	}
	go func() {
		defer in.Close()
		for {
			select {
			case sz, ok := <-st.Resize:
				if !ok {
					<-ctx.Done()
					return
				}
				_ = sandbox.Resize(in, sz.Width, sz.Height)
			case <-ctx.Done():
				return
			}
		}
	}()
}
