package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\napp:x:1001:\n"), 0o644)
	tests := []struct {
		user     string
		uid, gid uint32
		wantErr  bool
	}{
		{"", 0, 0, false},
		{"app", 1000, 1001, false},
		{"1000", 1000, 1001, false},
		{"2000", 2000, 0, false},
		{"app:staff", 1000, 50, false},
		{"1000:7", 1000, 7, false},
		{"ghost", 0, 0, true},
		{"app:nogroup", 0, 0, true},
	}
	for _, tt := range tests {
		uid, gid, err := ResolveUser(root, tt.user)
		if (err != nil) != tt.wantErr || uid != tt.uid || gid != tt.gid {
			t.Errorf("ResolveUser(%q) = %d, %d, %v; want %d, %d, err=%v", tt.user, uid, gid, err, tt.uid, tt.gid, tt.wantErr)
		}
	}
}
