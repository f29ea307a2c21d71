package netstack

import (
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The NAT serves every pod from the supervisor's own process, so what one
// pod holds there (host sockets, goroutines, buffers) is taken from all the
// others and from the supervisor's probes, exec streams and API: without
// bounds, a pod sending UDP to thousands of ports exhausted the process's
// file descriptors. Each TCP connection and each UDP flow holds exactly one
// host socket (one descriptor), so the caps below bound the NAT's
// descriptors by TCP + UDP + maxClosing. Caps are per pod (per source IP), so that one
// pod cannot starve another, and global, so that many pods together stay
// well below the process's RLIMIT_NOFILE.
//
// Memory follows from the caps (per flow as before the caps): a UDP flow
// holds two 64 KiB copy buffers, a 32 KiB netstack receive buffer and
// three goroutines, about 190 KiB, so 95 MiB for a pod's 512 flows and
// 760 MiB for 4096; an idle TCP connection about 50 KiB (two 16 KiB copy
// buffers, three goroutines), but one whose host peer stops reading can
// fill its netstack buffers (receive up to 8 MiB once auto-tuned, send
// 1 MiB) and a 256 KiB bulk copy buffer: about 9 MiB at worst, so 9 GiB
// for a pod's 1024 connections (bounding that is a matter of buffer
// sizes, not of these caps).

// A TCP connection's netstack buffers grow with its throughput (receive
// buffer moderation and send buffer auto-tuning, up to tcpBufferMax each
// way), which a pod can make the supervisor hold whole: a connection whose
// far end stops reading keeps its buffers full. So only a pod's first
// roomyTCP connections get growing buffers; each later one gets fixed
// buffers of smallTCPBuffer each way and keeps its small copy buffers
// (copyAdaptive), plenty for the pod-to-NAT hop on this machine (its round
// trip is well under a millisecond). What a pod can make the NAT buffer is
// then about roomyTCP × 2 × (tcpBufferMax + bulkCopy) plus 2 ×
// (smallTCPBuffer + smallCopy) per further connection: 264 MiB + 1,008 ×
// 160 KiB ≈ 420 MiB at the default caps, instead of about 1,024 × 16.5 MiB.
const (
	roomyTCP       = 16
	smallTCPBuffer = 64 << 10
	tcpBufferMax   = 8 << 20
)

// tcpBuffer is the fixed buffer size (each way) for a pod's nth TCP
// connection through the NAT, counting from 1, or 0 for growing buffers.
func tcpBuffer(nth int) int {
	if nth <= roomyTCP {
		return 0
	}
	return smallTCPBuffer
}

// Defaults of NATLimits.
const (
	// DefaultPodTCP is the per-pod cap on TCP connections through the NAT
	// (pending ones included); the next SYN is answered with a reset.
	DefaultPodTCP = 1024
	// DefaultPodUDP is the per-pod cap on UDP flows; a new flow over it
	// evicts the pod's least recently used one, as conntrack does.
	DefaultPodUDP = 512
	// DefaultPodPendingTCP is the per-pod cap on connections whose host
	// dial is under way (up to 30 s each, for a destination that does not
	// answer); over it, new SYNs from that pod are reset at once.
	DefaultPodPendingTCP = 128
	// DefaultPendingTCP is the global cap on pending connections.
	DefaultPendingTCP = 1024
	// maxDefaultTCP and maxDefaultUDP bound the global defaults where
	// RLIMIT_NOFILE is large (a million on many systems): memory, not
	// descriptors, is then what limits a laptop.
	maxDefaultTCP = 4096
	maxDefaultUDP = 4096
	// natFDShare is the share of RLIMIT_NOFILE each of the global TCP and
	// UDP defaults may take (1/4 each): half the descriptors stay for
	// runsc, exec streams, logs, host ports and the API.
	natFDShare = 4
)

// NATLimits bound the connections and flows pods hold in the NAT. Zero
// fields take the defaults (WithDefaults).
type NATLimits struct {
	// PodTCP, PodUDP and PodPendingTCP are per pod (source IP).
	PodTCP        int
	PodUDP        int
	PodPendingTCP int
	// TCP, UDP and PendingTCP are for all pods together. TCP and UDP
	// default to a quarter of the process's RLIMIT_NOFILE each, at most
	// 4096.
	TCP        int
	UDP        int
	PendingTCP int
}

// WithDefaults fills the zero fields.
func (l NATLimits) WithDefaults() NATLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	share := int(nofile() / natFDShare)
	def(&l.PodTCP, DefaultPodTCP)
	def(&l.PodUDP, DefaultPodUDP)
	def(&l.PodPendingTCP, DefaultPodPendingTCP)
	def(&l.TCP, min(share, maxDefaultTCP))
	def(&l.UDP, min(share, maxDefaultUDP))
	def(&l.PendingTCP, DefaultPendingTCP)
	return l
}

// nofile is the process's soft RLIMIT_NOFILE. Go's runtime raised it to
// the hard limit at start (syscall package, go.dev/issue/46279) and puts
// the original back for the processes it starts (runsc), so podbox need
// not, and must not call Setrlimit, which would stop that.
func nofile() uint64 {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 1024
	}
	return r.Cur
}

// natTable counts what each pod holds in the NAT and admits or refuses
// new connections and flows. One mutex; every decision is O(1) except a
// UDP eviction, which scans one pod's flows (at most PodUDP).
type natTable struct {
	lim NATLimits

	mu                sync.Mutex
	pods              map[netip.Addr]*podUse
	tcp, pending, udp int
	// closing counts evicted flows whose sockets are still being
	// closed (their descriptors still open); at most maxClosing.
	closing int
}

// maxClosing bounds the evicted flows being closed at once, so that
// descriptors stay within the UDP caps plus this many however fast a pod
// opens flows: beyond it a new flow that needs an eviction is refused (its
// datagram dropped) until closes catch up.
const maxClosing = 64

type podUse struct {
	tcp, pending int
	// conns are the pod's TCP connections' closers, so that ForgetPod can
	// end them.
	conns map[io.Closer]struct{}
	udp   map[*udpFlow]struct{}
}

// udpFlow is one UDP flow's slot in the table.
type udpFlow struct {
	src  netip.Addr
	last atomic.Int64 // UnixNano of the last datagram either way

	mu    sync.Mutex
	gone  bool // evicted or ended: its conns are (to be) closed
	conns []io.Closer
}

func newNATTable(lim NATLimits) *natTable {
	return &natTable{lim: lim.WithDefaults(), pods: map[netip.Addr]*podUse{}}
}

func (t *natTable) pod(src netip.Addr) *podUse {
	p := t.pods[src]
	if p == nil {
		p = &podUse{conns: map[io.Closer]struct{}{}, udp: map[*udpFlow]struct{}{}}
		t.pods[src] = p
	}
	return p
}

// gc drops a pod's entry once it holds nothing.
func (t *natTable) gc(src netip.Addr, p *podUse) {
	if p.tcp == 0 && p.pending == 0 && len(p.udp) == 0 {
		delete(t.pods, src)
	}
}

// admitTCP reserves a connection and a pending slot for a SYN from src,
// or returns nil if src or all pods are at a cap. The caller then calls
// dialed once the host dial ended and endTCP when the connection ends,
// with the returned entry: if the pod was forgotten meanwhile (and its
// address given to another pod), those calls find another entry and do
// nothing.
func (t *natTable) admitTCP(src netip.Addr) *podUse {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pods[src]
	if p != nil && (p.tcp >= t.lim.PodTCP || p.pending >= t.lim.PodPendingTCP) ||
		t.tcp >= t.lim.TCP || t.pending >= t.lim.PendingTCP {
		return nil
	}
	p = t.pod(src)
	p.tcp++
	p.pending++
	t.tcp++
	t.pending++
	return p
}

// tcpOf is how many TCP connections p holds, this one included.
func (t *natTable) tcpOf(p *podUse) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return p.tcp
}

func (t *natTable) dialed(src netip.Addr, p *podUse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pods[src] == p {
		p.pending--
		t.pending--
	}
}

// holdTCP registers an established connection's closer, for forget;
// false if the pod was forgotten meanwhile (the caller closes it).
func (t *natTable) holdTCP(src netip.Addr, p *podUse, c io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pods[src] != p {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// endTCP releases a connection admitted by admitTCP (c is nil if it was
// never held).
func (t *natTable) endTCP(src netip.Addr, p *podUse, c io.Closer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pods[src] != p {
		return // forgotten: already released
	}
	if c != nil {
		delete(p.conns, c)
	}
	p.tcp--
	t.tcp--
	t.gc(src, p)
}

// admitUDP admits a new flow from src, making room first: over the pod's
// cap its least recently used flow is evicted; over the global cap, the
// least recently used flow of the pod holding the most. It returns nil,
// refusing the flow, only while maxClosing evicted flows are still being
// closed.
func (t *natTable) admitUDP(src netip.Addr) *udpFlow {
	f := &udpFlow{src: src}
	f.last.Store(time.Now().UnixNano())
	var victim *udpFlow
	t.mu.Lock()
	p := t.pod(src)
	full := len(p.udp) >= t.lim.PodUDP || t.udp >= t.lim.UDP
	if full && t.closing >= maxClosing {
		t.gc(src, p)
		t.mu.Unlock()
		return nil
	}
	switch {
	case len(p.udp) >= t.lim.PodUDP:
		victim = lru(p)
	case t.udp >= t.lim.UDP:
		victim = lru(t.biggestUDP())
	}
	if victim != nil {
		t.dropUDPLocked(victim)
		t.closing++
	}
	p.udp[f] = struct{}{}
	t.udp++
	t.mu.Unlock()
	if victim != nil {
		// Not here: this runs on the NAT's packet dispatcher, and
		// closing a socket waits for the goroutines in its reads and
		// writes to let go of it (internal/poll's FD.Close); while it
		// waited, the NAT would process no packets (seen under the race
		// detector).
		go func() {
			victim.close()
			t.mu.Lock()
			t.closing--
			t.mu.Unlock()
		}()
	}
	return f
}

// lru returns the pod's least recently used flow.
func lru(p *podUse) *udpFlow {
	var old *udpFlow
	for f := range p.udp {
		if old == nil || f.last.Load() < old.last.Load() {
			old = f
		}
	}
	return old
}

func (t *natTable) biggestUDP() *podUse {
	var big *podUse
	for _, p := range t.pods {
		if big == nil || len(p.udp) > len(big.udp) {
			big = p
		}
	}
	return big
}

func (t *natTable) dropUDPLocked(f *udpFlow) {
	p := t.pods[f.src]
	if p == nil {
		return
	}
	if _, ok := p.udp[f]; ok {
		delete(p.udp, f)
		t.udp--
		t.gc(f.src, p)
	}
}

// endUDP releases a flow (idempotent) and closes its sockets.
func (t *natTable) endUDP(f *udpFlow) {
	t.mu.Lock()
	t.dropUDPLocked(f)
	t.mu.Unlock()
	f.close()
}

// forget ends everything src holds: its pod is gone, and a later pod may
// get its address.
func (t *natTable) forget(src netip.Addr) {
	t.mu.Lock()
	p := t.pods[src]
	delete(t.pods, src)
	var closers []io.Closer
	var flows []*udpFlow
	if p != nil {
		t.tcp -= p.tcp
		t.pending -= p.pending
		t.udp -= len(p.udp)
		for c := range p.conns {
			closers = append(closers, c)
		}
		for f := range p.udp {
			flows = append(flows, f)
		}
	}
	t.mu.Unlock()
	for _, c := range closers {
		c.Close()
	}
	for _, f := range flows {
		f.close()
	}
}

// attach gives the flow its sockets; false (and they are closed) if the
// flow was evicted before it got them.
func (f *udpFlow) attach(cs ...io.Closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	f.conns = cs
	return true
}

func (f *udpFlow) touch() { f.last.Store(time.Now().UnixNano()) }

func (f *udpFlow) idleFor() time.Duration {
	return time.Duration(time.Now().UnixNano() - f.last.Load())
}

func (f *udpFlow) close() {
	f.mu.Lock()
	f.gone = true
	cs := f.conns
	f.conns = nil
	f.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}
