package sandbox

import (
	"errors"
	"slices"
	"strings"
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

func TestPauseReport(t *testing.T) {
	if err := PauseReport(strings.NewReader("ok\n")); err != nil {
		t.Fatalf("ok: %v", err)
	}
	var pe *PauseError
	if err := PauseReport(strings.NewReader("error: a-0.00000000: read-only file system\n")); !errors.As(err, &pe) || !strings.Contains(pe.Msg, "read-only") {
		t.Fatalf("error report: %v", err)
	}
	for _, bad := range []string{"", "ok", "okay\n", strings.Repeat("x", 10000)} {
		err := PauseReport(strings.NewReader(bad))
		if err == nil || errors.As(err, &pe) {
			t.Errorf("%.20q: %v, want an error that is not a PauseError (the pause's state is unknown)", bad, err)
		}
	}
}

func TestWithPauseCgroups(t *testing.T) {
	s := PauseSpec(Pod{ID: "sb"}, "/rootfs")
	WithPauseCgroups(s, []string{"sb-a.00000000", "sb-a-0.00000000"}, 100)
	want := []string{pauseBinary, "--pids-max", "100", "sb-a.00000000", "sb-a-0.00000000"}
	if strings.Join(s.Process.Args, " ") != strings.Join(want, " ") {
		t.Fatalf("args %q, want %q", s.Process.Args, want)
	}
	if c := s.Process.Capabilities; len(c.Effective) != 1 || c.Effective[0] != "CAP_SYS_ADMIN" || len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Fatalf("capabilities %+v: the pause needs CAP_SYS_ADMIN alone, and passes none on", c)
	}
	if !s.Process.NoNewPrivileges {
		t.Fatal("no_new_privs dropped")
	}
}
