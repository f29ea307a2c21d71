package dirs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serve listens on dir/podbox.sock in this process, so the peer's uid is ours.
func serve(t *testing.T, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "podbox.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return sock
}

func privateDir(t *testing.T) string {
	t.Helper()
	// A short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "pbd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func wantUnsafe(t *testing.T, err error, path string, words ...string) {
	t.Helper()
	if !IsUnsafe(err) {
		t.Fatalf("got %v, want a refusal of %s", err, path)
	}
	msg := err.Error()
	for _, w := range append(words, path, "XDG_RUNTIME_DIR") {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

func TestDialPrivateGoodDirectory(t *testing.T) {
	sock := serve(t, privateDir(t))
	c, err := dialPrivate(context.Background(), sock, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestDialPrivateRefusesPeerOfAnotherUser(t *testing.T) {
	dir := privateDir(t)
	sock := serve(t, dir)
	// dialPrivate checks the directory against the same uid first, so the
	// peer check is exercised on its own: the directory is ours, the
	// process serving the socket (this one) is not uid+1.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = checkPeer(c, sock, os.Getuid()+1)
	wantUnsafe(t, err, sock, fmt.Sprintf("running as uid %d", os.Getuid()))
}

func TestDialPrivateRefusesDirectoryOfAnotherUser(t *testing.T) {
	dir := privateDir(t)
	sock := serve(t, dir)
	_, err := dialPrivate(context.Background(), sock, os.Getuid()+1)
	wantUnsafe(t, err, dir, "belongs to uid")
}

func TestDialPrivateRefusesOpenDirectory(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o755, 0o710, 0o701} {
		dir := privateDir(t)
		sock := serve(t, dir)
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := dialPrivate(context.Background(), sock, os.Getuid())
		wantUnsafe(t, err, dir, "mode", fmt.Sprintf("%04o", mode))
	}
}

func TestDialPrivateRefusesSymlinkedDirectory(t *testing.T) {
	real := privateDir(t)
	serve(t, real)
	link := filepath.Join(privateDir(t), "run")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(link, "podbox.sock")
	_, err := dialPrivate(context.Background(), sock, os.Getuid())
	wantUnsafe(t, err, link, "symbolic link")
}

func TestEnsureRefusesUnsafeRuntimeDirectory(t *testing.T) {
	base := privateDir(t)
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	elsewhere := privateDir(t)
	link := filepath.Join(base, "link")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(base, "dangling")
	if err := os.Symlink(filepath.Join(base, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []string{open, link, dangling} {
		err := Dirs{Runtime: rt, Data: filepath.Join(base, "data")}.Ensure()
		wantUnsafe(t, err, rt)
	}
	if st, _ := os.Lstat(open); st.Mode().Perm() != 0o777 {
		t.Errorf("Ensure changed the mode of a directory it refused to %v", st.Mode())
	}
	if _, err := os.Stat(filepath.Join(base, "nowhere")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Ensure created the target of a dangling symlink: %v", err)
	}
}

func TestEnsureCreatesPrivateRuntimeDirectory(t *testing.T) {
	base := privateDir(t)
	d := Dirs{Runtime: filepath.Join(base, "a", "podbox"), Data: filepath.Join(base, "data")}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if err := CheckRuntime(d.Runtime); err != nil {
		t.Fatal(err)
	}
}
