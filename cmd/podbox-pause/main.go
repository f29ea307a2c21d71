// Command podbox-pause is the root process of every pod sandbox, the
// equivalent of Kubernetes' pause container. It holds the sandbox (and with
// it the pod's netstack, hostname and IPC) while app containers come and go,
// reaps processes re-parented to it, and exits on SIGTERM or SIGINT.
// `podbox-pause pids-max CGROUP N` is its other job (see pidsMax); started
// as `podbox-pause --pids-max N ID...` it first creates those containers'
// capped cgroups (see prepareCgroups).
//
// It is a separate, small static binary because it runs inside every sandbox:
// podbox's own binary would pull hundreds of package initialisers into each pod.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == "pids-max" {
		if err := pidsMax(os.Args[2], os.Args[3]); err != nil {
			os.Stderr.WriteString("podbox-pause pids-max: " + err.Error() + "\n")
			os.Exit(1)
		}
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	if len(os.Args) >= 4 && os.Args[1] == "--pids-max" {
		prepareCgroups(os.Args[2], os.Args[3:])
	}
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
