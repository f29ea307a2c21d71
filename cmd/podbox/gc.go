package main

import (
	"os"
	"runtime/debug"

	"podbox.dev/podbox/daemon"
)

// cliGCPercent is the garbage collector's GOGC for podbox commands other
// than the daemon. A command lives for tens of milliseconds and allocates a
// few MiB (package initialisation alone is ~2.6 MiB): with Go's default of
// 100 the heap reaches its first 4 MiB goal during nearly every command and a
// collection cycle (mark workers on every core, a write barrier, sweeping)
// costs about a third of the command's CPU for memory the process is about to
// return anyway. At 400 the first goal is 16 MiB, which no short command
// reaches; long-running ones (logs -f, get -w, exec) still collect, at five
// times their live heap, which for a CLI is a few MiB.
const cliGCPercent = 400

// tuneGC sets the collector for a CLI command. The daemon (and the holder and
// supervisor it re-executes as, all `podbox daemon`) keeps Go's default: it
// runs for days. A GOGC the user set wins.
func tuneGC(args []string) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	if len(args) > 1 && args[1] == daemon.Command {
		return
	}
	debug.SetGCPercent(cliGCPercent)
}
