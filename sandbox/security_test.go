package sandbox

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name      string
		add, drop []string
		want      func([]string) bool
	}{
		{"default set", nil, nil, func(c []string) bool { return len(c) == len(defaultCaps) && slices.Contains(c, "CAP_NET_RAW") }},
		{"drop one", nil, []string{"chown"}, func(c []string) bool { return len(c) == len(defaultCaps)-1 && !slices.Contains(c, "CAP_CHOWN") }},
		{"add one", []string{"NET_ADMIN"}, nil, func(c []string) bool { return len(c) == len(defaultCaps)+1 && slices.Contains(c, "CAP_NET_ADMIN") }},
		{"drop ALL, add one", []string{"NET_BIND_SERVICE"}, []string{"ALL"}, func(c []string) bool { return slices.Equal(c, []string{"CAP_NET_BIND_SERVICE"}) }},
		{"add ALL, drop one", []string{"all"}, []string{"SYS_ADMIN"}, func(c []string) bool {
			return len(c) > 30 && !slices.Contains(c, "CAP_SYS_ADMIN") && slices.Contains(c, "CAP_SYS_PTRACE")
		}},
		{"drop wins over add", []string{"NET_ADMIN"}, []string{"NET_ADMIN"}, func(c []string) bool { return !slices.Contains(c, "CAP_NET_ADMIN") }},
		{"add ALL withholds SYS_ADMIN, names only what gVisor names", []string{"ALL"}, nil, func(c []string) bool {
			return len(c) > 30 && !slices.Contains(c, "CAP_SYS_ADMIN") && slices.Contains(c, "CAP_SYS_PTRACE") && !slices.Contains(c, "UNKNOWN")
		}},
		{"add SYS_ADMIN by name is withheld", []string{"sys_admin"}, nil, func(c []string) bool { return len(c) == len(defaultCaps) && !slices.Contains(c, "CAP_SYS_ADMIN") }},
	} {
		if got := Capabilities(tc.add, tc.drop); !tc.want(got) {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func TestCheckCapability(t *testing.T) {
	for _, ok := range []string{"NET_ADMIN", "net_raw", "ALL", "all", "SYS_PTRACE"} {
		if err := CheckCapability(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := CheckCapability("CAP_CHOWN"); err == nil || !strings.Contains(err.Error(), `use "CHOWN"`) {
		t.Errorf("CAP_CHOWN: %v", err)
	}
	if err := CheckCapability("FLY"); err == nil {
		t.Errorf("FLY accepted")
	}
}

func TestContainerSecuritySpec(t *testing.T) {
	p := Pod{ID: "sb1", SharePID: true}
	root := ContainerSpec(p, "c", "img", Process{Args: []string{"sh"}, Security: Security{CapDrop: []string{"ALL"}, NoNewPrivileges: true, ReadOnlyRoot: true}}, "/r")
	if !root.Root.Readonly || !root.Process.NoNewPrivileges || len(root.Process.Capabilities.Bounding) != 0 {
		t.Errorf("security not applied: root %+v, nnp %v, caps %+v", root.Root, root.Process.NoNewPrivileges, root.Process.Capabilities)
	}
	user := ContainerSpec(p, "c", "img", Process{Args: []string{"sh"}, UID: 1000}, "/r")
	if len(user.Process.Capabilities.Bounding) == 0 || len(user.Process.Capabilities.Effective) != 0 {
		t.Errorf("a non-root process keeps only the bounding set: %+v", user.Process.Capabilities)
	}
	// Shared PID namespace: pause and containers name the same key.
	pause := PauseSpec(p, "/pause")
	paths := []string{nsPaths(pause.Linux.Namespaces)[0], nsPaths(user.Linux.Namespaces)[0]}
	if paths[0] == "" || paths[0] != paths[1] {
		t.Errorf("pid namespace paths %q, want one shared key", paths)
	}
	if private := ContainerSpec(Pod{ID: "sb1"}, "c", "img", Process{}, "/r"); nsPaths(private.Linux.Namespaces)[0] != "" {
		t.Errorf("unshared pod: pid namespace path %q, want none (a namespace of its own)", nsPaths(private.Linux.Namespaces)[0])
	}
}

// nsPaths returns the pid namespace's path first.
func nsPaths(nss []specs.LinuxNamespace) []string {
	for _, ns := range nss {
		if ns.Type == "pid" {
			return []string{ns.Path}
		}
	}
	return []string{""}
}

func TestImageGroups(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\napp:x:1000:\ndata:x:50000:other,app\nwheel:x:10:root\n"), 0o644)
	if got := ImageGroups(root, 1000); !slices.Equal(got, []uint32{50000}) {
		t.Errorf("groups of app: %v, want [50000]", got)
	}
	if got := ImageGroups(root, 0); !slices.Equal(got, []uint32{10}) {
		t.Errorf("groups of root: %v, want [10]", got)
	}
	if got := ImageGroups(root, 4242); got != nil {
		t.Errorf("groups of an unnamed uid: %v", got)
	}
}
