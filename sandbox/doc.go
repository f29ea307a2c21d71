// Package sandbox runs a pod as one gVisor sandbox.
//
// The pod's pause container is runsc's root container: starting it boots the
// sentry (the sandbox), whose userspace netstack, hostname and IPC are what
// the pod's containers share. Each app container is a runsc subcontainer of
// that sandbox, tied to it by the CRI annotations
// io.kubernetes.cri.container-type and io.kubernetes.cri.sandbox-id, as the
// containerd shim does for Kubernetes' gVisor RuntimeClass. That is why the
// same manifests behave the same way on a cluster with runtimeClassName: gvisor.
//
// runsc is driven through its command line (it calls os.Exit and uses process
// globals, so it cannot run in-process). Every invocation shares the global
// flags of Runsc: --root in podbox's runtime directory, --ignore-cgroups
// (rootless), --network=sandbox (netstack, fed from the pod's pinned netns)
// and a per-pod --overlay2 directory, so that the shared, read-only image
// trees are never written. Two things bypass the command line where a runsc
// process per call would cost too much: stats (stats.go) and execs without a
// terminal (exec.go) are calls on the sandbox's control socket, the same
// urpc calls runsc makes, with their arguments mirrored as JSON.
package sandbox
