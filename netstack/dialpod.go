package netstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Connections to pods (host ports, probes, hooks) are made from the infra
// namespace, where pod IPs are routed. A socket belongs to the namespace of
// the thread that creates it, so a few threads stay in the infra namespace
// to create sockets; everything after that (connect, the wait for the
// handshake, the I/O) happens on the caller's goroutine through Go's
// poller. The threads only run socket(2): were they to dial, as they once
// did, a pod that is slow to accept would hold all of them, and host-port
// connections would be set up at most socketWorkers at a time (measured:
// a burst of host-port connections queued behind four dialling threads
// and kept a pod busy for tens of seconds after its clients had gone).

// socketWorkers is how many threads stay in the infra namespace to create
// sockets.
const socketWorkers = 2

type socketRequest struct {
	typ   int // unix.SOCK_STREAM or unix.SOCK_DGRAM
	reply chan socketResult
}

type socketResult struct {
	fd  int
	err error
}

// socketWorker creates sockets from a thread that joined the infra
// namespace and is never returned to Go's pool.
func (n *Network) socketWorker() {
	_ = Do(n.infra, func() error {
		for {
			select {
			case <-n.done:
				return nil
			case req := <-n.sockets:
				fd, err := unix.Socket(unix.AF_INET, req.typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					err = os.NewSyscallError("socket", err)
				}
				req.reply <- socketResult{fd, err}
			}
		}
	})
}

// socket returns a new non-blocking IPv4 socket of type typ made in the
// infra namespace.
func (n *Network) socket(ctx context.Context, typ int) (int, error) {
	req := socketRequest{typ: typ, reply: make(chan socketResult, 1)}
	select {
	case n.sockets <- req:
	case <-ctx.Done():
		return -1, ctx.Err()
	case <-n.done:
		return -1, net.ErrClosed
	}
	res := <-req.reply // a socket(2) call: no need to watch ctx
	return res.fd, res.err
}

// DialPod connects to addr (a pod IP and port) from the infra namespace,
// as the host does for host ports. network is "tcp", "tcp4", "udp" or
// "udp4" (IPv4 in all cases); errors read as net.Dialer's ("dial tcp
// 10.88.0.2:80: connect: connection refused"), as probe messages show them.
func (n *Network) DialPod(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
	var typ int
	var na net.Addr
	switch network {
	case "tcp", "tcp4":
		typ, na = unix.SOCK_STREAM, net.TCPAddrFromAddrPort(addr)
	case "udp", "udp4":
		typ, na = unix.SOCK_DGRAM, net.UDPAddrFromAddrPort(addr)
	default:
		return nil, fmt.Errorf("dial pod: network %q not supported", network)
	}
	if !addr.Addr().Is4() {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: na, Err: errors.New("pods have IPv4 addresses only")}
	}
	fd, err := n.socket(ctx, typ)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: na, Err: err}
	}
	c, err := connect(ctx, fd, addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: na, Err: err}
	}
	return c, nil
}

// connect connects the non-blocking socket fd to addr, waiting for the
// handshake in Go's poller until ctx is done, and returns it as a
// net.Conn. It always consumes fd.
func connect(ctx context.Context, fd int, addr netip.AddrPort) (net.Conn, error) {
	// os.NewFile sees that fd is non-blocking and registers it with the
	// poller, so that waiting for the handshake parks only this goroutine.
	f := os.NewFile(uintptr(fd), "pod-socket")
	defer f.Close() // net.FileConn holds a duplicate
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	switch err := unix.Connect(fd, sa); {
	case err == nil:
	case errors.Is(err, unix.EINPROGRESS):
		if err := awaitConnect(ctx, f); err != nil {
			return nil, err
		}
	default:
		return nil, os.NewSyscallError("connect", err)
	}
	return net.FileConn(f)
}

// awaitConnect waits until the connection started on f is established or
// has failed, or ctx is done.
func awaitConnect(ctx context.Context, f *os.File) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = f.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(aLongTimeAgo) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	werr := rc.Write(func(fd uintptr) bool {
		// Writable means the handshake ended; a spurious wakeup finds
		// no error and no peer yet, and waits again.
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			cerr = os.NewSyscallError("getsockopt", err)
			return true
		case v != 0:
			cerr = os.NewSyscallError("connect", syscall.Errno(v))
			return true
		}
		_, err = unix.Getpeername(int(fd))
		return err == nil
	})
	if cerr != nil {
		return cerr
	}
	if werr != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err()
		}
		return os.ErrDeadlineExceeded // "i/o timeout", as net.Dialer says
	}
	return nil
}

// aLongTimeAgo is a deadline in the past, which wakes a waiting I/O.
var aLongTimeAgo = time.Unix(1, 0)
