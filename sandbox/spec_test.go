package sandbox

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSpecsAssembleOnePod(t *testing.T) {
	p := Pod{ID: "sb1", Name: "web", Namespace: "default", UID: "u-1", Hostname: "web", NetNS: "/run/podbox/netns/sb1"}
	pause := PauseSpec(p, "/pause-rootfs")
	app := ContainerSpec(p, "side", "docker.io/library/busybox:latest", Process{Args: []string{"sh"}, UID: 1000, GID: 1000}, "/images/rootfs/abc")

	if pause.Annotations[annContainerType] != "sandbox" || app.Annotations[annContainerType] != "container" {
		t.Errorf("container types: pause %q, app %q", pause.Annotations[annContainerType], app.Annotations[annContainerType])
	}
	for _, s := range []*specs.Spec{pause, app} {
		if s.Annotations[annSandboxID] != "sb1" || s.Hostname != "web" {
			t.Errorf("sandbox-id %q hostname %q", s.Annotations[annSandboxID], s.Hostname)
		}
		var netns string
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				netns = ns.Path
			}
		}
		if netns != p.NetNS {
			t.Errorf("network namespace path %q, want the pod's pin %q (runsc would make an empty netns)", netns, p.NetNS)
		}
	}
	if !pause.Root.Readonly || app.Root.Readonly {
		t.Errorf("root readonly: pause %v (want true), app %v (want false: the overlay takes writes)", pause.Root.Readonly, app.Root.Readonly)
	}
	if app.Process.User.UID != 1000 || app.Annotations[annContainerName] != "side" {
		t.Errorf("app process %+v, name %q", app.Process.User, app.Annotations[annContainerName])
	}
	if len(pause.Process.Capabilities.Bounding) != 0 || len(app.Process.Capabilities.Bounding) == 0 {
		t.Errorf("capabilities: pause %v, app %v", pause.Process.Capabilities.Bounding, app.Process.Capabilities.Bounding)
	}
	exec := ExecProcess(Process{Env: []string{"A=1"}, Cwd: "", UID: 7}, []string{"ls"})
	if exec.Cwd != "/" || exec.User.UID != 7 || exec.Env[0] != "A=1" || len(exec.Capabilities.Bounding) == 0 {
		t.Errorf("exec process %+v", exec)
	}
}

// TestContainerCgroupNamespace: every app container has a cgroup namespace
// of its own (so it cannot write its own pids.max) and the cgroup2 mount;
// the pause container has neither.
func TestContainerCgroupNamespace(t *testing.T) {
	p := Pod{ID: "sb1", NetNS: "/n"}
	has := func(s *specs.Spec) (ns, mount bool) {
		for _, n := range s.Linux.Namespaces {
			ns = ns || (n.Type == specs.CgroupNamespace && n.Path == "")
		}
		for _, m := range s.Mounts {
			mount = mount || (m.Type == "cgroup2" && m.Destination == "/sys/fs/cgroup")
		}
		return ns, mount
	}
	if ns, mount := has(ContainerSpec(p, "c", "img", Process{Args: []string{"sh"}}, "/r")); !ns || !mount {
		t.Errorf("app container: cgroup namespace %v, cgroup2 mount %v; want both", ns, mount)
	}
	if ns, mount := has(PauseSpec(p, "/p")); ns || mount {
		t.Errorf("pause container: cgroup namespace %v, cgroup2 mount %v; want neither", ns, mount)
	}
}
