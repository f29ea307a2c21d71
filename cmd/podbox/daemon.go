package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"podbox.dev/podbox/apiserver"
	"podbox.dev/podbox/cri/gvisor"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/image"
	"podbox.dev/podbox/objects"
	"podbox.dev/podbox/rootless"
	"podbox.dev/podbox/sandbox"
	"podbox.dev/podbox/supervisor"
)

// version is podbox's version; the Makefile sets it with -ldflags.
var version = ""

func podboxVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "run the supervisor of your pods in the foreground",
		Description: "The supervisor owns all pods of the calling user and serves the podbox API on a\n" +
			"unix socket. Other commands start it in the background when it is not running;\n" +
			"run it yourself to watch its log or to run it under a service manager.\n" +
			"`podbox daemon stop` stops it (and its pods) wherever it was started.",
		Flags: []cli.Flag{&cli.StringFlag{
			Name:  "manifests",
			Usage: "run the pods of the manifest files in `DIR` as static pods (default ~/.config/podbox/manifests)",
		}},
		Subcommands: []*cli.Command{daemonStopCommand()},
		Action: func(c *cli.Context) error {
			if dir := c.String("manifests"); dir != "" {
				if err := setManifestDir(dir); err != nil {
					return err
				}
			}
			return runDaemon(c.Context, c.App.ErrWriter)
		},
	}
}

// runDaemon checks the host, re-enters itself in podbox's user and mount
// namespace, and there runs the supervisor and its API server until
// SIGTERM/SIGINT.
func runDaemon(ctx context.Context, stderr io.Writer) error {
	d, err := dirs.FromEnv()
	if err != nil {
		return err
	}
	if !rootless.Inside() {
		if err := d.Ensure(); err != nil {
			return err
		}
		if _, err := locateSandboxBinaries(); err != nil {
			return err
		}
		d.Export()
		code, err := rootless.Enter(stderr)
		if err != nil {
			return err
		}
		if code != 0 {
			return cli.Exit("", code)
		}
		return nil
	}
	if os.Getenv(envRole) == roleSupervisor {
		return serve(ctx, d, os.Getenv(envAdopt) == "true")
	}
	return hold(ctx, d)
}

type sandboxBinaries struct{ runsc, pause string }

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

// Roles of the processes `podbox daemon` becomes (envRole). The first
// process inside the namespaces is the holder; the supervisor is its child.
const (
	envRole        = "_PODBOX_ROLE"
	roleSupervisor = "supervisor"
	envAdopt       = "_PODBOX_ADOPT"
)

// hold is the namespace holder: the long-lived process that owns podbox's
// user and mount namespace (and so the pods' pinned network namespaces), runs
// the log server that keeps the containers' output flowing, and runs the
// supervisor as its child. If the supervisor crashes, the holder starts a new
// one in the same namespaces, which adopts the running sandboxes instead of
// restarting them. SIGTERM/SIGINT stop the supervisor (which stops the pods)
// and then the holder.
func hold(ctx context.Context, d dirs.Dirs) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	lock, err := lockDaemon(d)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := rootless.Setup(filepath.Join(d.Runtime, ".probe")); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := gvisor.ServeLogs(ctx, d.LogSocket(), log); err != nil {
			log.Error("log server stopped", "err", err)
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(sigs)

	adopt := false
	backoff := time.Second
	for {
		cmd := exec.Command("/proc/self/exe", "daemon")
		cmd.Args[0] = os.Args[0]
		cmd.Env = append(os.Environ(), envRole+"="+roleSupervisor, fmt.Sprintf("%s=%t", envAdopt, adopt))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGTERM}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start the supervisor: %w", err)
		}
		started := time.Now()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
			err := <-exited
			if exit, ok := err.(*exec.ExitError); ok && exit.ExitCode() > 0 {
				return cli.Exit("", exit.ExitCode())
			}
			return nil
		case err := <-exited:
			if time.Since(started) > time.Minute {
				backoff = time.Second
			}
			log.Error("the supervisor exited unexpectedly; starting a new one that adopts its pods", "err", err, "after", backoff)
			select {
			case <-sigs:
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			adopt = true
		}
	}
}

// serve runs the supervisor and its API server (the holder's child).
func serve(ctx context.Context, d dirs.Dirs, adopt bool) error {
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
	log.Info("podbox supervisor serving", "socket", d.Socket(), "runsc", bins.runsc, "gvisor", gv, "adopted", adopt)
	err = apiserver.New(sup, apiserver.Version{Podbox: podboxVersion(), GVisor: gv}, apiserver.WithObjects(objs)).Serve(ctx, d.Socket())
	log.Info("podbox supervisor stopping its sandboxes")
	sup.Shutdown()
	return err
}

// errAlreadyRunning is what a second supervisor of the same user says.
var errAlreadyRunning = errors.New("a podbox supervisor is already running for this user")

// lockDaemon takes the per-user supervisor lock for the life of the process.
func lockDaemon(d dirs.Dirs) (*os.File, error) {
	f, err := os.OpenFile(d.DaemonLock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (lock %s)", errAlreadyRunning, d.DaemonLock())
		}
		return nil, err
	}
	// `podbox daemon stop` signals this pid: the holder, which stops the
	// supervisor and so the pods (same pid namespace as the user's).
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// daemonStartTimeout bounds how long a command waits for a supervisor it
// started to answer.
const daemonStartTimeout = 20 * time.Second

// ensureDaemon makes sure the user's supervisor answers on its socket,
// starting `podbox daemon` in the background (in its own session, log in
// the data directory) if it does not. If that supervisor dies on start, its
// own explanation (a host check, say) is returned.
func ensureDaemon(ctx context.Context, d dirs.Dirs) error {
	if err := supervisorAnswers(d.Socket()); err == nil || dirs.IsUnsafe(err) {
		return err
	}
	if err := d.Ensure(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(d.DaemonLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(exe, "daemon")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the podbox supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(daemonStartTimeout)
	for {
		if err := supervisorAnswers(d.Socket()); err == nil || dirs.IsUnsafe(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("the podbox supervisor did not answer within %s; see %s", daemonStartTimeout, d.DaemonLog())
		case <-exited:
			out := logSince(d.DaemonLog(), offset)
			if bytes.Contains(out, []byte(errAlreadyRunning.Error())) {
				// Another command started it at the same moment: use that one.
				exited = nil
				continue
			}
			return fmt.Errorf("the podbox supervisor failed to start:\n%s", bytes.TrimSpace(out))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// supervisorAnswers connects to the supervisor's socket (through the
// ownership checks of dirs.DialSocket) and hangs up; an error that
// dirs.IsUnsafe is a refusal to be reported, not a supervisor to start.
func supervisorAnswers(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := dirs.DialSocket(ctx, path)
	if err != nil {
		return err
	}
	return c.Close()
}

func logSince(path string, offset int64) []byte {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return b
	}
	return b[offset:]
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the versions of podbox and of the runsc it uses",
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			fmt.Fprintf(w, "podbox version: %s\n", podboxVersion())
			fmt.Fprintf(w, "gVisor version required: %s\n", sandbox.ExpectedVersion())
			path, err := sandbox.LocateRunsc()
			if err != nil {
				return err
			}
			got, err := sandbox.Version(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "runsc: %s (gVisor %s)\n", path, got)
			if want := sandbox.ExpectedVersion(); want == "" || got == want {
				// runsc is not run a second time just to be found right.
				return nil
			}
			return sandbox.CheckVersion(path)
		},
	}
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
