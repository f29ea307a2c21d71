package supervisor

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"podbox.dev/podbox/netstack"
)

// This file is the supervisor's side of pod networking: the per-user pod
// network opened with the supervisor, and each pod's place in it.

// openNetwork sets up what all pods of the user share, when the supervisor
// starts.
func (s *Supervisor) openNetwork() error { return nil }

// closeNetwork releases it when the supervisor exits.
func (s *Supervisor) closeNetwork() {}

// createNetwork pins the pod's network namespace with loopback up.
func (r *runner) createNetwork() error {
	path := r.netnsPath()
	_ = netstack.RemovePinned(path) // left by a crash of this same supervisor
	if err := netstack.CreatePinned(path); err != nil {
		for _, c := range r.rec.Pod.Spec.Containers {
			r.waitingError(c.Name, "CreateContainerError", err)
		}
		return err
	}
	return nil
}

func (r *runner) netnsPath() string {
	return r.sup.opts.Dirs.Netns() + "/" + r.rec.SandboxID
}

// removeNetwork releases the pod's network namespace; it is idempotent.
func (r *runner) removeNetwork() error {
	return netstack.RemovePinned(r.netnsPath())
}

// networkMounts are the files every container of the pod gets from its
// network (such as /etc/hosts and /etc/resolv.conf).
func (r *runner) networkMounts() []specs.Mount { return nil }
