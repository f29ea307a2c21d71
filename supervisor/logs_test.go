package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"podbox.dev/podbox/cri/crilog"
)

// fixedClock returns t, t+1ns, t+2ns, ... so lines are distinguishable.
func fixedClock() func() time.Time {
	base := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1))) }
}

// writeLog writes a log as a runtime does (crilog).
func writeLog(t *testing.T, streams map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	lf, err := crilog.Open(path, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"stdout", "stderr"} {
		if content, ok := streams[s]; ok {
			lf.CopyStream(s, strings.NewReader(content))
		}
	}
	lf.Close()
	return path
}

// TestReadLongLines: the partial records of a long line read back as the
// line.
func TestReadLongLines(t *testing.T) {
	long := strings.Repeat("x", crilog.MaxLine+10)
	path := writeLog(t, map[string]string{"stdout": long + "\n"})
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
	// attach's start: a byte offset taken before the client's input went
	// in; beyond the end (a rotated log), the new file's head.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := int64(bytes.IndexByte(b, '\n') + 1)
	if got := read(LogOptions{TailLines: 0, from: &first}); got != "two\nthree\n" {
		t.Errorf("from the end of the first line: %q", got)
	}
	beyond := int64(len(b) + 100)
	if got := read(LogOptions{TailLines: 0, from: &beyond}); got != "one\ntwo\nthree\n" {
		t.Errorf("from beyond the end: %q", got)
	}
}

func TestFollowStopsAfterTheContainerStopsWithoutLosingLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	lf, err := crilog.Open(path, fixedClock())
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
	lf.CopyStream("stdout", strings.NewReader("early\n"))
	time.Sleep(150 * time.Millisecond)
	lf.CopyStream("stdout", strings.NewReader("last words\n"))
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

// writeCRI writes a log file of the given records, one per element, each
// "<seconds after 07:00> <stream> <tag> <content>" turned into CRI form.
func writeCRI(t *testing.T, records ...string) string {
	t.Helper()
	base := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	var b strings.Builder
	for _, r := range records {
		var secs int
		var stream, tag, content string
		head, content, _ := strings.Cut(r, "|")
		if _, err := fmt.Sscanf(head, "%d %s %s", &secs, &stream, &tag); err != nil {
			t.Fatalf("record %q: %v", r, err)
		}
		fmt.Fprintf(&b, "%s %s %s %s\n", base.Add(time.Duration(secs)*time.Second).Format(crilog.TimeFormat), stream, tag, content)
	}
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func at(secs int) time.Time {
	return time.Date(2026, 11, 22, 7, 0, secs, 0, time.UTC)
}

func TestReadLogSince(t *testing.T) {
	path := writeCRI(t,
		"0 stdout F|boot",
		"10 stderr P|half ",
		"10 stderr F|line",
		"20 stdout F|twenty",
		"30 stdout F|thirty",
	)
	read := func(o LogOptions) string {
		t.Helper()
		var out bytes.Buffer
		if err := readLog(context.Background(), path, o, &out, func() bool { return true }); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, tc := range []struct {
		name string
		opts LogOptions
		want string
	}{
		{"before all", LogOptions{TailLines: -1, SinceTime: at(-5)}, "boot\nhalf line\ntwenty\nthirty\n"},
		{"between", LogOptions{TailLines: -1, SinceTime: at(15)}, "twenty\nthirty\n"},
		{"exactly at a record", LogOptions{TailLines: -1, SinceTime: at(20)}, "twenty\nthirty\n"},
		{"a line in parts", LogOptions{TailLines: -1, SinceTime: at(5)}, "half line\ntwenty\nthirty\n"},
		{"after all", LogOptions{TailLines: -1, SinceTime: at(31)}, ""},
		// The last 3 records, of which those new enough, as the kubelet.
		{"with tail", LogOptions{TailLines: 3, SinceTime: at(15)}, "twenty\nthirty\n"},
		{"tail first", LogOptions{TailLines: 1, SinceTime: at(15)}, "thirty\n"},
		{"with timestamps", LogOptions{TailLines: -1, SinceTime: at(25), Timestamps: true}, "2026-11-22T07:00:30.000000000Z thirty\n"},
	} {
		if got := read(tc.opts); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestReadLogLimitBytes(t *testing.T) {
	path := writeLog(t, map[string]string{"stdout": "one\ntwo\nthree\n"})
	read := func(o LogOptions) (string, error) {
		var out bytes.Buffer
		err := readLog(context.Background(), path, o, &out, func() bool { return true })
		return out.String(), err
	}
	for _, tc := range []struct {
		name    string
		opts    LogOptions
		want    string
		wantErr error
	}{
		{"within a line", LogOptions{TailLines: -1, LimitBytes: 6}, "one\ntw", ErrLogLimitReached},
		{"at a line end", LogOptions{TailLines: -1, LimitBytes: 8}, "one\ntwo\n", ErrLogLimitReached},
		{"more than there is", LogOptions{TailLines: -1, LimitBytes: 100}, "one\ntwo\nthree\n", nil},
		{"timestamps count", LogOptions{TailLines: -1, LimitBytes: 34, Timestamps: true}, "2026-11-22T07:00:00.000000001Z one", ErrLogLimitReached},
		{"with tail", LogOptions{TailLines: 2, LimitBytes: 5}, "two\nt", ErrLogLimitReached},
		{"with since", LogOptions{TailLines: -1, LimitBytes: 2, SinceTime: time.Date(2026, 11, 22, 7, 0, 0, 3, time.UTC)}, "th", ErrLogLimitReached},
	} {
		got, err := read(tc.opts)
		if got != tc.want || err != tc.wantErr {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestLimitBytesEndsFollow checks that a followed log ends when the limit is
// reached, though the container goes on running, and that the limit holds
// for the whole request across the container instances it reads.
func TestLimitBytesEndsFollow(t *testing.T) {
	opts := LogOptions{Follow: true, TailLines: -1, LimitBytes: 10, sent: new(int64)}
	first := writeLog(t, map[string]string{"stdout": "abc\n"})
	second := writeLog(t, map[string]string{"stdout": "defghij\nklm\n"})
	var out bytes.Buffer
	// The first instance ended (it restarted): its log is read to the end.
	if err := readLog(context.Background(), first, opts, &out, func() bool { return true }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- readLog(context.Background(), second, opts, &out, func() bool { return false }) }()
	select {
	case err := <-done:
		if err != ErrLogLimitReached || out.String() != "abc\ndefghi" {
			t.Errorf("got %q, %v", out.String(), err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow went on after limitBytes")
	}
	// Another instance after that has nothing left to send.
	if err := readLog(context.Background(), first, opts, &out, func() bool { return true }); err != ErrLogLimitReached {
		t.Errorf("after the limit: %v", err)
	}
}

func TestLogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	lf, err := crilog.Open(path, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	var got syncBuffer
	done := make(chan error, 1)
	var stopped atomic.Bool
	go func() {
		done <- readLog(context.Background(), path, LogOptions{Follow: true, TailLines: -1}, &got, stopped.Load)
	}()
	line := strings.Repeat("x", 1023) + "\n" // about 1 KiB per record
	const lines = 6 * 10 * 1024              // about 60 MiB: six rotations
	// Written a rotation's worth at a time, each once the follower has
	// read the one before: a follower more than MaxFiles-1 rotations
	// behind loses the oldest (as kubectl logs -f does on a cluster), which
	// a loaded machine could otherwise make happen here.
	const chunk = lines / 6
	for i := 0; i < lines; i += chunk {
		lf.CopyStream("stdout", strings.NewReader(strings.Repeat(line, chunk)))
		for deadline := time.Now().Add(time.Minute); strings.Count(got.String(), "\n") < i+chunk && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	lf.CopyStream("stdout", strings.NewReader("the end\n"))
	stopped.Store(true)
	lf.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rotatedFiles, _ := filepath.Glob(path + ".*")
	if len(rotatedFiles) != crilog.MaxFiles-1 {
		t.Errorf("%d rotated files kept, want %d", len(rotatedFiles), crilog.MaxFiles-1)
	}
	st, _ := os.Stat(path)
	if st.Size() >= crilog.MaxSize {
		t.Errorf("current log is %d bytes, over the rotation size", st.Size())
	}
	if !strings.HasSuffix(got.String(), "the end\n") || strings.Count(got.String(), "\n") != lines+1 {
		t.Errorf("a follower across rotations read %d lines, want %d ending with the last", strings.Count(got.String(), "\n"), lines+1)
	}
}
