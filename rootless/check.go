package rootless

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Problem is a host condition that stops podbox, with the fix a user can apply.
type Problem struct {
	// What is wrong, in one sentence.
	What string
	// Fix is the command or change that resolves it.
	Fix string
}

func (p *Problem) Error() string { return p.What + "\n  fix: " + p.Fix }

// Sysctls reads kernel settings by their /proc/sys path relative name
// ("user/max_user_namespaces"); it is a seam for tests.
type Sysctls func(name string) (string, bool)

// HostSysctls reads the running kernel's /proc/sys.
func HostSysctls(name string) (string, bool) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// Check reports why unprivileged user namespaces cannot work on this host, or
// nil when nothing known stands in the way. It cannot see everything (a
// seccomp filter of an outer container, say), so Enter also turns the
// kernel's refusal into a Problem.
func Check(sysctl Sysctls) error {
	if v, ok := sysctl("user/max_user_namespaces"); ok && atoi(v) == 0 {
		return &Problem{
			What: "user namespaces are disabled on this host (user.max_user_namespaces = 0)",
			Fix:  "sudo sysctl -w user.max_user_namespaces=28633 (persist it in /etc/sysctl.d/)",
		}
	}
	if v, ok := sysctl("kernel/unprivileged_userns_clone"); ok && atoi(v) == 0 {
		return &Problem{
			What: "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)",
			Fix:  "sudo sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)",
		}
	}
	return nil
}

// appArmorProblem describes Ubuntu 23.10+'s restriction, which lets the
// namespace be created but strips its capabilities, so it is only visible
// when the first privileged operation inside fails.
func appArmorProblem(sysctl Sysctls, cause error) error {
	exe, _ := os.Executable()
	if exe == "" {
		exe = "/path/to/podbox"
	}
	if v, ok := sysctl("kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" {
		return &Problem{
			What: fmt.Sprintf("AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1), so podbox gets no capabilities in its namespace: %v", cause),
			Fix: "allow podbox to create user namespaces with an AppArmor profile:\n" +
				"    sudo tee /etc/apparmor.d/podbox <<'EOF'\n" +
				"    abi <abi/4.0>,\n    include <tunables/global>\n" +
				"    profile podbox " + exe + " flags=(unconfined) {\n      userns,\n    }\n    EOF\n" +
				"    sudo apparmor_parser -r /etc/apparmor.d/podbox\n" +
				"  or, for the whole host: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
		}
	}
	return &Problem{
		What: fmt.Sprintf("podbox has no privileges inside its user namespace: %v", cause),
		Fix:  "check that nothing (a seccomp profile, an outer container, a security module) blocks unprivileged user namespaces; `unshare --user --map-root-user --mount true` must succeed",
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
