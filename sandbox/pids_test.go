package sandbox

import (
	"slices"
	"testing"
)

// TestPidsHelper: the cgroup helper is podbox-pause in the pause container,
// as root with CAP_SYS_ADMIN and nothing else, and no_new_privs.
func TestPidsHelper(t *testing.T) {
	p := pidsHelper("sb1-web-0", 1024)
	if !slices.Equal(p.Args, []string{"/pause", "pids-max", "sb1-web-0", "1024"}) || p.User.UID != 0 || !p.NoNewPrivileges {
		t.Errorf("helper process %+v", p)
	}
	c := p.Capabilities
	for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
		if !slices.Equal(set, []string{"CAP_SYS_ADMIN"}) {
			t.Errorf("helper capabilities %+v, want CAP_SYS_ADMIN only", c)
		}
	}
	if len(c.Ambient) != 0 || len(c.Inheritable) != 0 {
		t.Errorf("helper capabilities %+v, want no ambient or inheritable ones", c)
	}
	if HostPidsMax(DefaultPodPidsLimit) != 4*1024+512 {
		t.Errorf("HostPidsMax(%d) = %d", DefaultPodPidsLimit, HostPidsMax(DefaultPodPidsLimit))
	}
}
