// Package netstack owns pod networking on the host side of the sandbox.
//
// A pod's network is a network namespace created by podbox inside its own user
// namespace and pinned with a bind mount, so it outlives the thread that made
// it and runsc can be pointed at it by path (runsc only uses a netns given by
// path; without one it makes a fresh, empty one). runsc copies the
// namespace's interfaces into the sentry's userspace netstack at sandbox start
// and skips interfaces that are down, so loopback is brought up here first:
// that loopback becomes the pod's one localhost, shared by all its containers.
//
// The pod network (network.go) joins each pod's namespace to a kernel bridge
// in an infra namespace, so pod-to-pod traffic never leaves the kernel.
// Traffic leaving the pod network goes to podbox's user-mode NAT (nat.go), a
// gVisor network stack that re-originates it from the supervisor's own
// sockets: no TUN device, no root, no helper process. Host ports
// (hostport.go) are listeners in the host namespace whose connections are
// dialled from the infra namespace (dialpod.go); probes and hooks reach pods
// the same way.
package netstack
