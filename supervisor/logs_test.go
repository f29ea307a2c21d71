package supervisor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fixedClock returns t, t+1ns, t+2ns, ... so lines are distinguishable.
func fixedClock() func() time.Time {
	base := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1))) }
}

func writeLog(t *testing.T, streams map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	lf, err := openLog(path, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"stdout", "stderr"} {
		if content, ok := streams[s]; ok {
			lf.copyStream(s, strings.NewReader(content))
		}
	}
	lf.Close()
	return path
}

func TestCRILogFormat(t *testing.T) {
	path := writeLog(t, map[string]string{"stdout": "hello\nworld\nno newline", "stderr": "oops\n"})
	b, _ := os.ReadFile(path)
	want := "2026-11-22T07:00:00.000000001Z stdout F hello\n" +
		"2026-11-22T07:00:00.000000002Z stdout F world\n" +
		"2026-11-22T07:00:00.000000003Z stdout P no newline\n" +
		"2026-11-22T07:00:00.000000004Z stderr F oops\n"
	if string(b) != want {
		t.Errorf("log file:\n%s\nwant:\n%s", b, want)
	}
}

func TestLongLinesSplitIntoPartials(t *testing.T) {
	long := strings.Repeat("x", maxLogLine+10)
	path := writeLog(t, map[string]string{"stdout": long + "\n"})
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], " stdout P ") || !strings.Contains(lines[1], " stdout F ") {
		t.Fatalf("a %d-byte line became %d records", len(long), len(lines))
	}
	var out bytes.Buffer
	if err := readLog(context.Background(), path, LogOptions{TailLines: -1}, &out, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != long+"\n" {
		t.Errorf("reading back the partials gave %d bytes, want the %d-byte line", out.Len(), len(long)+1)
	}
}

func TestReadLogOptions(t *testing.T) {
	path := writeLog(t, map[string]string{"stdout": "one\ntwo\nthree\n"})
	read := func(o LogOptions) string {
		var out bytes.Buffer
		if err := readLog(context.Background(), path, o, &out, func() bool { return true }); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if got := read(LogOptions{TailLines: -1}); got != "one\ntwo\nthree\n" {
		t.Errorf("all: %q", got)
	}
	if got := read(LogOptions{TailLines: 2}); got != "two\nthree\n" {
		t.Errorf("tail 2: %q", got)
	}
	if got := read(LogOptions{TailLines: 0}); got != "" {
		t.Errorf("tail 0: %q", got)
	}
	if got := read(LogOptions{TailLines: 10}); got != "one\ntwo\nthree\n" {
		t.Errorf("tail 10: %q", got)
	}
	if got := read(LogOptions{TailLines: 1, Timestamps: true}); got != "2026-11-22T07:00:00.000000003Z three\n" {
		t.Errorf("timestamps: %q", got)
	}
}

func TestFollowStopsAfterTheContainerStopsWithoutLosingLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	lf, err := openLog(path, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	var stopped atomic.Bool
	done := make(chan string)
	go func() {
		var out bytes.Buffer
		readLog(context.Background(), path, LogOptions{Follow: true, TailLines: -1}, &out, stopped.Load)
		done <- out.String()
	}()
	lf.copyStream("stdout", strings.NewReader("early\n"))
	time.Sleep(150 * time.Millisecond)
	lf.copyStream("stdout", strings.NewReader("last words\n"))
	stopped.Store(true)
	lf.Close()
	select {
	case got := <-done:
		if got != "early\nlast words\n" {
			t.Errorf("followed output %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
}
