package rootless

import (
	"fmt"
	"os"

	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Finding is one host check as `podbox info` shows it.
type Finding struct {
	// Name of what was checked.
	Name string
	// OK is false when the check found a problem.
	OK bool
	// Detail says what was found.
	Detail string
	// Fix is how to resolve a problem ("" when OK).
	Fix string
}

// Report checks what podbox needs of this host, without changing anything.
// sysctl reads kernel settings (HostSysctls on a real host).
func Report(sysctl Sysctls) []Finding {
	var out []Finding
	userns := Finding{Name: "user namespaces", OK: true, Detail: "unprivileged user namespaces are allowed"}
	if err := Check(sysctl); err != nil {
		p := err.(*Problem)
		userns = Finding{Name: "user namespaces", Detail: p.What, Fix: p.Fix}
	}
	out = append(out, userns)

	apparmor := Finding{Name: "AppArmor", OK: true, Detail: "no restriction on unprivileged user namespaces"}
	if v, ok := sysctl("kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" {
		p := appArmorProblem(sysctl, fmt.Errorf("restricted")).(*Problem)
		apparmor = Finding{Name: "AppArmor", OK: false,
			Detail: "kernel.apparmor_restrict_unprivileged_userns = 1: podbox works only if an AppArmor profile grants it userns",
			Fix:    p.Fix}
	}
	out = append(out, apparmor)

	ids := Finding{Name: "subordinate IDs", OK: true}
	if uids, gids, ok := SubordinateIDs(); ok {
		ids.Detail = fmt.Sprintf("uids %d-%d, gids %d-%d mapped with newuidmap/newgidmap", uids.Start, uids.Start+uids.Size-1, gids.Start, gids.Start+gids.Size-1)
	} else {
		ids = Finding{Name: "subordinate IDs", Detail: "none usable (no range in /etc/subuid and /etc/subgid, or newuidmap/newgidmap missing): files images give to other users will belong to you",
			Fix: "sudo apt-get install uidmap; sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER"}
	}
	out = append(out, ids)

	out = append(out, cgroupFinding())
	return out
}

// cgroupFinding reports whether resource limits could be enforced with a
// delegated cgroup v2 subtree (podbox runs sandboxes with --ignore-cgroups
// either way).
func cgroupFinding() Finding {
	f := Finding{Name: "cgroups", OK: true}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		f.Detail = "cgroup v1 or hybrid: no delegation to users; podbox runs without cgroups (limits are not enforced by the kernel)"
		return f
	}
	self, _ := os.ReadFile("/proc/self/cgroup")
	path := strings.TrimSpace(strings.TrimPrefix(string(self), "0::"))
	dir := filepath.Join("/sys/fs/cgroup", path)
	if unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK) == nil {
		f.Detail = fmt.Sprintf("cgroup v2 with a delegated subtree at %s (controllers: %s)", dir, strings.TrimSpace(string(b)))
	} else {
		f.Detail = "cgroup v2 without delegation to you; podbox runs without cgroups (limits are not enforced by the kernel)"
	}
	return f
}
