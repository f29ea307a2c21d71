package sandbox

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCapabilitySetsOf(t *testing.T) {
	sets, err := capabilitySetsOf(&specs.LinuxCapabilities{
		Bounding:  []string{"CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL"},
		Effective: []string{"CAP_KILL"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// CAP_CHOWN is 0, CAP_KILL 5, CAP_NET_RAW 13 (linux/capability.h).
	if want := uint64(1<<0 | 1<<5 | 1<<13); sets.BoundingCaps != want {
		t.Errorf("bounding = %#x, want %#x", sets.BoundingCaps, want)
	}
	if sets.EffectiveCaps != 1<<5 || sets.PermittedCaps != 0 || sets.AmbientCaps != 0 {
		t.Errorf("sets = %+v", sets)
	}
	if _, err := capabilitySetsOf(&specs.LinuxCapabilities{Bounding: []string{"CAP_FLY"}}); err == nil || !strings.Contains(err.Error(), "CAP_FLY") {
		t.Errorf("unknown capability: err = %v", err)
	}
}

// TestExecArgsWire pins the JSON names the sentry's control.ExecArgs decodes
// (untagged fields go by their Go names) and that stdio becomes guest
// descriptors 0, 1, 2 in order, one file per descriptor.
func TestExecArgsWire(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	p := ExecProcess(Process{UID: 1000, GID: 1000, AdditionalGids: []uint32{5}, Env: []string{"A=1"}}, []string{"true"})
	args, err := newExecArgs("c1", p, Stdio{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(args.Files) != 2 || args.GuestFDs[0] != 1 || args.GuestFDs[1] != 2 {
		t.Errorf("files %d, guest fds %v; want stdout and stderr as 1 and 2", len(args.Files), args.GuestFDs)
	}
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"argv", "envv", "wd", "KUID", "KGID", "ExtraKGIDs", "NoNewPrivileges", "Capabilities", "SupportTTYs", "ContainerID", "GuestFDs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if _, ok := m["Files"]; ok {
		t.Errorf("files are sent as SCM_RIGHTS, not JSON: %s", b)
	}
	if m["wd"] != "/" || m["KUID"] != float64(1000) {
		t.Errorf("wd/KUID: %s", b)
	}
}
