package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// moreExamples are the examples of commands whose own definition has none,
// keyed by the command's path below podbox ("image load"). They are kept
// here so that every `--help` shows how a command is used.
var moreExamples = map[string]string{
	"image":        "  podbox image ls\n  podbox image load -i app.tar\n  podbox image prune -a",
	"image load":   "  podbox image load -i app.tar\n  podbox image load -i ./oci-layout-dir",
	"image ls":     "  podbox image ls",
	"image pull":   "  podbox image pull busybox\n  podbox image pull -q localhost:5000/app:v1",
	"image rm":     "  podbox image rm busybox\n  podbox image rm localhost:5000/app:v1 sha256:0123abcd",
	"image prune":  "  podbox image prune\n  podbox image prune -a",
	"image verify": "  podbox image verify",
	"pull":         "  podbox pull busybox\n  podbox pull -q localhost:5000/app:v1",
	"images":       "  podbox images",
	"rmi":          "  podbox rmi busybox nginx:1.27",
	"daemon":       "  podbox daemon\n  podbox daemon 2>daemon.log &\n  podbox daemon stop",
	"version":      "  podbox version",
	"info":         "  podbox info",
}

// withExamples appends the examples of moreExamples to the descriptions of
// the commands that have none.
func withExamples(cmds []*cli.Command, prefix string) []*cli.Command {
	for _, c := range cmds {
		path := strings.TrimSpace(prefix + " " + c.Name)
		if ex, ok := moreExamples[path]; ok && !strings.Contains(c.Description, "Examples:") {
			if c.Description != "" {
				c.Description += "\n\n"
			}
			c.Description += "Examples:\n" + ex
		}
		withExamples(c.Subcommands, path)
	}
	return cmds
}
