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
// For now a pod gets loopback only; the pod network (an IP per pod, egress,
// hostPort) builds on the same namespace.
package netstack
