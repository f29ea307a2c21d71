package netstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests play a pod that floods the NAT (or a host port) and check
// that the supervisor's process, the test process here, keeps its file
// descriptors bounded, and that another pod (source) is not starved.

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// addTestPod adds a second kernel "pod" at ip to n's network and returns
// its namespace's pin.
func addTestPod(t *testing.T, n *Network, hostIf string, ip string) string {
	t.Helper()
	pod := filepath.Join(t.TempDir(), "pod-"+hostIf)
	if err := CreatePinned(pod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemovePinned(pod) })
	if err := n.AddPod(pod, hostIf, netip.MustParseAddr(ip)); err != nil {
		t.Fatalf("AddPod %s: %v", ip, err)
	}
	return pod
}

// hostUDPWho listens on the host's loopback and answers every datagram
// with the address it came from: the host-side socket of the NAT flow that
// carried it.
func hostUDPWho(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort([]byte(from.String()), from)
		}
	}()
	return c
}

// ask sends a datagram on c and returns the answer.
func ask(t *testing.T, c net.Conn) string {
	t.Helper()
	buf := make([]byte, 1500)
	for try := 0; try < 10; try++ {
		if _, err := c.Write([]byte("who")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := c.Read(buf)
		if err == nil {
			return string(buf[:k])
		}
	}
	t.Fatalf("no answer through %s", c.LocalAddr())
	return ""
}

// dialIn makes a socket connected to addr in the namespace pinned at ns.
func dialIn(t *testing.T, ns, network, addr string) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := Do(ns, func() (err error) { c, err = net.DialTimeout(network, addr, 5*time.Second); return })
	return c, err
}

// udpFlood sends one datagram to dst from each of count new sockets (so
// from count source ports) in the namespace ns: count NAT flows.
func udpFlood(t *testing.T, ns string, dst netip.AddrPort, count int) {
	t.Helper()
	err := Do(ns, func() error {
		for i := range count {
			if i%64 == 63 {
				// Pace: the NAT must see the flows, not drop them
				// from its packet socket's buffer.
				time.Sleep(time.Millisecond)
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()})
			unix.Close(fd)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// settle waits until the NAT has taken in what was sent to it (its count
// of received datagrams stays put for a while), at most 30 s: a slow
// machine may still have the flood's datagrams queued.
func settle(n *Network) {
	rcv := n.nat.stack.Stats().UDP.PacketsReceived
	last := rcv.Value()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now := rcv.Value()
		if now == last {
			return
		}
		last = now
	}
}

// TestNATUDPFlowsBounded: a pod that opens flow after flow holds at most
// its per-pod number of host sockets: its least recently used flow is
// evicted (its next datagram starts a new flow, from a new host socket),
// and another pod still gets flows.
func TestNATUDPFlowsBounded(t *testing.T) {
	if !inUserNS(t, "-test.run=^TestNATUDPFlowsBounded$") {
		return
	}
	n, pod := testNetwork(t, Config{})
	pod2 := addTestPod(t, n, "pbtest2", "10.88.0.3")
	who := hostUDPWho(t)
	dst := netip.AddrPortFrom(GatewayAddr, uint16(who.LocalAddr().(*net.UDPAddr).Port))
	old, err := dialIn(t, pod, "udp4", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	first := ask(t, old)
	base := openFDs(t)
	udpFlood(t, pod, dst, 4*DefaultPodUDP)
	settle(n)
	if got, max := openFDs(t)-base, DefaultPodUDP+64; got > max {
		t.Errorf("after %d flows from one pod the process holds %d more descriptors, want at most %d", 4*DefaultPodUDP, got, max)
	}
	if again := ask(t, old); again == first {
		t.Errorf("the pod's oldest flow was kept (host side %s both times), want it evicted", first)
	}
	other, err := dialIn(t, pod2, "udp4", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ask(t, other)
}

// TestNATTCPPerPodCap: a pod holding its cap of connections has the next
// one refused, another pod still connects, and a slot freed by a closed
// connection can be used again.
func TestNATTCPPerPodCap(t *testing.T) {
	if !inUserNS(t, "-test.run=^TestNATTCPPerPodCap$") {
		return
	}
	n, pod := testNetwork(t, Config{})
	pod2 := addTestPod(t, n, "pbtest2", "10.88.0.3")
	sink := hostSink(t)
	dst := netip.AddrPortFrom(GatewayAddr, uint16(sink.Port)).String()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range DefaultPodTCP {
		c, err := dialIn(t, pod, "tcp4", dst)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, DefaultPodTCP, err)
		}
		held = append(held, c)
	}
	c, err := dialIn(t, pod, "tcp4", dst)
	if err == nil {
		c.Close()
		t.Fatalf("connection %d from one pod was accepted, want it refused (the per-pod cap is %d)", DefaultPodTCP+1, DefaultPodTCP)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connection over the cap: %v, want connection refused", err)
	}
	c2, err := dialIn(t, pod2, "tcp4", dst)
	if err != nil {
		t.Fatalf("another pod cannot connect while the first holds its cap: %v", err)
	}
	c2.Close()
	held[0].Close()
	held = held[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialIn(t, pod, "tcp4", dst)
		if err == nil {
			held = append(held, c)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection's slot was not given back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// blackHole is a host listener whose accept queue is full: further SYNs
// to it are dropped, so a dial to it stays pending (the NAT's dial hangs).
func blackHole(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port := sa.(*unix.SockaddrInet4).Port
	// Fill the queue (backlog 0 holds one connection).
	for range 2 {
		c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return port
}

// TestNATPendingSYNsPerPod: a pod whose connections hang in the NAT's
// dial (to a destination that never answers) cannot hold up another pod's
// new connections, and its own beyond its pending cap are refused at once.
func TestNATPendingSYNsPerPod(t *testing.T) {
	if !inUserNS(t, "-test.run=^TestNATPendingSYNsPerPod$") {
		return
	}
	n, pod := testNetwork(t, Config{})
	pod2 := addTestPod(t, n, "pbtest2", "10.88.0.3")
	hole := netip.AddrPortFrom(GatewayAddr, uint16(blackHole(t)))
	sink := hostSink(t)
	good := netip.AddrPortFrom(GatewayAddr, uint16(sink.Port)).String()
	// More pending connections than gVisor's forwarder takes in flight
	// (4096) from one pod: non-blocking connects left pending.
	const flood = 4200
	err := Do(pod, func() error {
		for range flood {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(fd) })
			err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(hole.Port()), Addr: hole.Addr().As4()})
			if err != nil && !errors.Is(err, unix.EINPROGRESS) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the SYNs reach the NAT
	c, err := dialIn(t, pod2, "tcp4", good)
	if err != nil {
		t.Fatalf("another pod cannot connect while one pod has %d connections pending: %v", flood, err)
	}
	c.Close()
	start := time.Now()
	c, err = dialIn(t, pod, "tcp4", good)
	if err == nil {
		c.Close()
		t.Fatalf("the flooding pod's next connection was accepted, want it refused (over its pending cap)")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > 3*time.Second {
		t.Errorf("the flooding pod's next connection: %v after %v, want connection refused at once", err, time.Since(start))
	}
}

// TestHostPortUDPFlowsBounded: a host port's UDP flows (one socket to
// the pod per client address) are capped per port; the least recently
// used is evicted.
func TestHostPortUDPFlowsBounded(t *testing.T) {
	// The "pod" is a UDP server on the loopback that answers with the
	// address of the host port's socket that sent to it.
	who := hostUDPWho(t)
	podAddr := who.LocalAddr().(*net.UDPAddr).AddrPort()
	hp, err := ListenHostPorts([]PortMapping{{Protocol: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), PodPort: podAddr.Port()}})
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Close()
	dial := func(ctx context.Context, network string, a netip.AddrPort) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, a.String())
	}
	hp.Serve(dial, podAddr.Addr())
	front := hp.udp[0].LocalAddr().String()
	old, err := net.Dial("udp4", front)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	first := ask(t, old)
	base := openFDs(t)
	for i := range 4 * HostPortUDPFlows {
		if i%8 == 7 {
			// Pace: the port's receive buffer holds a few hundred
			// datagrams, and each new client costs a dial.
			time.Sleep(time.Millisecond)
		}
		c, err := net.Dial("udp4", front)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("x"))
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	if got, max := openFDs(t)-base, HostPortUDPFlows+64; got > max {
		t.Errorf("after %d clients of one UDP host port the process holds %d more descriptors, want at most %d", 4*HostPortUDPFlows, got, max)
	}
	if again := ask(t, old); again == first {
		t.Errorf("the host port's oldest flow was kept (pod side %s both times), want it evicted", first)
	}
}

// TestNATTableGlobalUDP: at the global cap, a new flow evicts the least
// recently used flow of the pod holding the most, not of a small pod.
func TestNATTableGlobalUDP(t *testing.T) {
	tb := newNATTable(NATLimits{PodUDP: 4, UDP: 6})
	a, b := netip.MustParseAddr("10.88.0.2"), netip.MustParseAddr("10.88.0.3")
	var fa []*udpFlow
	for range 4 {
		fa = append(fa, tb.admitUDP(a))
		time.Sleep(time.Millisecond) // distinct last-use times
	}
	fb := tb.admitUDP(b)
	tb.admitUDP(b)
	fa[0].touch() // now a's least recently used is fa[1]
	tb.admitUDP(b)
	held := func(f *udpFlow) bool { _, ok := tb.pods[f.src].udp[f]; return ok }
	if held(fa[1]) || !held(fa[0]) || !held(fb) {
		t.Errorf("held: a[0] %v, a[1] %v, b[0] %v; want all but a[1] (the biggest pod's least recently used)", held(fa[0]), held(fa[1]), held(fb))
	}
	if tb.udp != 6 || len(tb.pods[a].udp) != 3 || len(tb.pods[b].udp) != 3 {
		t.Errorf("counts: total %d, a %d, b %d; want 6, 3, 3", tb.udp, len(tb.pods[a].udp), len(tb.pods[b].udp))
	}
	tb.forget(a)
	if tb.udp != 3 || !fa[0].gone {
		t.Errorf("after forget: total %d, a[0] gone %v; want 3, true", tb.udp, fa[0].gone)
	}
}

// TestNATTableTCP: per-pod, pending and global caps refuse; releasing a
// slot admits again; a forgotten pod's late releases do not touch the
// next holder of its address.
func TestNATTableTCP(t *testing.T) {
	tb := newNATTable(NATLimits{PodTCP: 2, PodPendingTCP: 1, TCP: 3, PendingTCP: 2})
	a, b, c := netip.MustParseAddr("10.88.0.2"), netip.MustParseAddr("10.88.0.3"), netip.MustParseAddr("10.88.0.4")
	ua := tb.admitTCP(a)
	if ua == nil || tb.admitTCP(a) != nil {
		t.Fatal("a second pending connection of a pod was admitted (pod pending cap 1)")
	}
	tb.dialed(a, ua)
	ua2 := tb.admitTCP(a)
	if ua2 == nil {
		t.Fatal("a's second connection was refused")
	}
	tb.dialed(a, ua2)
	if tb.admitTCP(a) != nil {
		t.Fatal("a's third connection was admitted (pod cap 2)")
	}
	ub := tb.admitTCP(b)
	if ub == nil {
		t.Fatal("b was refused while a held its cap")
	}
	if tb.admitTCP(c) != nil {
		t.Fatal("c was admitted over the global cap 3")
	}
	tb.endTCP(a, ua, nil)
	if tb.admitTCP(c) == nil {
		t.Fatal("c was refused after a released a connection")
	}
	tb.forget(b)
	nb := tb.admitTCP(b) // a new pod at b's address
	tb.endTCP(b, ub, nil)
	tb.dialed(b, ub)
	if p := tb.pods[b]; p != nb || p.tcp != 1 || p.pending != 1 {
		t.Errorf("the old pod's late release changed the new pod's counts: %+v", p)
	}
}

// TestNATLimitsDefaults: zero fields take the defaults; the global ones
// come from RLIMIT_NOFILE and leave half of it to the rest of the
// supervisor.
func TestNATLimitsDefaults(t *testing.T) {
	l := NATLimits{PodUDP: 7}.WithDefaults()
	if l.PodUDP != 7 || l.PodTCP != DefaultPodTCP || l.PodPendingTCP != DefaultPodPendingTCP || l.PendingTCP != DefaultPendingTCP {
		t.Errorf("per-pod defaults: %+v", l)
	}
	if l.TCP <= 0 || l.UDP <= 0 || uint64(l.TCP+l.UDP) > nofile()/2 {
		t.Errorf("global caps TCP %d + UDP %d, want positive and at most half of RLIMIT_NOFILE %d", l.TCP, l.UDP, nofile())
	}
}

// TestNATForgetPod: when a pod is removed, its NAT connections end on
// the host side too and nothing stays counted against its address.
func TestNATForgetPod(t *testing.T) {
	if !inUserNS(t, "-test.run=^TestNATForgetPod$") {
		return
	}
	n, pod := testNetwork(t, Config{})
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dst := netip.AddrPortFrom(GatewayAddr, uint16(l.Addr().(*net.TCPAddr).Port)).String()
	c, err := dialIn(t, pod, "tcp4", dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	who := hostUDPWho(t)
	u, err := dialIn(t, pod, "udp4", netip.AddrPortFrom(GatewayAddr, uint16(who.LocalAddr().(*net.UDPAddr).Port)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	ask(t, u)
	before := openFDs(t)
	n.ForgetPod(netip.MustParseAddr("10.88.0.2"))
	_ = h.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := h.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the host side of a forgotten pod's idle connection: read %v, want it closed", err)
	}
	// The NAT's two host sockets (TCP and UDP) are closed, not only shut
	// down for writing: the host side may never close its end.
	for deadline := time.Now().Add(5 * time.Second); openFDs(t) > before-2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("descriptors %d before ForgetPod, %d after; want the NAT's two host sockets closed", before, openFDs(t))
		}
	}
	n.nat.table.mu.Lock()
	left := len(n.nat.table.pods)
	n.nat.table.mu.Unlock()
	if left != 0 {
		t.Errorf("%d pods still counted after ForgetPod", left)
	}
}

// TestTCPBufferPolicy: a pod's first roomyTCP connections through the NAT
// get growing buffers, later ones fixed small ones, so that the buffers a
// pod can make the supervisor hold stay bounded (natlimits.go).
func TestTCPBufferPolicy(t *testing.T) {
	for nth, want := range map[int]int{1: 0, roomyTCP: 0, roomyTCP + 1: smallTCPBuffer, DefaultPodTCP: smallTCPBuffer} {
		if got := tcpBuffer(nth); got != want {
			t.Errorf("connection %d: buffer %d, want %d", nth, got, want)
		}
	}
	worst := roomyTCP*2*(tcpBufferMax+bulkCopy) + (DefaultPodTCP-roomyTCP)*2*(smallTCPBuffer+smallCopy)
	if worst > 512<<20 {
		t.Errorf("a pod at its TCP cap can make the NAT buffer %d MiB", worst>>20)
	}
}
