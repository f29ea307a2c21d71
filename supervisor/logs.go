package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// LogOptions selects what Logs returns, as PodLogOptions does.
type LogOptions struct {
	Container  string
	Follow     bool
	Timestamps bool
	// TailLines, when >= 0, limits the output to the last lines.
	TailLines int64
	// Previous selects the previous instance of a restarted container.
	Previous bool
	// SinceTime, when set, leaves out the records written before it (the
	// API's sinceTime, and sinceSeconds counted back from the request).
	// It applies after TailLines, as in the kubelet: the last N lines,
	// of which those that are new enough.
	SinceTime time.Time
	// LimitBytes, when > 0, ends the output after that many bytes (of what
	// is sent, timestamps included), possibly within a line. Logs then
	// returns ErrLogLimitReached.
	LimitBytes int64

	// sent, when set, counts the bytes written under LimitBytes across the
	// container instances one followed request reads, so the limit is on
	// the whole response. runner.logs sets it.
	sent *int64
	// from, when set, is the byte offset to start at instead of TailLines
	// (attach: where the log ended when the client attached). If the file
	// is shorter, it was rotated since, and reading starts at its head.
	from *int64
}

// ErrLogLimitReached is returned when LimitBytes cut the log short. The
// output written up to then is complete; the error is what ends a followed
// log, which otherwise waits for more.
var ErrLogLimitReached = errors.New("log output reached limitBytes")

// criLine is one parsed CRI log record.
type criLine struct {
	ts      []byte
	partial bool
	content []byte
}

func parseCRILine(line []byte) (criLine, bool) {
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return criLine{}, false
	}
	_, rest, ok = bytes.Cut(rest, []byte(" ")) // stream
	if !ok {
		return criLine{}, false
	}
	tag, content, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return criLine{}, false
	}
	return criLine{ts: ts, partial: bytes.HasPrefix(tag, []byte("P")), content: content}, true
}

// readLog writes the user-visible text of a CRI log file to w. With follow,
// it keeps reading as the file grows until ctx ends or stopped() reports
// that the container will write no more. Records older than opts.SinceTime
// are skipped; after opts.LimitBytes bytes it stops with ErrLogLimitReached.
func readLog(ctx context.Context, path string, opts LogOptions, w io.Writer, stopped func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	switch {
	case opts.from != nil:
		if err := seekFrom(f, *opts.from); err != nil {
			return err
		}
	case opts.TailLines >= 0:
		if err := seekTail(f, opts.TailLines); err != nil {
			return err
		}
	}
	flush := func() {
		if fl, ok := w.(interface{ Flush() }); ok {
			fl.Flush()
		}
	}
	var limit *limitWriter
	if opts.LimitBytes > 0 {
		limit = &limitWriter{w: w, left: opts.LimitBytes, sent: opts.sent}
		if opts.sent != nil {
			limit.left -= *opts.sent
		}
		if limit.left <= 0 {
			return ErrLogLimitReached
		}
	}
	br := bufio.NewReader(f)
	atLineStart := true
	// Records are appended in time order, so once one is recent enough
	// all the rest are.
	sinceDone := opts.SinceTime.IsZero()
	var pending, out []byte
	for {
		chunk, err := br.ReadBytes('\n')
		pending = append(pending, chunk...)
		if err == nil {
			rec, ok := parseCRILine(bytes.TrimSuffix(pending, []byte("\n")))
			pending = pending[:0]
			if ok && !sinceDone {
				ts, terr := time.Parse(time.RFC3339Nano, string(rec.ts))
				if terr == nil && ts.Before(opts.SinceTime) {
					atLineStart = !rec.partial
					continue
				}
				sinceDone = true
			}
			if ok {
				out = out[:0]
				if opts.Timestamps && atLineStart {
					out = append(append(out, rec.ts...), ' ')
				}
				out = append(out, rec.content...)
				if !rec.partial {
					out = append(out, '\n')
				}
				atLineStart = !rec.partial
				if limit != nil {
					limit.Write(out)
					if limit.left == 0 {
						flush()
						return ErrLogLimitReached
					}
				} else {
					w.Write(out)
				}
				flush()
			}
			continue
		}
		if err != io.EOF {
			return err
		}
		if !opts.Follow {
			return nil
		}
		if rotated(f, path) {
			// The writer moved on to a new file: go on with the next one.
			if nf, err := nextLogFile(f, path); err == nil {
				f.Close()
				f = nf
				br.Reset(f)
				continue
			}
		}
		done := stopped()
		if done && len(pending) == 0 {
			// One more read after observing the stop: lines written
			// just before the exit must not be lost.
			if _, err := br.Peek(1); err == io.EOF {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// limitWriter passes on at most left bytes, counting them in sent if set.
type limitWriter struct {
	w    io.Writer
	left int64
	sent *int64
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.w.Write(b)
	l.left -= int64(n)
	if l.sent != nil {
		*l.sent += int64(n)
	}
	return n, err
}

// rotated reports whether path no longer names the file f has open.
func rotated(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && !os.SameFile(a, b)
}

// nextLogFile opens the file written after f: the next rotated one, or the
// current one. If f's own file was already pruned, the oldest one left.
func nextLogFile(f *os.File, path string) (*os.File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	names, _ := filepath.Glob(path + ".*")
	sort.Strings(names)
	names = append(names, path)
	for i, n := range names {
		if fi, err := os.Stat(n); err == nil && os.SameFile(fi, st) && i+1 < len(names) {
			return os.Open(names[i+1])
		}
	}
	return os.Open(names[0])
}

// seekFrom moves to offset, or stays at the head of a file shorter than
// that (a new file after a rotation).
func seekFrom(f *os.File, offset int64) error {
	st, err := f.Stat()
	if err != nil || st.Size() < offset {
		return err
	}
	_, err = f.Seek(offset, io.SeekStart)
	return err
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if n == 0 {
		_, err := f.Seek(size, io.SeekStart)
		return err
	}
	const block = 64 * 1024
	var lines int64
	pos := size
	buf := make([]byte, block)
	for pos > 0 {
		step := min(int64(block), pos)
		pos -= step
		if _, err := f.ReadAt(buf[:step], pos); err != nil && err != io.EOF {
			return err
		}
		for i := step - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == size-1 {
				continue
			}
			lines++
			if lines == n {
				_, err := f.Seek(pos+i+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}
