// Package probes runs Kubernetes container probes (liveness, readiness and
// startup) the way the kubelet's prober does, for the podbox supervisor.
//
// It has three layers, each usable on its own:
//
//   - Handlers (ExecHandler, HTTPHandler, TCPHandler, GRPCHandler) run one
//     probe attempt and return an Outcome whose Result and Output carry the
//     kubelet's result and message text, so that events read as on a node.
//     NewHandler builds one from a v1.Probe and a Target (pod IP, container,
//     exec function, dialer).
//   - A Worker runs one probe of one container on a period, with the
//     kubelet's thresholds, initial delay, on-hold after a liveness or
//     startup failure, startup gating and reset on a new container instance.
//     Time comes from an injectable clock so that tests need not sleep.
//   - A ContainerProber groups the workers of one container, gates liveness
//     and readiness on the startup result, and answers the container's
//     started and ready bits as the kubelet's status manager would.
//
// The package knows nothing of the supervisor: it reads container state
// through a callback, reports result changes and events through callbacks,
// and reaches containers through an injected exec function and dialer.
package probes
