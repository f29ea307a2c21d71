package netstack

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f on a fresh OS thread that has joined the network namespace
// pinned at path, and returns f's error.
//
// Sockets (including netlink sockets) belong to the namespace of the thread
// that creates them and keep it for their whole life, so f typically creates
// sockets that the caller then uses from any goroutine. The thread is never
// unlocked: the supervisor cannot setns back into the host's network
// namespace (its user namespace does not own it), so Go must discard the
// thread when f returns rather than hand it to other goroutines. f must not
// start goroutines that expect to run in the namespace.
func Do(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see above
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open network namespace %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("join network namespace %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
