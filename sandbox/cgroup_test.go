package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroupfs lays out a cgroup v2 mount with this process in rel.
func fakeCgroupfs(t *testing.T, rel, controllers string) (mount, self string) {
	t.Helper()
	mount = t.TempDir()
	dir := filepath.Join(mount, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{
		filepath.Join(mount, "cgroup.controllers"):   "cpuset cpu io memory pids\n",
		filepath.Join(dir, "cgroup.controllers"):     controllers,
		filepath.Join(dir, "cgroup.procs"):           "",
		filepath.Join(dir, "cgroup.subtree_control"): "",
	} {
		if err := os.WriteFile(f, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	self = filepath.Join(t.TempDir(), "cgroup")
	if err := os.WriteFile(self, []byte("0::/"+rel+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return mount, self
}

func TestDetectCgroups(t *testing.T) {
	rel := "user.slice/user-1000.slice/user@1000.service/app.slice/podbox.service"
	mount, self := fakeCgroupfs(t, rel, "cpu memory pids\n")
	cg, err := DetectCgroups(mount, self)
	if err != nil || cg.Dir != filepath.Join(mount, rel) || !cg.Pids {
		t.Fatalf("delegated subtree: %+v, %v", cg, err)
	}
	mount, self = fakeCgroupfs(t, rel, "cpu memory\n")
	if cg, err := DetectCgroups(mount, self); err != nil || cg.Pids {
		t.Errorf("without the pids controller: %+v, %v", cg, err)
	}

	mount, self = fakeCgroupfs(t, rel, "pids\n")
	if _, err := DetectCgroups(mount, self); err == nil || !strings.Contains(err.Error(), "lacks the memory controller") {
		t.Errorf("no memory controller: %v", err)
	}
	if _, err := DetectCgroups(t.TempDir(), self); err == nil || !strings.Contains(err.Error(), "cgroup v1 or hybrid") {
		t.Errorf("no cgroup v2: %v", err)
	}
}

func TestPodCgroupLimits(t *testing.T) {
	cg := &Cgroups{Dir: t.TempDir(), Pids: true}
	dir, err := cg.PodCgroup("sb1", 64<<20, 500, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// 4 host tasks per pod task plus 512 for the sentry, gofers and pause.
	for f, want := range map[string]string{"memory.max": "67108864", "cpu.max": "50000 100000", "memory.swap.max": "0", "pids.max": "8704"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); string(b) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
	cg.Pids = false
	dir, _ = cg.PodCgroup("sb2", 0, 0, 1024)
	if _, err := os.Stat(filepath.Join(dir, "pids.max")); err == nil {
		t.Error("pids.max written without the pids controller")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "memory.max")); string(b) != "max" {
		t.Errorf("unlimited memory.max = %q", b)
	}
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	if n := OOMKills(dir); n != 1 {
		t.Errorf("oom_kill %d, want 1", n)
	}
	os.Remove(filepath.Join(dir, "memory.events"))
	for _, f := range []string{"memory.max", "cpu.max", "memory.swap.max"} {
		os.Remove(filepath.Join(dir, f))
	}
	if err := cg.RemovePodCgroup("sb2"); err != nil {
		t.Errorf("remove: %v", err)
	}
	if err := cg.RemovePodCgroup("sb2"); err != nil {
		t.Errorf("remove again: %v", err)
	}
}
