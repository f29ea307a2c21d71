package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"podbox.dev/podbox/daemon"
	"podbox.dev/podbox/dirs"
)

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  daemon.Command,
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
			o := daemon.Options{Version: podboxVersion(), Stderr: c.App.ErrWriter}
			if dir := c.String("manifests"); dir != "" {
				abs, err := manifestsFlag(dir)
				if err != nil {
					return err
				}
				o.Manifests = abs
			}
			d, err := dirs.FromEnv()
			if err != nil {
				return err
			}
			code, err := daemon.Run(c.Context, d, o)
			if err == nil && code != 0 {
				// A child process ended so and has said why on stderr.
				return cli.Exit("", code)
			}
			return err
		},
	}
}

// manifestsFlag checks --manifests and makes it absolute.
func manifestsFlag(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("--manifests %s: not a directory", dir)
	}
	return abs, nil
}

// daemonStopTimeout is how long `daemon stop` waits, by default, for the
// supervisor to stop its pods and exit. Its shutdown force-deletes every
// sandbox (no grace period) and waits at most 5 s per container for the exit
// to be recorded, pods in parallel, so it takes seconds; --timeout changes it.
const daemonStopTimeout = time.Minute

func daemonStopCommand() *cli.Command {
	return &cli.Command{
		Name:  "stop",
		Usage: "stop your background supervisor and its pods",
		Description: "Sends the supervisor SIGTERM, as a service manager would, and waits until it has\n" +
			"stopped every pod's sandbox and exited. The pods stay defined: the next command\n" +
			"that needs the supervisor starts a new one, which starts them again.\n" +
			"When no supervisor runs, it says so and exits 0, so scripts can call it at any time.\n\n" +
			"Examples:\n" +
			"  podbox daemon stop\n" +
			"  podbox daemon stop --timeout 2m",
		Flags: []cli.Flag{&cli.DurationFlag{
			Name: "timeout", Value: daemonStopTimeout,
			Usage: "give up waiting for the supervisor to exit after `DURATION` (it keeps stopping)",
		}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "daemon stop takes no arguments")
			}
			d, err := dirs.FromEnv()
			if err != nil {
				return err
			}
			err = daemon.Stop(c.Context, d, c.Duration("timeout"))
			var timedOut *daemon.StopTimeoutError
			switch {
			case errors.Is(err, daemon.ErrNotRunning):
				fmt.Fprintln(c.App.Writer, err)
				return nil
			case errors.As(err, &timedOut):
				return fmt.Errorf("%w, or wait longer with --timeout", err)
			case err != nil:
				return err
			}
			fmt.Fprintln(c.App.Writer, "podbox daemon stopped")
			return nil
		},
	}
}
