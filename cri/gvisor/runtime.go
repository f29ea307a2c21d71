// Package gvisor is podbox's container runtime (a cri.Runtime): each pod is
// one gVisor sandbox run with runsc (package sandbox), joined to the user's
// pod network (package netstack). It owns the mechanics the supervisor
// (the kubelet's side) leaves to a runtime: runsc command lines and OCI
// bundles, the pod network with its addresses and host ports, the CRI log
// writer and the log server that outlives a supervisor, terminals and the
// stdin plumbing of attach, the pods' process caps, the memory watcher that
// does the kernel OOM killer's job without cgroups, and resource usage.
package gvisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"k8s.io/utils/clock"

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/netstack"
	"podbox.dev/podbox/sandbox"
)

// Options configures a Runtime.
type Options struct {
	Dirs dirs.Dirs
	// Runsc is the path of a runsc binary of the expected version.
	Runsc string
	// Pause is the path of the podbox-pause binary.
	Pause string
	// Clock stamps log records and paces the memory watcher (the real
	// clock when nil).
	Clock clock.WithTicker
	// Log receives the runtime's own log.
	Log *slog.Logger
	// LogServer is the socket of the log server (ServeLogs) that writes the
	// containers' logs; with none, the runtime writes them itself.
	LogServer string
	// Cgroups is the user's delegated cgroup v2 subtree, if any: each pod's
	// sandbox then runs in a cgroup of its own with the pod's memory and
	// CPU limits enforced by the kernel (nil: accounting and CPU affinity).
	Cgroups *sandbox.Cgroups
}

// Runtime runs pods as gVisor sandboxes. It is a cri.Runtime.
type Runtime struct {
	opts        Options
	pauseRootfs string
	pauseImage  string
	// netCfg is the user's network.yaml, read by New; net is the pod
	// network, opened by Recover.
	netCfg netstack.Config
	net    *podNetwork

	mu        sync.Mutex
	sandboxes map[string]*podSandbox // by sandbox ID
	instances map[string]*instance   // by instance ID
}

var _ cri.Runtime = (*Runtime)(nil)

// New prepares the runtime: its directories, the pause container's root
// filesystem and the user's network configuration (a broken one is the
// user's to fix, not to ignore). It must run inside podbox's user
// namespace (rootless.Inside). Recover comes next.
func New(opts Options) (*Runtime, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rt := &Runtime{opts: opts, sandboxes: map[string]*podSandbox{}, instances: map[string]*instance{}}
	for _, d := range []string{opts.Dirs.RunscRoot(), opts.Dirs.Netns()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	var err error
	if rt.pauseRootfs, rt.pauseImage, err = installPause(opts.Dirs.Runtime, opts.Pause); err != nil {
		return nil, err
	}
	if rt.netCfg, err = loadNetworkConfig(); err != nil {
		return nil, err
	}
	return rt, nil
}

// Close releases the pod network when the supervisor exits.
func (rt *Runtime) Close() error {
	rt.closeNetwork()
	return nil
}

// installPause lays out the pause container's root filesystem twice: a
// directory holding only the pause binary (the spec's root path, and what
// sandboxes booted by an earlier podbox still serve through their gofer),
// and the same tree as an EROFS image, which the sentry mounts itself, so
// that a sandbox's root container needs no gofer process
// (sandbox.WithRootfsImage).
func installPause(runtimeDir, pauseBin string) (root, image string, err error) {
	root = filepath.Join(runtimeDir, "pause-rootfs")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", "", err
	}
	data, err := os.ReadFile(pauseBin)
	if err != nil {
		return "", "", fmt.Errorf("read the pause binary: %w\n  fix: run `make` (builds bin/podbox-pause beside bin/podbox)", err)
	}
	tmp := filepath.Join(root, ".pause.tmp")
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, filepath.Join(root, "pause")); err != nil {
		return "", "", err
	}
	image = filepath.Join(runtimeDir, "pause-rootfs.erofs")
	if err := sandbox.WriteErofsFile(image, sandbox.PauseImage(data)); err != nil {
		return "", "", fmt.Errorf("write the pause image: %w", err)
	}
	return root, image, nil
}

// runscForState runs runsc commands that concern no pod in particular
// (list, state, delete).
func (rt *Runtime) runscForState() *sandbox.Runsc {
	return &sandbox.Runsc{Path: rt.opts.Runsc, Root: rt.opts.Dirs.RunscRoot()}
}

func (rt *Runtime) runsc(podDir string) *sandbox.Runsc {
	return &sandbox.Runsc{
		Path:       rt.opts.Runsc,
		Root:       rt.opts.Dirs.RunscRoot(),
		OverlayDir: filepath.Join(podDir, "overlay"),
		LogFile:    filepath.Join(podDir, "runsc.log"),
	}
}

// Recover finds the sandboxes a predecessor left: with adopt, the known
// ones still running are kept for AdoptPodSandbox; every other sandbox goes.
// Then the pod network is opened with the known pods' addresses reserved.
func (rt *Runtime) Recover(ctx context.Context, known []*cri.SandboxConfig, adopt bool) (map[string]bool, error) {
	running := map[string]bool{}
	if adopt {
		running = rt.adoptable(ctx, known)
	}
	rt.reapOrphans(ctx, running)
	rt.openNetwork(known)
	return running, nil
}

// adoptable returns the sandboxes a crashed predecessor left running in
// these same namespaces, which the supervisor takes over.
func (rt *Runtime) adoptable(ctx context.Context, known []*cri.SandboxConfig) map[string]bool {
	out := map[string]bool{}
	states, err := rt.runscForState().States(ctx)
	if err != nil {
		rt.opts.Log.Warn("cannot list the sandboxes to adopt; starting the pods again", "err", err)
		return out
	}
	for _, cfg := range known {
		if st := states[cfg.ID]; st.Status == "running" {
			out[cfg.ID] = true
			continue
		}
		rt.opts.Log.Warn("the pod's sandbox is gone; starting it again", "pod", cfg.Pod.Name)
	}
	return out
}

// reapOrphans removes sandboxes and netns pins that no pod will use: those
// of earlier supervisors that had namespaces of their own (they cannot be
// adopted) and of pods that are gone. The pods themselves are started again
// by the supervisor.
func (rt *Runtime) reapOrphans(ctx context.Context, keep map[string]bool) {
	r := rt.runscForState()
	ids, err := r.List(ctx)
	if err != nil {
		rt.opts.Log.Warn("list leftover sandboxes", "err", err)
	}
	// Subcontainers first: deleting them after their sandbox died fails.
	// Longest first: no ID left is then ambiguous (see deleteContainers).
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	for _, id := range longestFirst(set) {
		sandboxID, _, _ := strings.Cut(id, "-")
		if keep[sandboxID] {
			continue
		}
		if err := r.Delete(ctx, id); err != nil {
			rt.opts.Log.Warn("remove leftover container", "id", id, "err", err)
		}
	}
	pins, _ := os.ReadDir(rt.opts.Dirs.Netns())
	for _, p := range pins {
		if !keep[p.Name()] && p.Name() != infraPin {
			path := filepath.Join(rt.opts.Dirs.Netns(), p.Name())
			_ = netstack.RemovePinned(path)
		}
	}
}

// longestFirst orders IDs longest first (then by name, for a stable order).
func longestFirst(ids map[string]bool) []string {
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}
