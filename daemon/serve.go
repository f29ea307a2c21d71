package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"podbox.dev/podbox/apiserver"
	"podbox.dev/podbox/cri/gvisor"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/image"
	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/sandbox"
	"podbox.dev/podbox/staticpods"
	"podbox.dev/podbox/supervisor"
)

// The API server depends on the interface it names, which the supervisor
// satisfies; this is where the two meet.
var _ apiserver.Supervisor = (*supervisor.Supervisor)(nil)

// serve runs the supervisor and its API server (the holder's child), on the
// unix socket and the HTTPS endpoint, until SIGTERM or SIGINT, then stops the
// sandboxes.
func serve(ctx context.Context, d dirs.Dirs, version string, adopt bool) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	bins, err := locateSandboxBinaries()
	if err != nil {
		return err
	}
	store, err := image.Open(d.Images(), image.WithLogger(log))
	if err != nil {
		return err
	}
	// Inside the user namespace the supervisor can delete unpacked trees
	// whose files belong to subordinate IDs, which `rmi` outside cannot.
	if res, err := store.GC(); err != nil {
		log.Warn("image store garbage collection", "err", err)
	} else {
		log.Info("image store garbage collection", "result", res)
	}
	objs, err := objects.Open(d.Objects())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGTERM, unix.SIGINT)
	defer stop()
	rt, err := gvisor.New(gvisor.Options{
		Dirs: d, Runsc: bins.runsc, Pause: bins.pause, Log: log, LogServer: d.LogSocket(), Cgroups: delegatedCgroups(log),
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	sup, err := supervisor.New(ctx, supervisor.Options{
		Dirs: d, Runtime: rt, Images: store, Objects: objs, Log: log, Adopt: adopt,
	})
	if err != nil {
		return err
	}
	gv, _ := sandbox.Version(bins.runsc)
	if err := watchManifests(ctx, sup, log); err != nil {
		return err
	}
	srv := apiserver.New(sup, apiserver.Version{Podbox: version, GVisor: gv}, apiserver.WithObjects(objs))
	serveHTTPS(ctx, d, srv, log)
	log.Info("podbox supervisor serving", "socket", d.Socket(), "runsc", bins.runsc, "gvisor", gv, "adopted", adopt)
	err = srv.Serve(ctx, d.Socket())
	log.Info("podbox supervisor stopping its sandboxes")
	sup.Shutdown()
	return err
}

type sandboxBinaries struct{ runsc, pause string }

// locateSandboxBinaries finds runsc, checks that it is the gVisor version
// podbox was built for, and finds the pause helper.
func locateSandboxBinaries() (sandboxBinaries, error) {
	var b sandboxBinaries
	var err error
	if b.runsc, err = sandbox.LocateRunsc(); err != nil {
		return b, err
	}
	if err = sandbox.CheckVersion(b.runsc); err != nil {
		return b, err
	}
	b.pause, err = sandbox.LocatePause()
	return b, err
}

// delegatedCgroups returns the user's delegated cgroup v2 subtree, ready for
// pod cgroups, or nil (limits are then enforced by accounting; see
// docs/resources.md).
func delegatedCgroups(log *slog.Logger) *sandbox.Cgroups {
	cg, err := sandbox.DetectCgroups("/sys/fs/cgroup", "/proc/self/cgroup")
	if err == nil {
		err = cg.Init()
	}
	if err != nil {
		log.Info("resource limits enforced by podbox's accounting, not cgroups", "why", err)
		return nil
	}
	log.Info("resource limits enforced by cgroup v2", "cgroup", cg.Dir)
	return cg
}

// watchManifests runs the static pods of the manifest directory in the
// background for the supervisor's life.
func watchManifests(ctx context.Context, sup *supervisor.Supervisor, log *slog.Logger) error {
	dir, err := manifestDir()
	if err != nil {
		return err
	}
	w := staticpods.New(dir, sup, log)
	go func() {
		if err := w.Run(ctx); err != nil {
			log.Error("static pods stopped", "err", err)
		}
	}()
	return nil
}

// manifestDir is the static pod directory: Options.Manifests, or
// ~/.config/podbox/manifests (under $XDG_CONFIG_HOME when set).
func manifestDir() (string, error) {
	if dir := os.Getenv(envManifests); dir != "" {
		return dir, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("static pod directory: %w", err)
	}
	return filepath.Join(cfg, "podbox", "manifests"), nil
}
