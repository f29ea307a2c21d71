package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInstanceFileNames(t *testing.T) {
	for _, c := range []struct {
		file string
		n    int32
		ok   bool
	}{
		{"0.log", 0, true},
		{"12.log", 12, true},
		{"3.log.20261207-231500.000000000", 3, true},
		{"x.log", 0, false},
		{"3.logx", 0, false},
		{".log", 0, false},
		{"99999999999.log", 0, false},
	} {
		n, ok := logInstance(c.file)
		if n != c.n || ok != c.ok {
			t.Errorf("logInstance(%q) = %d, %v; want %d, %v", c.file, n, ok, c.n, c.ok)
		}
	}
	for _, c := range []struct {
		name, file string
		n          int32
		ok         bool
	}{
		{"a", "a-0", 0, true},
		{"a", "a-17", 17, true},
		{"a", "a-0-1", 0, false}, // container a-0's
		{"a-0", "a-0-1", 1, true},
		{"a-0", "a-1", 0, false},
		{"app", "app-1-0", 0, false},
	} {
		n, ok := terminationInstance(c.name, c.file)
		if n != c.n || ok != c.ok {
			t.Errorf("terminationInstance(%q, %q) = %d, %v; want %d, %v", c.name, c.file, n, ok, c.n, c.ok)
		}
	}
}

// TestPruneInstanceFiles: when instance 5 starts after instance 4, the files
// of instances 0-3 go (rotated logs included); instance 4's (for `logs
// --previous`) and 5's stay, and so do a sibling container's.
func TestPruneInstanceFiles(t *testing.T) {
	dir := t.TempDir()
	logDir, termDir := filepath.Join(dir, "logs", "a"), filepath.Join(dir, "termination")
	siblingLogs := filepath.Join(dir, "logs", "a-0")
	for _, d := range []string{logDir, termDir, siblingLogs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(path string) {
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"0.log", "1.log", "1.log.20261207-000000.000000000", "3.log", "4.log", "4.log.20261207-000001.000000000", "5.log", "notes"} {
		touch(filepath.Join(logDir, f))
	}
	for _, f := range []string{"a-0", "a-3", "a-4", "a-5", "a-0-0", "a-0-1", "b-2"} {
		touch(filepath.Join(termDir, f))
	}
	touch(filepath.Join(siblingLogs, "0.log"))

	if err := pruneInstanceFiles(logDir, termDir, "a", []int32{5, 4}); err != nil {
		t.Fatal(err)
	}
	names := func(d string) []string {
		es, _ := os.ReadDir(d)
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	if got, want := names(logDir), []string{"4.log", "4.log.20261207-000001.000000000", "5.log", "notes"}; !slices.Equal(got, want) {
		t.Errorf("logs left: %v, want %v", got, want)
	}
	if got, want := names(termDir), []string{"a-0-0", "a-0-1", "a-4", "a-5", "b-2"}; !slices.Equal(got, want) {
		t.Errorf("termination files left: %v, want %v", got, want)
	}
	if got := names(siblingLogs); !slices.Equal(got, []string{"0.log"}) {
		t.Errorf("the sibling's logs were touched: %v", got)
	}
	// Missing directories (a container that never logged) are no error.
	if err := pruneInstanceFiles(filepath.Join(dir, "none"), filepath.Join(dir, "none2"), "a", []int32{0}); err != nil {
		t.Errorf("missing directories: %v", err)
	}
}
