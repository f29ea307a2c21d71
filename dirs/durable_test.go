package dirs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFileSetsMode: the file gets exactly the mode asked for, also when
// it replaces a file others could read.
func TestWriteFileSetsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" || fi.Mode().Perm() != 0o600 {
		t.Errorf("after WriteFile: %q, mode %v; want \"new\", 0600", b, fi.Mode())
	}
}
