package sandbox

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Security is the part of a container's securityContext that its OCI spec
// carries beyond the user and groups (which are in Process).
type Security struct {
	// CapAdd and CapDrop are Kubernetes capability names: without the CAP_
	// prefix, or "ALL". They apply to the container runtime's default set.
	CapAdd, CapDrop []string
	// NoNewPrivileges is allowPrivilegeEscalation: false.
	NoNewPrivileges bool
	// ReadOnlyRoot is readOnlyRootFilesystem: the container's root is
	// mounted without the writable overlay.
	ReadOnlyRoot bool
}

// capPrefix is what OCI capability names start with and Kubernetes' do not.
const capPrefix = "CAP_"

// WithheldCapability is the one capability no container gets, whatever it
// asks: with CAP_SYS_ADMIN a container could mount the sentry's cgroup file
// system read-write (or join the pod's root cgroup namespace) and lift its
// own process cap and the limits the supervisor's accounting reads. Adding
// it by name is refused when the pod is applied (pod.validateContainerSecurity);
// `add: [ALL]` grants every other capability, with a warning.
const WithheldCapability = "SYS_ADMIN"

// Capabilities is the capability set (OCI names, sorted) a container gets from
// the runtime's default set with Kubernetes' add and drop lists applied the
// way containerd's CRI plugin applies them: add ALL, then drop ALL, then the
// named additions, then the named drops, so that `add: [ALL], drop: [CHOWN]`
// is everything but CAP_CHOWN and `drop: [ALL], add: [NET_BIND_SERVICE]` is
// just CAP_NET_BIND_SERVICE. Names are case-insensitive, as in containerd.
func Capabilities(add, drop []string) []string {
	set := map[string]bool{}
	for _, c := range defaultCaps {
		set[c] = true
	}
	if slices.ContainsFunc(add, isAll) {
		for _, c := range linux.AllCapabilities() {
			// gVisor names capabilities only up to CAP_AUDIT_READ
			// (PERFMON, BPF and CHECKPOINT_RESTORE are "UNKNOWN", which
			// runsc refuses: "getting root credentials").
			if name := c.String(); strings.HasPrefix(name, capPrefix) {
				set[name] = true
			}
		}
	}
	if slices.ContainsFunc(drop, isAll) {
		clear(set)
	}
	for _, c := range add {
		if !isAll(c) {
			set[capPrefix+strings.ToUpper(c)] = true
		}
	}
	for _, c := range drop {
		if !isAll(c) {
			delete(set, capPrefix+strings.ToUpper(c))
		}
	}
	// Never CAP_SYS_ADMIN, whatever was asked (see WithheldCapability):
	// validation refuses it by name, and this holds for pods stored before.
	delete(set, capPrefix+WithheldCapability)
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func isAll(name string) bool { return strings.EqualFold(name, "ALL") }

// CheckCapability reports whether name is a capability Kubernetes can add or
// drop: a Linux capability name without the CAP_ prefix, or ALL. The error
// says what is wrong and the fix.
func CheckCapability(name string) error {
	if isAll(name) {
		return nil
	}
	up := strings.ToUpper(name)
	if _, ok := linux.CapabilityFromString(capPrefix + up); ok {
		return nil
	}
	if rest, ok := strings.CutPrefix(up, capPrefix); ok {
		if _, ok := linux.CapabilityFromString(capPrefix + rest); ok {
			return fmt.Errorf("capabilities are named without the CAP_ prefix in Kubernetes: use %q", rest)
		}
	}
	return fmt.Errorf("unknown capability: use a Linux capability name without the CAP_ prefix (e.g. NET_BIND_SERVICE) or ALL")
}

// capabilities is the OCI form of a container's capabilities. A process that
// starts as a user other than root keeps the bounding set only: execve as a
// non-root user clears the permitted and effective sets unless ambient
// capabilities are given, which Kubernetes never does.
func capabilities(sec Security, uid uint32) *specs.LinuxCapabilities {
	caps := Capabilities(sec.CapAdd, sec.CapDrop)
	lc := &specs.LinuxCapabilities{Bounding: caps}
	if uid == 0 {
		lc.Effective, lc.Permitted = caps, caps
	}
	return lc
}

// sharedPIDKey names the pod's shared PID namespace. runsc compares pid
// namespace paths of a sandbox's containers as plain strings and never
// opens them, so any stable, pod-unique string works.
func sharedPIDKey(p Pod) string { return "podbox-pid-" + p.ID }

// cgroupMount gives a container the sentry's own cgroup v2 hierarchy at
// /sys/fs/cgroup, as container runtimes mount a container's cgroup there.
// With runsc's --in-sandbox-cgroup=v2 (see Runsc) it also makes the sentry
// create a cgroup per container, which is what lets it account memory per
// container (runsc/boot/vfs.go, setupContainerCgroup2): the supervisor's
// memory limits read that accounting.
func cgroupMount() specs.Mount {
	return specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}}
}
