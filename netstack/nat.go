package netstack

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// nat is podbox's user-mode NAT: a gVisor network stack on the infra end
// of the gateway link, in promiscuous mode so that it terminates TCP
// connections and UDP flows to any address, each of which it re-originates
// from an ordinary socket in the host's network namespace (the supervisor's
// own). No TUN device, no root and no external program are involved.
type nat struct {
	cfg   Config
	stack *stack.Stack
	local *localAddrs
	// table bounds what each pod holds (natlimits.go).
	table *natTable

	mu     sync.Mutex
	closed bool
	conns  map[io.Closer]struct{}
}

const (
	nicID = 1
	// udpIdle is how long a UDP flow lives without traffic (as
	// rootlesskit's and libnetwork's UDP proxies).
	udpIdle = 90 * time.Second
	// dnsIdle is shorter: a DNS flow is one query and its answer.
	dnsIdle = 10 * time.Second
	// forwarderSlack is room in the TCP forwarder for SYNs being
	// refused (each is in flight for the microseconds its reset takes).
	forwarderSlack = 256
)

func newNAT(fd int, mac net.HardwareAddr, cfg Config) (*nat, error) {
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                []int{fd},
		MTU:                uint32(cfg.MTU),
		EthernetHeader:     true,
		Address:            tcpip.LinkAddress(mac),
		PacketDispatchMode: dispatchMode(fd),
		IsPacketSocket:     []bool{true},
		// The veth's peer is in the same kernel: checksums of what it
		// sends are not verified again here (the kernel's veth does the
		// same), which saves a pass over every byte.
		RXChecksumOffload: true,
	})
	if err != nil {
		return nil, err
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})
	n := &nat{cfg: cfg, stack: s, local: &localAddrs{}, table: newNATTable(cfg.Limits), conns: map[io.Closer]struct{}{}}
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: tcpBufferMax}
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv)
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: tcpBufferMax}
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)

	// Handlers before the NIC: it delivers packets from the start.
	// The forwarder drops SYNs beyond maxInFlight, whoever sends them;
	// the table's pending caps (per pod and global, below this) answer
	// them with a reset first, so that one pod's unanswered dials cannot
	// fill it.
	tcpFwd := tcp.NewForwarder(s, 0, 2*n.table.lim.PendingTCP+forwarderSlack, n.forwardTCP)
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, tcpFwd.HandlePacket)
	udpFwd := udp.NewForwarder(s, n.forwardUDP)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, udpFwd.HandlePacket)
	if terr := s.CreateNIC(nicID, ep); terr != nil {
		return nil, errors.New(terr.String())
	}
	if terr := s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(GatewayAddr.As4()), PrefixLen: natLinkAddr.Bits()},
	}, stack.AddressProperties{}); terr != nil {
		return nil, errors.New(terr.String())
	}
	// Promiscuous: accept packets for any destination (the NAT is every
	// address outside the pod network). Spoofing: answer from it. Only
	// the infra kernel sits on this link, and it only asks for GatewayAddr.
	s.SetPromiscuousMode(nicID, true)
	s.SetSpoofing(nicID, true)
	s.SetRouteTable([]tcpip.Route{
		{Destination: subnet(cfg.Subnet), Gateway: tcpip.AddrFrom4(natLinkAddr.Addr().As4()), NIC: nicID},
		{Destination: subnet(natLinkAddr.Masked()), NIC: nicID},
	})
	return n, nil
}

// dispatchMode picks how the NAT reads its packet socket. recvmmsg(2) is
// the fastest while the socket's receive buffer holds enough 64 KiB
// frames to ride out a burst (measured egress 2.7-3.4 Gbit/s with 8 MiB).
// Where net.core.rmem_max keeps it small (416 KiB on a stock kernel, the
// most a rootless SO_RCVBUF gets, see setPacketBuffers) frames are dropped
// and egress falls to 0.6-1.9 Gbit/s; a PACKET_RX_RING is not bounded by
// rmem_max, and its 2 MiB ring gave 1.9-2.5 Gbit/s there.
func dispatchMode(fd int) fdbased.PacketDispatchMode {
	if rb, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil && rb < packetBuf {
		return fdbased.PacketMMap
	}
	return fdbased.RecvMMsg
}

func subnet(p netip.Prefix) tcpip.Subnet {
	mask := net.CIDRMask(p.Bits(), 32)
	s, _ := tcpip.NewSubnet(tcpip.AddrFrom4(p.Masked().Addr().As4()), tcpip.MaskFromBytes(mask))
	return s
}

// target says where a pod's connection to dst goes on the host, if
// anywhere. The gateway address is DNS (port 53) and, when enabled, the
// host's loopback. Addresses that would reach the host itself (loopback,
// "this host", the host's own interface addresses) or that are not
// meant to be routed (link-local, e.g. cloud metadata; multicast;
// broadcast; the pod network itself) are refused, and so are the user's
// EgressDeny networks.
func (n *nat) target(dst netip.AddrPort) (netip.AddrPort, bool) {
	a := dst.Addr()
	if a == GatewayAddr {
		if dst.Port() == 53 {
			if up, ok := n.dnsUpstream(); ok {
				return up, true
			}
		}
		if n.cfg.HostGateway {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), dst.Port()), true
		}
		return netip.AddrPort{}, false
	}
	b := a.As4()
	switch {
	case !a.Is4(), a.IsLoopback(), a.IsUnspecified(), b[0] == 0, a.IsMulticast(),
		a.IsLinkLocalUnicast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}),
		n.cfg.Subnet.Contains(a), n.local.contains(a), n.denied(a):
		return netip.AddrPort{}, false
	}
	return dst, true
}

// denied says whether a lies in one of the user's EgressDeny networks.
func (n *nat) denied(a netip.Addr) bool {
	for _, p := range n.cfg.EgressDeny {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// dnsUpstream is the resolver DNS queries to the gateway are relayed to:
// the configured one, else the host's first IPv4 nameserver (a loopback
// one, like systemd-resolved's, included: it is the host's resolver).
func (n *nat) dnsUpstream() (netip.AddrPort, bool) {
	if len(n.cfg.DNS) > 0 {
		return n.cfg.DNS[0], true
	}
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return netip.AddrPort{}, false
	}
	defer f.Close()
	for _, s := range ParseResolvConf(f).Nameservers {
		if ip, err := netip.ParseAddr(s); err == nil && ip.Is4() {
			return netip.AddrPortFrom(ip, 53), true
		}
	}
	return netip.AddrPort{}, false
}

func addrPort(a tcpip.Address, port uint16) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return netip.AddrPortFrom(ip.Unmap(), port)
}

// forwardTCP runs in a goroutine of its own for each new connection.
func (n *nat) forwardTCP(r *tcp.ForwarderRequest) {
	id := r.ID()
	dst, ok := n.target(addrPort(id.LocalAddress, id.LocalPort))
	if !ok {
		r.Complete(true)
		return
	}
	src := addrPort(id.RemoteAddress, 0).Addr()
	use := n.table.admitTCP(src)
	if use == nil {
		r.Complete(true) // the pod is at a cap: refused like a closed port
		return
	}
	var held io.Closer
	defer func() { n.table.endTCP(src, use, held) }()
	// Dial first: if the host cannot connect, the pod sees the refusal
	// (a reset) rather than an accepted connection that dies at once.
	host, err := net.DialTimeout("tcp4", dst.String(), 30*time.Second)
	n.table.dialed(src, use)
	if err != nil {
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		r.Complete(true)
		host.Close()
		return
	}
	r.Complete(false)
	ep.SocketOptions().SetKeepAlive(true)
	size := tcpBuffer(n.table.tcpOf(use))
	if size > 0 {
		// Fixed sizes also turn off growing (tcpBuffer).
		ep.SocketOptions().SetReceiveBufferSize(int64(size), true)
		ep.SocketOptions().SetSendBufferSize(int64(size), true)
	}
	pod := gonet.NewTCPConn(&wq, ep)
	// Both ends: were only the pod's closed, splice would go on waiting
	// for the host's side of an idle connection.
	both := &closePair{pod, host}
	if !n.table.holdTCP(src, use, both) {
		both.Close()
		return
	}
	held = both
	if !n.track(pod, host) {
		return
	}
	defer n.untrack(pod, host)
	maxCopy := bulkCopy
	if size > 0 {
		maxCopy = smallCopy // a small-buffered connection stays small
	}
	splice(pod, host.(*net.TCPConn), maxCopy)
}

// forwardUDP is called for the first datagram of a new flow; it must not
// block.
func (n *nat) forwardUDP(r *udp.ForwarderRequest) bool {
	id := r.ID()
	orig := addrPort(id.LocalAddress, id.LocalPort)
	dst, ok := n.target(orig)
	if !ok {
		return false
	}
	// The slot first: it may evict another flow, whose socket is closed
	// before this one's is made, so the NAT's descriptors stay within
	// the caps.
	flow := n.table.admitUDP(addrPort(id.RemoteAddress, 0).Addr())
	if flow == nil {
		return false
	}
	host, err := net.Dial("udp4", dst.String())
	if err != nil {
		n.table.endUDP(flow)
		return false
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		host.Close()
		n.table.endUDP(flow)
		return false
	}
	pod := gonet.NewUDPConn(&wq, ep)
	if !flow.attach(pod, host) {
		return true // evicted already
	}
	if !n.track(pod, host) {
		n.table.endUDP(flow)
		return true
	}
	idle := udpIdle
	if orig.Addr() == GatewayAddr && orig.Port() == 53 {
		idle = dnsIdle
	}
	go func() {
		defer n.untrack(pod, host)
		defer n.table.endUDP(flow)
		relayUDP(flow, pod, host, idle)
	}()
	return true
}

// relayUDP copies datagrams both ways until the flow has been idle for
// idle, or was evicted (its sockets closed).
func relayUDP(flow *udpFlow, pod *gonet.UDPConn, host net.Conn, idle time.Duration) {
	copyDatagrams := func(dst, src interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
		SetReadDeadline(time.Time) error
	}) {
		buf := make([]byte, 65535)
		for {
			src.SetReadDeadline(time.Now().Add(idle))
			k, err := src.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && flow.idleFor() < idle {
					continue // the other direction is still busy
				}
				return
			}
			flow.touch()
			if _, err := dst.Write(buf[:k]); err != nil {
				return
			}
		}
	}
	done := make(chan struct{}, 2)
	go func() { copyDatagrams(host.(*net.UDPConn), pod); done <- struct{}{} }()
	go func() { copyDatagrams(pod, host.(*net.UDPConn)); done <- struct{}{} }()
	<-done
	pod.Close()
	host.Close()
	<-done
}

// closePair closes two connections.
type closePair struct{ a, b io.Closer }

func (p *closePair) Close() error { return errors.Join(p.a.Close(), p.b.Close()) }

// track registers a connection pair so close can end it; it reports false
// (and closes both) once the NAT is closed.
func (n *nat) track(cs ...io.Closer) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		n.conns[c] = struct{}{}
	}
	return true
}

func (n *nat) untrack(cs ...io.Closer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(n.conns, c)
	}
}

func (n *nat) close() {
	n.mu.Lock()
	n.closed = true
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	// Not Wait: it would block until the link endpoint's reader returns,
	// and nothing else needs the stack to have drained.
	n.stack.Close()
}

// localAddrs caches the host's own interface addresses, which pods must not
// reach through the NAT (they would reach services on the host).
type localAddrs struct {
	mu      sync.Mutex
	fetched time.Time
	addrs   map[netip.Addr]bool
}

func (l *localAddrs) contains(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.fetched) > 5*time.Second {
		l.addrs = map[netip.Addr]bool{}
		if as, err := net.InterfaceAddrs(); err == nil {
			for _, x := range as {
				if ipn, ok := x.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
						l.addrs[ip.Unmap()] = true
					}
				}
			}
		}
		l.fetched = time.Now()
	}
	return l.addrs[a]
}

// halfCloser is a connection whose write side can be closed alone.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// splice copies both ways, passing a half-close on (so request/response
// protocols that shut down their write side work), and returns when both
// directions are done. Between two kernel sockets (host ports) io.Copy
// moves the bytes with splice(2); a NAT connection has a netstack end and
// is copied by copyAdaptive instead.
func splice(a, b halfCloser, maxCopy int) {
	done := make(chan struct{}, 2)
	cp := func(dst, src halfCloser) {
		if isKernelConn(dst) && isKernelConn(src) {
			_, _ = io.Copy(dst, src)
		} else {
			copyAdaptive(dst, src, maxCopy)
		}
		_ = dst.CloseWrite()
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

func isKernelConn(c net.Conn) bool {
	_, ok := c.(*net.TCPConn)
	return ok
}

const (
	smallCopy = 16 << 10
	bulkCopy  = 256 << 10
)

// bulkBufs are the large copy buffers of connections that are moving
// data in bulk.
var bulkBufs = sync.Pool{New: func() any { b := make([]byte, bulkCopy); return &b }}

// copyAdaptive copies src to dst until EOF or an error. io.Copy would use
// 32 KiB reads and writes (net.TCPConn's ReadFrom falls back to that for a
// netstack source), and each of them costs a system call on the kernel
// side and a pass through the netstack endpoint's locks and wakeups on the
// other. A connection whose reads fill the buffer borrows a 256 KiB one
// for as long as it stays busy, which cuts the NAT's CPU per byte by a
// sixth (measured on pod->host egress); an idle or interactive connection
// holds only 16 KiB, so thousands of open connections stay cheap.
// maxCopy below bulkCopy keeps a connection on its small buffer.
func copyAdaptive(dst io.Writer, src io.Reader, maxCopy int) {
	small := make([]byte, smallCopy)
	buf := small
	var bulk *[]byte
	defer func() {
		if bulk != nil {
			bulkBufs.Put(bulk)
		}
	}()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
		switch {
		case bulk == nil && n == len(buf) && maxCopy >= bulkCopy:
			bulk = bulkBufs.Get().(*[]byte)
			buf = *bulk
		case bulk != nil && n < len(buf)/8:
			bulkBufs.Put(bulk)
			bulk, buf = nil, small
		}
	}
}
