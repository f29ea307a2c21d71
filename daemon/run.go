package daemon

import (
	"context"
	"io"
	"os"

	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/rootless"
)

// Command is the podbox subcommand that runs Run. The daemon's processes
// start one another as `<this binary> Command`, so the binary must route it
// to Run.
const Command = "daemon"

// Options are the daemon's settings.
type Options struct {
	// Version is podbox's version, as the API server reports it.
	Version string
	// Manifests is the directory of static pod manifests (absolute); empty
	// means ~/.config/podbox/manifests.
	Manifests string
	// Stderr receives the warnings of entering the user namespace; it must
	// not be nil. (The holder and the supervisor log to os.Stderr.)
	Stderr io.Writer
}

// Roles of the processes `podbox daemon` becomes (envRole), and whether a
// supervisor adopts its predecessor's sandboxes (envAdopt). The first process
// inside the namespaces is the holder; the supervisor is its child.
const (
	envRole        = "_PODBOX_ROLE"
	roleSupervisor = "supervisor"
	envAdopt       = "_PODBOX_ADOPT"
)

// envManifests carries Options.Manifests through the re-executions into the
// namespaces to the supervisor.
const envManifests = "PODBOX_MANIFESTS"

// Run is `podbox daemon`, in whichever of its processes it is called (see
// the package documentation); it returns when the daemon has stopped, after
// SIGTERM or SIGINT. A non-zero code with a nil error is a child's exit
// code: the child has explained itself on stderr, and the process should exit
// with that code and print nothing more.
func Run(ctx context.Context, d dirs.Dirs, o Options) (code int, err error) {
	if o.Manifests != "" {
		if err := os.Setenv(envManifests, o.Manifests); err != nil {
			return 0, err
		}
	}
	if !rootless.Inside() {
		return enter(d, o.Stderr)
	}
	if os.Getenv(envRole) == roleSupervisor {
		return 0, serve(ctx, d, o.Version, os.Getenv(envAdopt) == "true")
	}
	return hold(ctx, d)
}

// enter checks what can be checked on the host and runs the daemon again in
// podbox's user and mount namespace, where it becomes the holder.
func enter(d dirs.Dirs, stderr io.Writer) (int, error) {
	if err := d.Ensure(); err != nil {
		return 0, err
	}
	if _, err := locateSandboxBinaries(); err != nil {
		return 0, err
	}
	d.Export()
	if err := os.Setenv(envUser, loginName()); err != nil {
		return 0, err
	}
	code, err := rootless.Enter(stderr)
	if err != nil {
		return 0, err
	}
	return code, nil
}
