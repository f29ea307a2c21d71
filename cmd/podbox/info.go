package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"podbox.dev/podbox/daemon"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/rootless"
	"podbox.dev/podbox/sandbox"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "check what podbox needs of this host, and say how to fix what is missing",
		Description: "Checks user namespaces (and Ubuntu's AppArmor restriction), subordinate IDs,\n" +
			"runsc, cgroups and where podbox keeps its files. Exits 1 if something is wrong.",
		Action: func(c *cli.Context) error {
			d, err := dirs.FromEnv()
			if err != nil {
				return err
			}
			findings := append(rootless.Report(rootless.HostSysctls), runscFinding(), storeFinding(d), supervisorFinding(d))
			if printFindings(c.App.Writer, findings) {
				return errReported
			}
			return nil
		},
	}
}

// printFindings prints one block per check; it reports whether any failed.
func printFindings(w io.Writer, findings []rootless.Finding) (failed bool) {
	for _, f := range findings {
		mark := "ok"
		if !f.OK {
			mark, failed = "PROBLEM", true
		}
		fmt.Fprintf(w, "%-7s %s: %s\n", mark, f.Name, f.Detail)
		if f.Fix != "" {
			fmt.Fprintf(w, "        fix: %s\n", f.Fix)
		}
	}
	return failed
}

func runscFinding() rootless.Finding {
	path, err := sandbox.LocateRunsc()
	if err != nil {
		return rootless.Finding{Name: "runsc", Detail: "not found next to podbox or on PATH", Fix: "run `make` (builds bin/runsc beside bin/podbox) or `make install`"}
	}
	got, err := sandbox.Version(path)
	if err != nil {
		return rootless.Finding{Name: "runsc", Detail: err.Error(), Fix: "rebuild it with `make`"}
	}
	if err := sandbox.CheckVersion(path); err != nil {
		return rootless.Finding{Name: "runsc", Detail: fmt.Sprintf("%s is gVisor %s, podbox needs %s", path, got, sandbox.ExpectedVersion()), Fix: "rebuild it with `make`"}
	}
	return rootless.Finding{Name: "runsc", OK: true, Detail: fmt.Sprintf("%s (gVisor %s, platform systrap)", path, got)}
}

func storeFinding(d dirs.Dirs) rootless.Finding {
	var size int64
	_ = filepath.WalkDir(d.Images(), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return rootless.Finding{Name: "storage", OK: true, Detail: fmt.Sprintf("images in %s (%.1f MiB), pods in %s, runtime state in %s", d.Images(), float64(size)/(1<<20), d.Pods(), d.Runtime)}
}

func supervisorFinding(d dirs.Dirs) rootless.Finding {
	err := daemon.Ping(d)
	if err == nil {
		return rootless.Finding{Name: "supervisor", OK: true, Detail: "running, serving " + d.Socket()}
	}
	if u := (*dirs.UnsafeError)(nil); errors.As(err, &u) {
		return rootless.Finding{Name: "supervisor", Detail: "refusing " + u.Path + ": " + u.Problem, Fix: u.Fix}
	}
	return rootless.Finding{Name: "supervisor", OK: true, Detail: "not running (started by the first command that needs it, or `podbox daemon`)"}
}
