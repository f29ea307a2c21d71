package main

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"podbox.dev/podbox/sandbox"
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
