package netstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PortMapping is one hostPort of a pod.
type PortMapping struct {
	// Protocol is "tcp" or "udp".
	Protocol string
	// HostIP is the host address to listen on (0.0.0.0 for all).
	HostIP   netip.Addr
	HostPort uint16
	// PodPort is the containerPort.
	PodPort uint16
}

func (m PortMapping) String() string {
	return fmt.Sprintf("%s:%d/%s", m.HostIP, m.HostPort, strings.ToUpper(m.Protocol))
}

// PodDialer connects to a pod from the pod network (Network.DialPod).
type PodDialer func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error)

// HostPorts are a pod's host port listeners, opened in the host network
// namespace (the supervisor's). They are bound before the pod exists, so
// a port already taken is refused before anything is created; they serve
// once the pod has an address (Serve).
type HostPorts struct {
	maps  []PortMapping
	tcp   []net.Listener
	udp   []*net.UDPConn
	ready chan struct{}
	once  sync.Once

	mu     sync.Mutex
	dial   PodDialer
	podIP  netip.Addr
	closed bool
	conns  map[net.Conn]struct{}
}

// PortInUseError says which host port could not be bound and why.
type PortInUseError struct {
	Mapping PortMapping
	Err     error
}

func (e *PortInUseError) Error() string {
	if errors.Is(e.Err, syscall.EADDRINUSE) {
		return fmt.Sprintf("hostPort %s is already in use on this host", e.Mapping)
	}
	if errors.Is(e.Err, syscall.EACCES) && e.Mapping.HostPort < 1024 {
		return fmt.Sprintf("hostPort %s: ports below 1024 need privileges on this host (lower net.ipv4.ip_unprivileged_port_start, or use a port >= 1024)", e.Mapping)
	}
	return fmt.Sprintf("hostPort %s: %v", e.Mapping, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// ListenHostPorts binds every mapping, or none: on the first failure the
// ones already bound are closed and a *PortInUseError is returned.
func ListenHostPorts(maps []PortMapping) (*HostPorts, error) {
	h := &HostPorts{maps: maps, ready: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	for _, m := range maps {
		addr := netip.AddrPortFrom(m.HostIP, m.HostPort).String()
		switch m.Protocol {
		case "tcp":
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				h.Close()
				return nil, &PortInUseError{m, err}
			}
			h.tcp = append(h.tcp, l)
		case "udp":
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(m.HostIP, m.HostPort)))
			if err != nil {
				h.Close()
				return nil, &PortInUseError{m, err}
			}
			h.udp = append(h.udp, c)
		default:
			h.Close()
			return nil, fmt.Errorf("hostPort %s: protocol %q is not supported", m, m.Protocol)
		}
	}
	return h, nil
}

// Mappings returns the bound mappings.
func (h *HostPorts) Mappings() []PortMapping { return h.maps }

// Serve starts forwarding to the pod at podIP through dial. Connections
// that arrived earlier waited for it.
func (h *HostPorts) Serve(dial PodDialer, podIP netip.Addr) {
	h.mu.Lock()
	h.dial, h.podIP = dial, podIP
	h.mu.Unlock()
	h.once.Do(func() {
		close(h.ready)
		ti, ui := 0, 0
		for _, m := range h.maps {
			if m.Protocol == "tcp" {
				go h.serveTCP(h.tcp[ti], m)
				ti++
			} else {
				go h.serveUDP(h.udp[ui], m)
				ui++
			}
		}
	})
}

func (h *HostPorts) target() (PodDialer, netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dial, h.podIP
}

func (h *HostPorts) serveTCP(l net.Listener, m PortMapping) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		go h.forwardTCP(c.(*net.TCPConn), m)
	}
}

func (h *HostPorts) forwardTCP(c *net.TCPConn, m PortMapping) {
	dial, ip := h.target()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	pc, err := dial(ctx, "tcp4", netip.AddrPortFrom(ip, m.PodPort))
	cancel()
	if err != nil {
		c.SetLinger(0) // the client sees a reset, as for a closed port
		c.Close()
		return
	}
	if !h.track(c, pc) {
		return
	}
	defer h.untrack(c, pc)
	splice(c, pc.(*net.TCPConn), bulkCopy)
}

// HostPortUDPFlows caps the flows (one pod-side socket each, so one file
// descriptor and a goroutine) a UDP host port keeps: one per client
// address, so without a cap anyone who can send to the port from many
// addresses or source ports makes the supervisor open a socket for each.
// Over it, the least recently used flow is evicted, as conntrack does.
const HostPortUDPFlows = 512

// udpHostFlow is one client's flow through a UDP host port.
type udpHostFlow struct {
	conn net.Conn
	last time.Time // guarded by the port's flow mutex
}

// serveUDP keeps one pod-side socket per client address, as a NAT's
// conntrack would, and drops it after udpIdle without traffic or when
// HostPortUDPFlows newer ones need room. The pod sees the bridge address
// as the source.
func (h *HostPorts) serveUDP(l *net.UDPConn, m PortMapping) {
	var mu sync.Mutex
	flows := map[netip.AddrPort]*udpHostFlow{}
	buf := make([]byte, 65535)
	for {
		k, from, err := l.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				mu.Lock()
				for _, f := range flows {
					f.conn.Close()
				}
				mu.Unlock()
				return
			}
			continue
		}
		mu.Lock()
		f := flows[from]
		mu.Unlock()
		if f == nil {
			dial, ip := h.target()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pc, err := dial(ctx, "udp4", netip.AddrPortFrom(ip, m.PodPort))
			cancel()
			if err != nil {
				continue
			}
			f = &udpHostFlow{conn: pc, last: time.Now()}
			mu.Lock()
			if len(flows) >= HostPortUDPFlows {
				evictOldest(flows)
			}
			flows[from] = f
			mu.Unlock()
			go h.relayUDPReplies(l, from, f, &mu, flows)
		}
		mu.Lock()
		f.last = time.Now()
		mu.Unlock()
		_, _ = f.conn.Write(buf[:k])
	}
}

// evictOldest closes and removes the least recently used flow (a scan of
// at most HostPortUDPFlows entries, only when the port is full). Its
// reply goroutine sees the closed socket and ends.
func evictOldest(flows map[netip.AddrPort]*udpHostFlow) {
	var oldKey netip.AddrPort
	var old *udpHostFlow
	for k, f := range flows {
		if old == nil || f.last.Before(old.last) {
			oldKey, old = k, f
		}
	}
	if old != nil {
		delete(flows, oldKey)
		// Close waits for the reply goroutine's read to let go of the
		// socket: not on the port's receive loop.
		go old.conn.Close()
	}
}

// relayUDPReplies sends the pod's replies on flow f back to its client,
// until the flow is idle for udpIdle or evicted.
func (h *HostPorts) relayUDPReplies(l *net.UDPConn, from netip.AddrPort, f *udpHostFlow, mu *sync.Mutex, flows map[netip.AddrPort]*udpHostFlow) {
	rb := make([]byte, 65535)
	for {
		f.conn.SetReadDeadline(time.Now().Add(udpIdle))
		n, err := f.conn.Read(rb)
		if err != nil {
			mu.Lock()
			idle := time.Since(f.last) >= udpIdle
			if idle || !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
				if flows[from] == f { // not evicted and replaced
					delete(flows, from)
				}
				mu.Unlock()
				f.conn.Close()
				return
			}
			mu.Unlock()
			continue
		}
		_, _ = l.WriteToUDPAddrPort(rb[:n], from)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (h *HostPorts) track(cs ...net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		h.conns[c] = struct{}{}
	}
	return true
}

func (h *HostPorts) untrack(cs ...net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(h.conns, c)
	}
}

// Close stops listening and ends forwarded connections.
func (h *HostPorts) Close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	for _, l := range h.tcp {
		l.Close()
	}
	for _, c := range h.udp {
		c.Close()
	}
}
