package crilog

import (
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
	lf, err := Open(path, fixedClock())
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
	long := strings.Repeat("x", MaxLine+10)
	path := writeLog(t, map[string]string{"stdout": long + "\n"})
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], " stdout P ") || !strings.Contains(lines[1], " stdout F ") {
		t.Fatalf("a %d-byte line became %d records", len(long), len(lines))
	}
	if got := len(strings.SplitN(lines[0], " ", 4)[3]) + len(strings.SplitN(lines[1], " ", 4)[3]); got != len(long) {
		t.Errorf("the partials hold %d bytes, want %d", got, len(long))
	}
}
