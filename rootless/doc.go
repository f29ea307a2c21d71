// Package rootless gives podbox's supervisor the privileges it needs without
// root: a user namespace (where it is uid 0 over its own resources) and a
// private mount namespace, while it stays in the host's network namespace.
//
// One such namespace pair is shared by all pods of a user; it is created when
// the supervisor starts (Enter) and lives as long as the supervisor. Inside it
// podbox can pin network namespaces with bind mounts and run runsc with
// --network=sandbox, which needs CAP_NET_ADMIN over the pod's netns.
//
// The uid map is either the single mapping 0 -> $UID, which the kernel allows
// any user to write for itself (no helper), or, where the user has
// subordinate IDs in /etc/subuid and /etc/subgid and the setuid helpers
// newuidmap/newgidmap are installed, 0 -> $UID plus 1..N -> the subordinate
// range, so that images whose files belong to many users keep their owners.
//
// Hosts that forbid unprivileged user namespaces are diagnosed by Check with
// the exact fix (sysctl or AppArmor profile), before anything is started.
package rootless
