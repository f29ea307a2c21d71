// Package crilog writes a container instance's log in the CRI log format
// ("<time> <stream> <P|F> <content>"), the format the kubelet reads and
// `kubectl logs` expects from a node, rotated as the kubelet rotates it.
// Runtimes write logs with it; the supervisor reads them (supervisor's
// readLog), and its tests write them with it.
package crilog

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// TimeFormat is the fixed-width RFC 3339 form the CRI log format uses.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// MaxLine is where a long line is split into partial (P) records, as
// containerd does.
const MaxLine = 16 * 1024

// Log rotation, the kubelet's defaults: a container's log is rotated when it
// reaches 10 MiB, and at most 5 files are kept (the current one and 4
// rotated ones, named <file>.<YYYYMMDD-HHMMSS>). As with the kubelet, `logs`
// reads only the current file.
const (
	MaxSize  = 10 << 20
	MaxFiles = 5
)

// File is one container instance's log.
type File struct {
	mu   sync.Mutex
	f    *os.File
	path string
	size int64
	now  func() time.Time
}

// Open opens (or creates) the log at path for appending; now stamps the
// records.
func Open(path string, now func() time.Time) (*File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{f: f, path: path, size: st.Size(), now: now}, nil
}

// rotateLocked moves the current file aside, starts a new one and removes
// the oldest rotated files beyond the limit.
func (l *File) rotateLocked() {
	rotated := l.path + "." + l.now().UTC().Format("20060102-150405.000000000")
	if err := os.Rename(l.path, rotated); err != nil {
		return
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		// Keep writing to the renamed file rather than losing output.
		return
	}
	l.f.Close()
	l.f, l.size = f, 0
	old, _ := filepath.Glob(l.path + ".*")
	sort.Strings(old) // the timestamps sort in time order
	for len(old) > MaxFiles-1 {
		os.Remove(old[0])
		old = old[1:]
	}
}

// CopyStream reads a container stream ("stdout" or "stderr") until EOF and
// appends it line by line.
func (l *File) CopyStream(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, MaxLine)
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

func (l *File) write(stream, tag string, content []byte) {
	var b bytes.Buffer
	b.WriteString(l.now().UTC().Format(TimeFormat))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(content)
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	n, _ := l.f.Write(b.Bytes())
	l.size += int64(n)
	if l.size >= MaxSize {
		l.rotateLocked()
	}
}

// Close closes the log.
func (l *File) Close() error { return l.f.Close() }
