package netstack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The pod network's layout in the infra namespace:
//
//	pod netns: eth0 (pod IP/prefix, default via the bridge IP)
//	   │ veth
//	infra netns: podbr0 (bridge IP, e.g. 10.88.0.1/16), IP forwarding on
//	   │ kernel route: default via GatewayAddr dev pbnat0
//	pbnat0 (169.254.1.2/30) ═veth═ pbnat1 (no IP, forwarding off)
//	                                  │ AF_PACKET socket held by the supervisor
//	                        podbox's user-mode NAT (gVisor tcpip, GatewayAddr)
//	                                  │ ordinary sockets
//	                              host network namespace
//
// Pod-to-pod traffic stays on the kernel bridge. Traffic leaving the pod
// network is routed by the infra kernel to the NAT, which terminates every
// TCP connection and UDP flow and re-originates it from the supervisor's
// host sockets. Host ports are listeners in the host namespace whose
// connections are dialled from sockets created in the infra namespace.
const (
	BridgeName = "podbr0"
	natKernel  = "pbnat0"
	natPeer    = "pbnat1"
	// DefaultMTU is the MTU of the bridge, veths and pod interfaces: large
	// frames halve the per-packet cost of gVisor's netstack.
	DefaultMTU = 65520
)

var (
	// GatewayAddr is the NAT's own address. Pods reach it through their
	// default route: it serves DNS (port 53, relayed to the host's
	// resolvers) and, only when Config.HostGateway is set, the host's
	// loopback under the name HostGatewayName.
	GatewayAddr = netip.MustParseAddr("169.254.1.1")
	natLinkAddr = netip.MustParsePrefix("169.254.1.2/30")
	// DefaultSubnet is the pod network when none is configured.
	DefaultSubnet = netip.MustParsePrefix("10.88.0.0/16")
)

// HostGatewayName is the name pods use for the host when the host gateway
// is enabled.
const HostGatewayName = "host.podbox.internal"

// Config describes the pod network.
type Config struct {
	// Subnet is the pod network (IPv4); its first address is the bridge's.
	Subnet netip.Prefix
	// MTU of the pod interfaces (DefaultMTU if 0).
	MTU int
	// HostGateway lets pods reach the host's loopback at GatewayAddr
	// (HostGatewayName). Off by default: untrusted workloads must not reach
	// services that listen on the host's loopback only.
	HostGateway bool
	// DNS are the resolvers the DNS forwarder relays to; the host's
	// /etc/resolv.conf nameservers when empty.
	DNS []netip.AddrPort
	// EgressDeny are networks pods may not reach through the NAT, on top of
	// those always refused (the host itself, loopback, link-local ...).
	// Pods reach the host's LAN by default, as on a cluster node; listing
	// the private ranges here keeps untrusted pods off it. DNS relayed to
	// the configured resolvers is not affected.
	EgressDeny []netip.Prefix
	// Limits bound the connections and flows each pod, and all pods
	// together, hold in the NAT (zero fields: the defaults, see
	// NATLimits).
	Limits NATLimits
}

// Network is the user's pod network: the infra namespace with its bridge
// and the NAT. It is safe for concurrent use.
type Network struct {
	cfg   Config
	infra string
	nl    *netlink.Handle // netlink socket in the infra namespace
	nat   *nat
	// sockets are made by threads that live in the infra namespace
	// (dialpod.go).
	sockets chan socketRequest
	done    chan struct{}
}

// Open builds the pod network in a new network namespace pinned at
// infraPath. The caller runs inside podbox's user and mount namespace.
func Open(infraPath string, cfg Config) (n *Network, err error) {
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = DefaultSubnet
	}
	if !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("pod network %s: need an IPv4 prefix of /30 or larger", cfg.Subnet)
	}
	cfg.Subnet = cfg.Subnet.Masked()
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.Subnet.Overlaps(natLinkAddr) {
		return nil, fmt.Errorf("pod network %s overlaps podbox's gateway link %s", cfg.Subnet, natLinkAddr.Masked())
	}
	// A supervisor that adopts the pods of a crashed predecessor (same
	// namespaces) finds the infra namespace, bridge and pod veths still in
	// place and reuses them; otherwise they are made anew.
	if !infraExists(infraPath) {
		_ = RemovePinned(infraPath)
		if err := CreatePinned(infraPath); err != nil {
			return nil, err
		}
	}
	n = &Network{cfg: cfg, infra: infraPath, sockets: make(chan socketRequest), done: make(chan struct{})}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	var packetFD int
	var peerMAC net.HardwareAddr
	err = Do(infraPath, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		n.nl = h
		if peerMAC, err = n.setupInfra(); err != nil {
			return err
		}
		packetFD, err = openPacketSocket(natPeer)
		return err
	})
	if err != nil {
		return n, err
	}
	if n.nat, err = newNAT(packetFD, peerMAC, cfg); err != nil {
		unix.Close(packetFD)
		return n, err
	}
	for range socketWorkers {
		go n.socketWorker()
	}
	return n, nil
}

// BridgeIP is the host's address on the pod network: the pods' default
// gateway and the source of host port connections.
func (n *Network) BridgeIP() netip.Addr { return n.cfg.Subnet.Addr().Next() }

// Subnet is the pod network.
func (n *Network) Subnet() netip.Prefix { return n.cfg.Subnet }

// Config returns the network's effective configuration.
func (n *Network) Config() Config { return n.cfg }

// setupInfra runs on a thread in the infra namespace.
func (n *Network) setupInfra() (net.HardwareAddr, error) {
	h := n.nl
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName, MTU: n.cfg.MTU}}
	if err := existsOK(h.LinkAdd(br)); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", BridgeName, err)
	}
	if err := existsOK(h.AddrAdd(br, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(n.BridgeIP(), n.cfg.Subnet.Bits()))})); err != nil {
		return nil, fmt.Errorf("address bridge %s: %w", BridgeName, err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bring up %s: %w", BridgeName, err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: natKernel, MTU: n.cfg.MTU}, PeerName: natPeer}
	if err := existsOK(h.LinkAdd(veth)); err != nil {
		return nil, fmt.Errorf("create gateway link: %w", err)
	}
	kernel, err := h.LinkByName(natKernel)
	if err != nil {
		return nil, err
	}
	peer, err := h.LinkByName(natPeer)
	if err != nil {
		return nil, err
	}
	// Forwarding on (routing between the bridge and the NAT link), but
	// never for what arrives on the NAT's own end: the kernel sees those
	// frames too, and must drop them silently rather than route them back
	// out (a loop) or answer with ICMP errors.
	for _, s := range []struct{ key, val string }{
		{"ipv4/ip_forward", "1"},
		{"ipv4/conf/" + natPeer + "/forwarding", "0"},
		{"ipv6/conf/all/disable_ipv6", "1"},
	} {
		if err := os.WriteFile("/proc/sys/net/"+s.key, []byte(s.val), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sysctl net.%s: %w", s.key, err)
		}
	}
	if err := existsOK(h.AddrAdd(kernel, &netlink.Addr{IPNet: ipNet(natLinkAddr)})); err != nil {
		return nil, fmt.Errorf("address gateway link: %w", err)
	}
	for _, l := range []netlink.Link{kernel, peer} {
		if err := h.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("bring up %s: %w", l.Attrs().Name, err)
		}
	}
	if err := existsOK(h.RouteAdd(&netlink.Route{LinkIndex: kernel.Attrs().Index, Gw: GatewayAddr.AsSlice(), Scope: netlink.SCOPE_UNIVERSE})); err != nil {
		return nil, fmt.Errorf("default route to the gateway: %w", err)
	}
	return peer.Attrs().HardwareAddr, nil
}

// existsOK treats "already exists" as success: setting up an infra
// namespace that a crashed predecessor left finds its pieces in place.
func existsOK(err error) error {
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// infraExists reports whether path is a live, set-up infra namespace (its
// bridge exists), as after a crash of the supervisor that made it.
func infraExists(path string) bool {
	err := Do(path, func() error {
		_, err := netlink.LinkByName(BridgeName)
		return err
	})
	return err == nil
}

// openPacketSocket opens an AF_PACKET socket bound to ifname, in the
// calling thread's namespace.
func openPacketSocket(ifname string) (int, error) {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("packet socket: %w", err)
	}
	const ethPAll = 0x0300 // htons(ETH_P_ALL)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: iface.Index}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind packet socket to %s: %w", ifname, err)
	}
	setPacketBuffers(fd)
	return fd, nil
}

// packetBuf is the receive and send buffer the NAT's packet socket asks
// for. With 64 KiB frames, the default (net.core.rmem_default, 208 KiB)
// holds about three of them: a burst from a pod overflows it, the frames
// are dropped and the pod's TCP falls back on retransmissions (measured:
// one segment in six retransmitted, egress at a fifth of its speed).
const packetBuf = 4 << 20

// setPacketBuffers enlarges a packet socket's buffers. The FORCE variants
// would ignore net.core.rmem_max/wmem_max, but the kernel checks their
// CAP_NET_ADMIN against the initial user namespace, so rootless they fail
// with EPERM; the plain options then get as much as the host's
// net.core.rmem_max/wmem_max allow (runsc does the same for the pods'
// interfaces).
func setPacketBuffers(fd int) {
	for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], packetBuf) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[1], packetBuf)
		}
	}
}

// VethName is the infra-side interface name of a pod's veth.
func VethName(sandboxID string) string {
	if len(sandboxID) > 12 {
		sandboxID = sandboxID[:12]
	}
	return "pb" + sandboxID
}

// AddPod joins the pod namespace pinned at netnsPath to the bridge: a veth
// pair with eth0 (ip, up) in the pod and hostIf on the bridge, and a
// default route via the bridge. runsc later takes eth0 over.
func (n *Network) AddPod(netnsPath, hostIf string, ip netip.Addr) error {
	if !n.cfg.Subnet.Contains(ip) {
		return fmt.Errorf("pod address %s is not on the pod network %s", ip, n.cfg.Subnet)
	}
	_ = n.RemovePod(hostIf) // left by a failed attempt
	podFD, err := unix.Open(netnsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(podFD)
	br, err := n.nl.LinkByName(BridgeName)
	if err != nil {
		return err
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hostIf, MTU: n.cfg.MTU, MasterIndex: br.Attrs().Index},
		PeerName:      "eth0",
		PeerMTU:       uint32(n.cfg.MTU),
		PeerNamespace: netlink.NsFd(podFD),
	}
	if err := n.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", hostIf, err)
	}
	if err := n.nl.LinkSetUp(veth); err != nil {
		return fmt.Errorf("bring up %s: %w", hostIf, err)
	}
	return Do(netnsPath, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		eth, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ip, n.cfg.Subnet.Bits()))}); err != nil {
			return fmt.Errorf("address eth0: %w", err)
		}
		if err := h.LinkSetUp(eth); err != nil {
			return fmt.Errorf("bring up eth0: %w", err)
		}
		if err := h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: n.BridgeIP().AsSlice()}); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
		return nil
	})
}

// RemovePod deletes a pod's veth (both ends); a missing one is not an error.
func (n *Network) RemovePod(hostIf string) error {
	l, err := n.nl.LinkByName(hostIf)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return n.nl.LinkDel(l)
}

// ForgetPod ends the NAT connections and flows of the pod at ip, which is
// gone: they would otherwise count against whichever pod gets the address
// next, and hold host sockets until they time out (hours for an idle TCP
// connection).
func (n *Network) ForgetPod(ip netip.Addr) {
	if n.nat != nil {
		n.nat.table.forget(ip)
	}
}

// Close stops the NAT and releases the infra namespace.
func (n *Network) Close() {
	select {
	case <-n.done:
		return
	default:
	}
	close(n.done)
	if n.nl != nil {
		// Deleting the gateway link first wakes the NAT's packet socket
		// reader with ENETDOWN, so the NAT can stop.
		if l, err := n.nl.LinkByName(natKernel); err == nil {
			_ = n.nl.LinkDel(l)
		}
	}
	if n.nat != nil {
		n.nat.close()
	}
	if n.nl != nil {
		n.nl.Close()
	}
	_ = RemovePinned(n.infra)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ParseAddrPort parses "ip" or "ip:port" (port 53 by default), for DNS
// upstreams.
func ParseAddrPort(s string, defPort uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is neither an IP nor IP:port", s)
	}
	return netip.AddrPortFrom(ip, defPort), nil
}
