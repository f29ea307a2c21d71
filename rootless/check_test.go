package rootless

import (
	"errors"
	"strings"
	"testing"
)

func fakeSysctls(m map[string]string) Sysctls {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		sysctls map[string]string
		wantFix string // empty: no problem
	}{
		{"debian default", map[string]string{"user/max_user_namespaces": "96365"}, ""},
		{"disabled by max", map[string]string{"user/max_user_namespaces": "0"}, "user.max_user_namespaces"},
		{"old debian clone switch", map[string]string{"user/max_user_namespaces": "100", "kernel/unprivileged_userns_clone": "0"}, "kernel.unprivileged_userns_clone=1"},
		{"ubuntu apparmor is only detected on use", map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(fakeSysctls(tt.sysctls))
			if tt.wantFix == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || !strings.Contains(p.Fix, tt.wantFix) {
				t.Fatalf("Check() = %v, want a Problem whose fix mentions %q", err, tt.wantFix)
			}
		})
	}
}

func TestAppArmorProblemNamesTheProfileAndSysctl(t *testing.T) {
	err := appArmorProblem(fakeSysctls(map[string]string{"kernel/apparmor_restrict_unprivileged_userns": "1"}), errors.New("operation not permitted"))
	msg := err.Error()
	for _, want := range []string{"apparmor_restrict_unprivileged_userns = 1", "userns,", "apparmor_parser -r", "operation not permitted"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	other := appArmorProblem(fakeSysctls(nil), errors.New("boom")).Error()
	if strings.Contains(other, "apparmor_parser") {
		t.Errorf("without the AppArmor sysctl the fix must not blame AppArmor:\n%s", other)
	}
}

func TestSubIDs(t *testing.T) {
	file := "alice:100000:65536\n# comment\nbob:165536:65536\n1001:231072:1000\n"
	if r, ok := subIDs(strings.NewReader(file), "bob", 1000); !ok || r != (IDRange{165536, 65536}) {
		t.Errorf("bob by name = %v %v", r, ok)
	}
	if r, ok := subIDs(strings.NewReader(file), "carol", 1001); !ok || r != (IDRange{231072, 1000}) {
		t.Errorf("by numeric id = %v %v", r, ok)
	}
	if _, ok := subIDs(strings.NewReader(file), "dave", 1002); ok {
		t.Errorf("dave has no range")
	}
}

func TestReport(t *testing.T) {
	find := func(fs []Finding, name string) Finding {
		for _, f := range fs {
			if f.Name == name {
				return f
			}
		}
		t.Fatalf("no finding %q", name)
		return Finding{}
	}
	ubuntu := Report(fakeSysctls(map[string]string{"user/max_user_namespaces": "100", "kernel/apparmor_restrict_unprivileged_userns": "1"}))
	if f := find(ubuntu, "AppArmor"); f.OK || !strings.Contains(f.Fix, "apparmor_parser -r") {
		t.Errorf("AppArmor finding on Ubuntu: %+v", f)
	}
	if f := find(ubuntu, "user namespaces"); !f.OK {
		t.Errorf("user namespaces reported off: %+v", f)
	}
	off := Report(fakeSysctls(map[string]string{"user/max_user_namespaces": "0"}))
	if f := find(off, "user namespaces"); f.OK || !strings.Contains(f.Fix, "max_user_namespaces") {
		t.Errorf("user namespaces finding with the limit at 0: %+v", f)
	}
}
