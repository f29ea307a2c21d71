package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// criTimeFormat is the fixed-width RFC 3339 form the CRI log format uses.
const criTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// maxLogLine is where a long line is split into partial (P) records, as
// containerd does.
const maxLogLine = 16 * 1024

// logFile is one container instance's log in the CRI format
// ("<time> <stream> <P|F> <content>"), the format kubelet reads and
// `kubectl logs` expects from a node.
type logFile struct {
	mu  sync.Mutex
	f   *os.File
	now func() time.Time
}

func openLog(path string, now func() time.Time) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	return &logFile{f: f, now: now}, nil
}

// copyStream reads a container stream ("stdout" or "stderr") until EOF and
// appends it line by line.
func (l *logFile) copyStream(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag := "P"
			if line[len(line)-1] == '\n' {
				tag, line = "F", line[:len(line)-1]
			}
			l.write(stream, tag, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (l *logFile) write(stream, tag string, content []byte) {
	var b bytes.Buffer
	b.WriteString(l.now().UTC().Format(criTimeFormat))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(content)
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Write(b.Bytes())
}

func (l *logFile) Close() error { return l.f.Close() }

// LogOptions selects what Logs returns, as PodLogOptions does.
type LogOptions struct {
	Container  string
	Follow     bool
	Timestamps bool
	// TailLines, when >= 0, limits the output to the last lines.
	TailLines int64
	// Previous selects the previous instance of a restarted container.
	Previous bool
}

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
// that the container will write no more.
func readLog(ctx context.Context, path string, opts LogOptions, w io.Writer, stopped func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if opts.TailLines >= 0 {
		if err := seekTail(f, opts.TailLines); err != nil {
			return err
		}
	}
	br := bufio.NewReader(f)
	atLineStart := true
	var pending []byte
	for {
		chunk, err := br.ReadBytes('\n')
		pending = append(pending, chunk...)
		if err == nil {
			rec, ok := parseCRILine(bytes.TrimSuffix(pending, []byte("\n")))
			pending = pending[:0]
			if ok {
				if opts.Timestamps && atLineStart {
					w.Write(rec.ts)
					w.Write([]byte(" "))
				}
				w.Write(rec.content)
				if !rec.partial {
					w.Write([]byte("\n"))
				}
				atLineStart = !rec.partial
				if fl, ok := w.(interface{ Flush() }); ok {
					fl.Flush()
				}
			}
			continue
		}
		if err != io.EOF {
			return err
		}
		if !opts.Follow {
			return nil
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
