package images_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"podbox.dev/podbox/image"
	"podbox.dev/podbox/testdata/images"
)

func TestBusybox(t *testing.T) {
	img, err := images.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	s, err := image.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer image.RemoveTree(s.Root())
	stored, err := s.Put("busybox", img)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Ref != "docker.io/library/busybox:latest" || stored.Config.Cmd[0] != "sh" || stored.Config.Env[0] != images.Path {
		t.Errorf("stored = %+v", stored)
	}
	root, err := s.Rootfs(stored)
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "ls", "cat", "wget", "nc", "hostname", "sleep"} {
		if l, err := os.Readlink(filepath.Join(root, "bin", applet)); err != nil || l != "busybox" {
			t.Errorf("/bin/%s -> %q, %v", applet, l, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !strings.HasPrefix(string(b), "root:x:0:0:") {
		t.Errorf("/etc/passwd = %q", b)
	}
	out, err := exec.Command(filepath.Join(root, "bin/sh"), "-c", "echo ok").Output()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("bin/sh -c 'echo ok' = %q, %v", out, err)
	}
}

func TestTestAppThroughRegistry(t *testing.T) {
	img, err := images.TestApp()
	if err != nil {
		t.Fatal(err)
	}
	host, stop, err := images.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ref, err := images.Push(host, "podbox/testapp:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	s, err := image.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer image.RemoveTree(s.Root())
	pulled, err := s.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	c := pulled.Config
	if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/testapp" || strings.Join(c.Cmd, " ") != "serve :8080 hello" || c.WorkingDir != "/" {
		t.Errorf("config = %+v", c)
	}
	root, err := s.Rootfs(pulled)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "usr/local/bin/testapp"), "env")
	cmd.Env = []string{"B=2", "A=1"}
	out, err := cmd.Output()
	if err != nil || string(out) != "A=1\nB=2\n" {
		t.Errorf("testapp env = %q, %v", out, err)
	}
	if err := exec.Command(filepath.Join(root, "usr/local/bin/testapp"), "exit", "3").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 3 {
		t.Errorf("testapp exit 3: %v", err)
	}
}
