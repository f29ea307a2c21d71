package netstack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests and benchmarks build a real pod network (infra namespace,
// bridge, NAT) with a plain network namespace as the "pod": a kernel
// client, so what they measure is podbox's part alone, as the networking
// notes measured slirp4netns (a kernel client in a namespace, the host's
// loopback as the server). Like podbox's supervisor they run in a user
// and mount namespace of their own, which they re-execute themselves in.

// inUserNS reports whether the test binary runs in its own user namespace
// (the child); otherwise it re-executes itself there with args, passes
// the child's output on and reports false.
func inUserNS(tb testing.TB, args ...string) bool {
	tb.Helper()
	if os.Getenv(helperEnv) == "1" {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			tb.Fatalf("private mounts: %v", err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], append(args, "-test.v")...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("in a user namespace: %v\n%s", err, out)
	}
	if _, ok := tb.(*testing.B); ok {
		// The measurements, whether or not -test.v is given.
		for _, l := range strings.SplitAfter(string(out), "\n") {
			if strings.HasPrefix(l, "Benchmark") && strings.Contains(l, "/op") {
				fmt.Print(l)
			}
		}
	}
	tb.Logf("in a user namespace:\n%s", out)
	return false
}

// testNetwork opens a pod network with one kernel "pod" at 10.88.0.2 and
// returns it with the pod namespace's pin.
func testNetwork(tb testing.TB, cfg Config) (*Network, string) {
	tb.Helper()
	dir := tb.TempDir()
	cfg.HostGateway = true
	n, err := Open(filepath.Join(dir, "infra"), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(n.Close)
	pod := filepath.Join(dir, "pod")
	if err := CreatePinned(pod); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = RemovePinned(pod) })
	if err := n.AddPod(pod, "pbtest", netip.MustParseAddr("10.88.0.2")); err != nil {
		tb.Fatalf("AddPod: %v", err)
	}
	return n, pod
}

// sinkBufs are hostSink's read buffers: allocating (and clearing) 1 MiB
// for every connection would cost more than the connection itself.
var sinkBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// hostSink listens on the host's loopback; each connection is read to EOF
// in 1 MiB reads and then closed.
func hostSink(tb testing.TB) *net.TCPAddr {
	tb.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := sinkBufs.Get().(*[]byte)
				defer sinkBufs.Put(buf)
				for {
					if _, err := c.Read(*buf); err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr)
}

// TestDialPodDoesNotQueue: dials to a pod that does not answer (here an
// address no pod has: the infra kernel's ARP gives up after seconds) do
// not hold up dials to pods that do. Host ports, probes and hooks share
// DialPod, so one unresponsive pod must not stall the others'.
func TestDialPodDoesNotQueue(t *testing.T) {
	if !inUserNS(t, "-test.run=^TestDialPodDoesNotQueue$") {
		return
	}
	n, pod := testNetwork(t, Config{})
	// A listener in the pod's namespace stands for a pod that answers.
	var l net.Listener
	if err := Do(pod, func() (err error) { l, err = net.Listen("tcp4", "10.88.0.2:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck := make(chan error, 8)
	for range cap(stuck) {
		go func() {
			_, err := n.DialPod(ctx, "tcp", netip.MustParseAddrPort("10.88.0.200:80"))
			stuck <- err
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them start
	c, err := n.DialPod(context.Background(), "tcp", netip.MustParseAddrPort(l.Addr().String()))
	if err != nil {
		t.Fatalf("dial the answering pod: %v", err)
	}
	c.Close()
	select {
	case err := <-stuck:
		t.Fatalf("a dial to the silent address ended (%v) before the dial to the answering pod could", err)
	default:
	}
	cancel()
	for range cap(stuck) {
		if err := <-stuck; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled dial: got %v, want context.Canceled", err)
		}
	}
}

// TestDialPodErrors: a refused connection reads as net.Dialer's would.
func TestDialPodErrors(t *testing.T) {
	if !inUserNS(t, "-test.run=^TestDialPodErrors$") {
		return
	}
	n, _ := testNetwork(t, Config{})
	_, err := n.DialPod(context.Background(), "tcp", netip.MustParseAddrPort("10.88.0.2:1"))
	if want := "dial tcp 10.88.0.2:1: connect: connection refused"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = n.DialPod(ctx, "tcp4", netip.MustParseAddrPort("10.88.0.200:80"))
	if want := "dial tcp4 10.88.0.200:80: i/o timeout"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// BenchmarkNAT measures the NAT with a kernel client in the pod
// namespace: egress throughput (one TCP stream of 1 MiB writes to the
// host's loopback through GatewayAddr) at the default MTU and at 1500, and
// the rate of connections set up and ended through it. make bench runs it;
// the networking notes measured slirp4netns the same way.
func BenchmarkNAT(b *testing.B) {
	if !inUserNS(b, "-test.run=^$", "-test.bench=^BenchmarkNAT$", "-test.benchtime="+flag.Lookup("test.benchtime").Value.String()) {
		b.Skip("measured in a user namespace, above")
	}
	for _, mtu := range []int{DefaultMTU, 1500} {
		b.Run(fmt.Sprintf("egress/mtu=%d", mtu), func(b *testing.B) { benchEgress(b, mtu) })
	}
	b.Run("connect", benchConnect)
}

func benchEgress(b *testing.B, mtu int) {
	_, pod := testNetwork(b, Config{MTU: mtu})
	sink := hostSink(b)
	var c net.Conn
	if err := Do(pod, func() (err error) {
		c, err = net.Dial("tcp4", netip.AddrPortFrom(GatewayAddr, uint16(sink.Port)).String())
		return
	}); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(buf))*8/time.Since(start).Seconds()/1e9, "Gbit/s")
}

func benchConnect(b *testing.B) {
	_, pod := testNetwork(b, Config{})
	sink := hostSink(b)
	addr := netip.AddrPortFrom(GatewayAddr, uint16(sink.Port)).String()
	b.ResetTimer()
	start := time.Now()
	// One thread in the pod's namespace makes all the connections.
	err := Do(pod, func() error {
		for range b.N {
			c, err := net.Dial("tcp4", addr)
			if err != nil {
				return err
			}
			_ = c.(*net.TCPConn).CloseWrite()
			_, err = c.Read(make([]byte, 1))
			c.Close()
			if err != io.EOF {
				return fmt.Errorf("want EOF after the close, got %v", err)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}
