package gvisor

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"podbox.dev/podbox/netstack"
)

// handlerDialer is how probes and lifecycle hooks reach the address they
// name. The supervisor runs in the host's network namespace, so a name or
// address dialled there would reach what the host reaches, its loopback
// included: a pod could have the supervisor fetch from services bound to
// the host's 127.0.0.1 (host: localhost, or a redirect there) and learn
// from its readiness which host ports are open. The rule:
//
//   - The host's loopback, by any route (a loopback or unspecified literal,
//     a name that resolves to one, or host.podbox.internal), is dialled only
//     when the user turned the host gateway on, the switch that lets pods
//     reach it too; otherwise the dial fails with loopbackRefusedError.
//     This is what host: localhost means: the machine's loopback, as it
//     is the node's on a cluster, not the pod's.
//   - Everything else is dialled through the pod network, as the pod's own
//     traffic goes: pod IPs over the bridge, other addresses through the
//     NAT, whose egress filter refuses the host's own addresses.
//
// Names are resolved once, here, and the address checked is the address
// dialled, so a name cannot resolve one way for the check and another for
// the dial.
type handlerDialer struct {
	// hostGateway is the user's opt-in (network.yaml hostGateway or
	// PODBOX_HOST_GATEWAY).
	hostGateway bool
	// lookup resolves a host name (on the host, as the kubelet resolves
	// probe hosts on the node).
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// pod dials an IPv4 address through the pod network (from the infra
	// namespace).
	pod func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error)
	// loopback dials the host's loopback; used only with hostGateway.
	loopback func(ctx context.Context, network, addr string) (net.Conn, error)
}

// loopbackRefusedError is a dial to the host's loopback without the host
// gateway. Its text is what a probe's failure event or the hook's log shows.
type loopbackRefusedError struct {
	host string
	addr netip.Addr
}

func (e *loopbackRefusedError) Error() string {
	return fmt.Sprintf("host %q is the host's loopback (%s), which probes and hooks reach only when the host gateway is on "+
		"(hostGateway: true in %s, or %s=true); leave host unset to reach the pod", e.host, e.addr, NetworkConfigFile(), EnvHostGateway)
}

// DialContext has net.Dialer's shape, for http.Transport and the probes.
func (d *handlerDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dial %s: bad port %q", addr, portText)
	}
	ip, err := d.resolve(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if hostLoopback(ip) {
		if !d.hostGateway {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &loopbackRefusedError{host: host, addr: ip}}
		}
		return d.loopback(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
	}
	return d.pod(ctx, network, netip.AddrPortFrom(ip, uint16(port)))
}

// resolve turns host into the one address to dial: a literal as it is, the
// pods' name for the host gateway as 127.0.0.1, a name by lookup. A name
// with any loopback address among its addresses counts as loopback (a name
// pointing both ways is refused rather than gambled on); otherwise its
// first IPv4 address is used, the pod network being IPv4 only.
func (d *handlerDialer) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), netstack.HostGatewayName) {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	addrs, err := d.lookup(ctx, host)
	if err != nil {
		return netip.Addr{}, err
	}
	var first netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if hostLoopback(a) {
			return a, nil
		}
		if !first.IsValid() && a.Is4() {
			first = a
		}
	}
	if !first.IsValid() {
		return netip.Addr{}, fmt.Errorf("host %q has no IPv4 address (%v); the pod network is IPv4 only", host, addrs)
	}
	return first, nil
}

// hostLoopback reports whether a connection to a would reach the host's
// own loopback when made from the host: 127.0.0.0/8, ::1, and the
// unspecified addresses, which Linux connects to the local host.
func hostLoopback(a netip.Addr) bool {
	return a.IsLoopback() || a.IsUnspecified()
}

// lookupHost resolves a name with the host's resolver.
func lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
