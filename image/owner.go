package image

import (
	"os"
	"strconv"
	"strings"
)

// SingleIDMapping reports whether this process runs in a user namespace that
// maps a single user ID, which is what rootless podbox gets when the user has
// no subordinate ID range (/etc/subuid) or the newuidmap helper is missing.
// There, files that an image gives to other users cannot keep their owners:
// unpacking gives them to the user, who is root in the sandbox, so a container
// running as, say, uid 1000 finds its files owned by root (it can still read
// what is world-readable, but cannot write where only its owner may).
func SingleIDMapping() bool {
	raw, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return singleID(string(raw))
}

// singleID reports whether a uid_map content maps exactly one ID.
func singleID(uidMap string) bool {
	lines := strings.Split(strings.TrimSpace(uidMap), "\n")
	if len(lines) != 1 {
		return false
	}
	f := strings.Fields(lines[0])
	return len(f) == 3 && f[2] == strconv.Itoa(1)
}

// OwnershipWarning is the warning podbox gives where image file owners cannot
// be kept (see SingleIDMapping).
const OwnershipWarning = "no subordinate user IDs are mapped (add a range for your user to /etc/subuid and /etc/subgid " +
	"and install uidmap): files that images give to other users will belong to you, which is root inside the pod, " +
	"so containers running as non-root users may not be able to write to them"

// warnOwnershipOnce logs OwnershipWarning, once per store, when this process
// has a single-ID mapping.
func (s *Store) warnOwnershipOnce() {
	s.ownershipWarned.Do(func() {
		if SingleIDMapping() {
			s.log.Warn(OwnershipWarning)
		}
	})
}
