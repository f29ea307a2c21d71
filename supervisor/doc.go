// Package supervisor owns the pods of one user: it starts each pod as a
// sandbox, watches its containers, keeps its status the way the kubelet
// computes it, and stops it on deletion. It runs outside the sandboxes, so a
// workload cannot tamper with what the user is told about it.
//
// The supervisor is the kubelet's side of podbox; the container runtime's
// mechanics (sandboxes, the pod network, logs, terminals) are behind
// cri.Runtime (package cri/gvisor, or cri/fake in tests).
//
// The data path is one way: a validated Pod comes in (Create), its runner's
// loop (loop.go) asks a pure decision (computePodActions, decide.go) what to
// do given the spec, the record and the time, does it through the runtime,
// and waits for the next event (a container exit, a probe result, a timer,
// deletion). Facts about containers flow into the runner's record, and the
// API-visible status is derived from that record by pure functions in
// status.go. Each pod's record has one owner, its runner; it is persisted
// after every change so a restarted supervisor knows every pod it had.
// docs/architecture.md draws the packages and the data path.
package supervisor
