//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
)

// All traffic in these tests stays on this host: between pods, between the
// test and pods through host ports and port-forward on 127.0.0.1, and from
// pods to servers the test runs on 127.0.0.1 (through the opt-in host
// gateway).

// sleeperPod is a busybox pod that idles, for running commands with exec.
func sleeperPod(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  hostAliases:
  - ip: 10.9.9.9
    hostnames: [alias-one, alias-two]
  containers:
  - name: main
    image: %s
    command: ["sleep", "100000"]
`, name, busyboxRef)
}

// webPod serves text on addr (":8080" or "127.0.0.1:8081") with testapp.
func webPod(name, addr, text, ports string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %s
    args: ["serve", %q, %q]
%s`, name, testAppRef, addr, text, ports)
}

func podIPOf(t *testing.T, p *corev1.Pod) netip.Addr {
	t.Helper()
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil {
		t.Fatalf("pod %s: status.podIP %q: %v", p.Name, p.Status.PodIP, err)
	}
	if !netip.MustParsePrefix("10.88.0.0/16").Contains(ip) {
		t.Errorf("pod %s: podIP %s is not on the default pod network 10.88.0.0/16", p.Name, ip)
	}
	if p.Status.HostIP == "" || len(p.Status.PodIPs) != 1 {
		t.Errorf("pod %s: hostIP %q, podIPs %v", p.Name, p.Status.HostIP, p.Status.PodIPs)
	}
	return ip
}

// execOut runs a command in the pod's first container and returns its
// stdout, failing the test on a non-zero exit.
func (e *env) execOut(t *testing.T, pod string, cmd ...string) string {
	t.Helper()
	return e.ok(t, append([]string{"exec", pod, "--"}, cmd...)...)
}

// TestNetworkPodToPod: every pod has its own IP; pods reach each other by
// IP; the network files are the kubelet's.
func TestNetworkPodToPod(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, webPod("net-web", ":8080", "hello from net-web", ""))
	e.apply(t, sleeperPod("net-client"))
	defer e.run(t, nil, "delete", "pod", "net-web", "net-client", "--now")
	web := e.waitFor(t, "net-web", 90*time.Second, "Running", running)
	client := e.waitFor(t, "net-client", 90*time.Second, "Running", running)
	webIP, clientIP := podIPOf(t, web), podIPOf(t, client)
	if webIP == clientIP {
		t.Fatalf("both pods have IP %s", webIP)
	}
	got := e.execOut(t, "net-client", "wget", "-qO-", "http://"+webIP.String()+":8080/")
	if !strings.Contains(got, "hello from net-web") {
		t.Errorf("pod-to-pod wget: %q", got)
	}
	hosts := e.execOut(t, "net-client", "cat", "/etc/hosts")
	for _, want := range []string{"# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n", clientIP.String() + "\tnet-client\n",
		"# Entries added by HostAliases.\n10.9.9.9\talias-one\talias-two\n"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
		}
	}
	if strings.Contains(hosts, "host.podbox.internal") {
		t.Errorf("/etc/hosts names the host gateway, which is off by default:\n%s", hosts)
	}
	if h := e.execOut(t, "net-client", "cat", "/etc/hostname"); h != "net-client\n" {
		t.Errorf("/etc/hostname = %q", h)
	}
	if r := e.execOut(t, "net-client", "cat", "/etc/resolv.conf"); !strings.HasPrefix(r, "nameserver 169.254.1.1\n") {
		t.Errorf("/etc/resolv.conf = %q", r)
	}
	// The files are podbox's, not the container's to change.
	if r := e.run(t, nil, "exec", "net-client", "--", "sh", "-c", "echo x >> /etc/hosts"); r.code == 0 {
		t.Errorf("/etc/hosts is writable in the container")
	}
}

// TestNetworkHostLoopbackClosedByDefault: without the opt-in, a pod
// cannot reach a server on the host's loopback through the gateway.
func TestNetworkHostLoopbackClosedByDefault(t *testing.T) {
	t.Parallel()
	e := shared
	var hits sync.WaitGroup
	l, url := serveHTTP(t, "should not be reached", &hits)
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	e.apply(t, sleeperPod("net-closed"))
	defer e.run(t, nil, "delete", "pod", "net-closed", "--now")
	e.waitFor(t, "net-closed", 90*time.Second, "Running", running)
	for _, target := range []string{"169.254.1.1:" + port, "127.0.0.1:" + port} {
		r := e.run(t, nil, "exec", "net-closed", "--", "wget", "-T", "3", "-qO-", "http://"+target+"/")
		if r.code == 0 || strings.Contains(r.stdout, "should not") {
			t.Errorf("pod reached the host's loopback at %s (server %s): %+v", target, url, r)
		}
	}
}

// TestNetworkHostPort: hostPort TCP and UDP are served on the host, and a
// port already taken (by a pod or by the host) is refused at apply time
// with nothing created.
func TestNetworkHostPort(t *testing.T) {
	t.Parallel()
	e := shared
	tcpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	ports := fmt.Sprintf(`    ports:
    - containerPort: 8080
      hostPort: %d
    - containerPort: 9000
      hostPort: %d
      protocol: UDP
`, tcpPort, udpPort)
	manifest := strings.Replace(webPod("net-hp", ":8080", "hello via hostPort", ports), "  containers:\n",
		"  containers:\n  - name: udp\n    image: "+busyboxRef+"\n    command: [\"sh\", \"-c\", \"until [ -x /tmp/udptool ]; do sleep 0.2; done; exec /tmp/udptool echo :9000\"]\n", 1)
	if r := e.apply(t, manifest); r.code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	defer e.run(t, nil, "delete", "pod", "net-hp", "--now")
	e.waitFor(t, "net-hp", 90*time.Second, "Running", running)
	copyTool(t, e, "net-hp", "udp")

	eventually(t, 20*time.Second, func() string {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", tcpPort))
		if err != nil || !strings.Contains(body, "hello via hostPort") {
			return fmt.Sprintf("GET through hostPort %d: %q %v", tcpPort, body, err)
		}
		return ""
	})
	eventually(t, 20*time.Second, func() string {
		got, err := udpExchange(fmt.Sprintf("127.0.0.1:%d", udpPort), "ping")
		if err != nil || got != "echo:ping" {
			return fmt.Sprintf("UDP through hostPort %d: %q %v", udpPort, got, err)
		}
		return ""
	})

	// Taken by the pod above.
	r := e.apply(t, webPod("net-hp2", ":8080", "x", fmt.Sprintf("    ports:\n    - containerPort: 8080\n      hostPort: %d\n", tcpPort)))
	if r.code == 0 || !strings.Contains(r.stderr, "already in use by pod default/net-hp") {
		t.Errorf("a second pod on hostPort %d: %+v", tcpPort, r)
	}
	// Taken by the host.
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	r = e.apply(t, webPod("net-hp3", ":8080", "x", fmt.Sprintf("    ports:\n    - containerPort: 8080\n      hostPort: %d\n", taken)))
	if r.code == 0 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("a pod on a hostPort the host uses: %+v", r)
	}
	for _, name := range []string{"net-hp2", "net-hp3"} {
		if r := e.run(t, nil, "get", "pod", name); r.code == 0 {
			t.Errorf("refused pod %s exists: %s", name, r.stdout)
		}
	}
}

// TestNetworkPortForward: port-forward reaches a server bound to 127.0.0.1
// inside the pod, which the pod IP does not.
func TestNetworkPortForward(t *testing.T) {
	t.Parallel()
	e := shared
	e.apply(t, webPod("net-pf", "127.0.0.1:8081", "local only", ""))
	defer e.run(t, nil, "delete", "pod", "net-pf", "--now")
	e.waitFor(t, "net-pf", 90*time.Second, "Running", running)
	// Running is not yet listening (the pod has no readiness probe, and a
	// probe could not reach 127.0.0.1): a connection before the server
	// listens ends in EOF.
	eventually(t, 30*time.Second, func() string {
		if r := e.run(t, nil, "exec", "net-pf", "--", "wget", "-qO-", "http://127.0.0.1:8081/"); r.code != 0 {
			return "the server in net-pf does not answer: " + r.stderr
		}
		return ""
	})
	local := freePort(t, "tcp")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "podbox"), "port-forward", "pod/net-pf", fmt.Sprintf("%d:8081", local))
	cmd.Env = e.environ()
	out, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }() // as ^C ends it
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != fmt.Sprintf("Forwarding from 127.0.0.1:%d -> 8081", local) {
		t.Fatalf("port-forward said %q (stderr %s)", lines.Text(), stderr.String())
	}
	go io.Copy(io.Discard, out)
	for i := range 3 { // several connections over one session
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", local))
		if err != nil || !strings.Contains(body, "local only") {
			t.Fatalf("GET %d through port-forward: %q %v (stderr %s)", i, body, err, stderr.String())
		}
	}
}

// TestNetworkEgressAndDNS: with the host gateway enabled (config file), a
// pod reaches TCP and UDP servers on the host's loopback as
// host.podbox.internal, and resolves names through its resolv.conf against
// the DNS server the config names.
func TestNetworkEgressAndDNS(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, false)
	var hits sync.WaitGroup
	l, _ := serveHTTP(t, "hello from the host", &hits)
	defer l.Close()
	_, httpPort, _ := net.SplitHostPort(l.Addr().String())
	udp := serveUDPEcho(t)
	defer udp.Close()
	dns := serveDNS(t, "svc.podbox.example.", netip.MustParseAddr("10.1.2.3"))
	defer dns.Close()
	cfg := fmt.Sprintf("hostGateway: true\ndns: [%q]\n", dns.LocalAddr().String())
	e.writeNetworkConfig(t, cfg)
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	e.apply(t, sleeperPod("egress"))
	e.waitFor(t, "egress", 90*time.Second, "Running", running)

	got := e.execOut(t, "egress", "wget", "-qO-", "http://host.podbox.internal:"+httpPort+"/")
	if !strings.Contains(got, "hello from the host") {
		t.Errorf("TCP egress to the host gateway: %q", got)
	}
	copyTool(t, e, "egress", "main")
	got = e.execOut(t, "egress", "/tmp/udptool", "send", "host.podbox.internal:"+portOf(udp.LocalAddr()), "hi")
	if got != "echo:hi\n" {
		t.Errorf("UDP egress to the host gateway: %q", got)
	}
	got = e.execOut(t, "egress", "nslookup", "svc.podbox.example")
	if !strings.Contains(got, "10.1.2.3") {
		t.Errorf("nslookup through the pod's resolv.conf: %q", got)
	}
	if hosts := e.execOut(t, "egress", "cat", "/etc/hosts"); !strings.Contains(hosts, "169.254.1.1\thost.podbox.internal\n") {
		t.Errorf("/etc/hosts does not name the host gateway:\n%s", hosts)
	}
}

// TestNetworkIPsNotReused: an address in use is never handed out again,
// also after a supervisor restart, and a resumed pod keeps its address.
func TestNetworkIPsNotReused(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, true)
	ipOf := func(name string) netip.Addr {
		return podIPOf(t, e.waitFor(t, name, 90*time.Second, "Running", running))
	}
	e.apply(t, sleeperPod("ip-a"))
	e.apply(t, sleeperPod("ip-b"))
	a, b := ipOf("ip-a"), ipOf("ip-b")
	e.ok(t, "delete", "pod", "ip-a", "--now")
	e.apply(t, sleeperPod("ip-c"))
	c := ipOf("ip-c")
	if c == b {
		t.Errorf("ip-c got ip-b's address %s", c)
	}
	if c == a {
		t.Errorf("ip-c got the just-freed address %s (round-robin should avoid it)", c)
	}

	e.stopDaemon()
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	if b2, c2 := ipOf("ip-b"), ipOf("ip-c"); b2 != b || c2 != c {
		t.Errorf("addresses changed across the restart: ip-b %s -> %s, ip-c %s -> %s", b, b2, c, c2)
	}
	e.apply(t, sleeperPod("ip-d"))
	if d := ipOf("ip-d"); d == b || d == c {
		t.Errorf("ip-d got %s, in use by another pod (b %s, c %s)", d, b, c)
	}
	// The pods still reach each other after the restart.
	got := e.execOut(t, "ip-d", "sh", "-c", "wget -T 3 -qO- http://"+b.String()+":1/ 2>&1; true")
	if strings.Contains(got, "No route") || strings.Contains(got, "unreachable") {
		t.Errorf("ip-d cannot reach ip-b: %q", got)
	}
}

// --- helpers ---

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// serveHTTP serves text on a 127.0.0.1 port.
func serveHTTP(t *testing.T, text string, hits *sync.WaitGroup) (net.Listener, string) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, text) }))
	return l, "http://" + l.Addr().String() + "/"
}

// serveUDPEcho answers each datagram with "echo:" and its content.
func serveUDPEcho(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	return c
}

// serveDNS answers A queries for name with ip, and everything else with
// no records.
func serveDNS(t *testing.T, name string, ip netip.Addr) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if q.Type == dnsmessage.TypeA && strings.EqualFold(q.Name.String(), name) {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: ip.As4()})
			}
			msg, err := b.Finish()
			if err == nil {
				c.WriteTo(msg, from)
			}
		}
	}()
	return c
}

func udpExchange(addr, msg string) (string, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// udpToolSource is a static helper for pods (busybox has no UDP server or
// client): "echo ADDR" answers datagrams with "echo:"+content; "send ADDR
// MSG" sends one and prints the answer. For the benchmark: "sink ADDR"
// (drain every connection), "source ADDR DUR" (Gbit/s), "connrate ADDR
// DUR" (connections/s), "connlat ADDR" (percentiles of dial and close
// times over 300 connections, to look into a slow rate), "idle", "true".
const udpToolSource = `package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	switch os.Args[1] {
	case "echo":
		c, err := net.ListenPacket("udp4", os.Args[2])
		if err != nil {
			panic(err)
		}
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				panic(err)
			}
			c.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	case "sink":
		l, err := net.Listen("tcp4", os.Args[2])
		if err != nil {
			panic(err)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				panic(err)
			}
			go drain(c)
		}
	case "idle":
		select {}
	case "true":
	case "source":
		d, _ := time.ParseDuration(os.Args[3])
		fmt.Printf("%.2f\n", source(os.Args[2], d))
	case "connrate":
		d, _ := time.ParseDuration(os.Args[3])
		fmt.Printf("%.0f\n", connrate(os.Args[2], d))
	case "connlat":
		connlat(os.Args[2])
	case "send":
		c, err := net.Dial("udp4", os.Args[2])
		if err != nil {
			panic(err)
		}
		buf := make([]byte, 65535)
		for range 5 {
			c.Write([]byte(os.Args[3]))
			c.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := c.Read(buf); err == nil {
				fmt.Println(string(buf[:n]))
				return
			}
		}
		os.Exit(1)
	}
}

` + benchFuncs

// benchFuncs measure TCP throughput (Gbit/s, one stream of 1 MiB writes)
// and connection setup rate (connect, close, and the server's close seen,
// per second, one at a time);
// the test process uses the same code against the same servers. drain is
// the receiving end: 1 MiB reads, as iperf3's 128 KiB and more, not
// io.Copy's 8 KiB to io.Discard, which inside gVisor (a system call per
// read) capped a pod's receiving at a quarter of its speed.
const benchFuncs = `
func connlat(addr string) {
	var ds, cs []time.Duration
	for i := 0; i < 300; i++ {
		t0 := time.Now()
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			panic(err)
		}
		t1 := time.Now()
		c.Close()
		ds = append(ds, t1.Sub(t0))
		cs = append(cs, time.Since(t1))
	}
	pct := func(x []time.Duration) string {
		sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
		return fmt.Sprint(x[len(x)/10], x[len(x)/2], x[len(x)*9/10], x[len(x)-1])
	}
	fmt.Println("dial p10/50/90/max", pct(ds), "close", pct(cs))
}

// drainBufs are drain's read buffers, reused: a fresh 1 MiB for every
// connection (zeroed, and inside gVisor faulted in page by page) costs
// more than setting the connection up.
var drainBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func drain(c net.Conn) {
	buf := drainBufs.Get().(*[]byte)
	defer drainBufs.Put(buf)
	for {
		if _, err := c.Read(*buf); err != nil {
			break
		}
	}
	c.Close()
}

func source(addr string, d time.Duration) float64 {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 1<<20)
	var n int64
	start := time.Now()
	for time.Since(start) < d {
		k, err := c.Write(buf)
		n += int64(k)
		if err != nil {
			panic(err)
		}
	}
	c.Close()
	return float64(n) * 8 / time.Since(start).Seconds() / 1e9
}

func connrate(addr string, d time.Duration) float64 {
	var n int
	start := time.Now()
	for time.Since(start) < d {
		if err := roundTrip(addr); err != nil {
			panic(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// roundTrip opens a connection and ends it, and returns once the server
// has closed its side: a proxy on the way (a hostPort) cannot make a
// connection look set up before the server has accepted it.
func roundTrip(addr string) error {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("%s: want EOF after the close, got %v", addr, err)
	}
	return nil
}
`

// buildTool builds the static UDP and benchmark helper once and returns
// its path.
func buildTool(t *testing.T) string {
	t.Helper()
	return buildGoHelper(t, "udptool", udpToolSource)
}

// copyTool copies the UDP helper to /tmp/udptool in a container.
func copyTool(t *testing.T, e *env, pod, container string) {
	t.Helper()
	copyExecutable(t, e, pod, container, buildTool(t), "udptool")
}

// TestNetworkBench is not a test but the pod network benchmark: it runs
// only with PODBOX_NET_BENCH=1 (make bench) and logs TCP throughput and
// connection setup rate for native loopback, host->pod through a hostPort,
// pod->pod, and pod->host egress through the NAT; then the same for
// rootless podman when it is installed (podman_bench_test.go). The numbers
// are logged, never asserted.
func TestNetworkBench(t *testing.T) {
	if os.Getenv("PODBOX_NET_BENCH") != "1" {
		t.Skip("set PODBOX_NET_BENCH=1 to run the pod network benchmark")
	}
	const dur = 3 * time.Second
	e := privateEnv(t, false)
	e.writeNetworkConfig(t, "hostGateway: true\n")
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	hostPort := freePort(t, "tcp")
	sink := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: bench-sink
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "until [ -x /tmp/udptool ]; do sleep 0.2; done; exec /tmp/udptool sink :9000"]
    ports:
    - containerPort: 9000
      hostPort: %d
`, busyboxRef, hostPort)
	e.apply(t, sink)
	e.apply(t, sleeperPod("bench-src"))
	sinkIP := podIPOf(t, e.waitFor(t, "bench-sink", 90*time.Second, "Running", running))
	e.waitFor(t, "bench-src", 90*time.Second, "Running", running)
	copyTool(t, e, "bench-sink", "main")
	copyTool(t, e, "bench-src", "main")

	// The host-side sink for native loopback and egress.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go benchDrain(c)
		}
	}()
	hostSink := l.Addr().String()

	inPod := func(what, addr string) benchPath {
		tool := func(args ...string) string {
			return strings.TrimSpace(e.execOut(t, "bench-src", append([]string{"/tmp/udptool"}, args...)...))
		}
		return benchPath{what,
			func() string { return tool("source", addr, dur.String()) },
			func() string { return tool("connrate", addr, dur.String()) }}
	}
	t.Logf("%-38s %6s %14s", "one TCP stream", "Gbit/s", "connections/s")
	benchRun(t,
		benchLocal(t, "native loopback", hostSink, dur),
		benchLocal(t, "podbox host->pod (hostPort)", fmt.Sprintf("127.0.0.1:%d", hostPort), dur),
		inPod("podbox pod->pod", sinkIP.String()+":9000"),
		inPod("podbox pod->host (egress NAT)", "host.podbox.internal:"+portOf(l.Addr())))
	e.run(t, nil, "delete", "pod", "bench-sink", "bench-src", "--now")

	benchPodman(t, buildTool(t), l.Addr().(*net.TCPAddr).Port, dur)
}

// benchPath is one measured path: its throughput and its connection
// rate, each measured by a function that returns the number as text.
type benchPath struct {
	what        string
	tput, conns func() string
}

// benchRun measures every path's throughput first and only then the
// connection rates: a burst of thousands of connections leaves gVisor's
// stack slower for a while (measured: pod->pod at a third of its speed
// right after the host->pod connection burst, recovering over a minute),
// which would otherwise be charged to the next path's throughput.
func benchRun(t *testing.T, paths ...benchPath) {
	t.Helper()
	tputs := make([]string, len(paths))
	for i, p := range paths {
		tputs[i] = p.tput()
	}
	for i, p := range paths {
		t.Logf("%-38s %6s %14s", p.what, tputs[i], p.conns())
	}
}

// benchLocal is a path measured from the test process; it waits for addr
// to accept connections.
func benchLocal(t *testing.T, what, addr string, d time.Duration) benchPath {
	t.Helper()
	eventually(t, 20*time.Second, func() string {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			return err.Error()
		}
		c.Close()
		return ""
	})
	return benchPath{what,
		func() string { return fmt.Sprintf("%.2f", benchSource(t, addr, d)) },
		func() string { return fmt.Sprintf("%.0f", benchConnrate(t, addr, d)) }}
}

// benchDrainBufs and benchDrain are the tool's drain (benchFuncs) for the
// test's own sink.
var benchDrainBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

func benchDrain(c net.Conn) {
	buf := benchDrainBufs.Get().(*[]byte)
	defer benchDrainBufs.Put(buf)
	for {
		if _, err := c.Read(*buf); err != nil {
			break
		}
	}
	c.Close()
}

func benchSource(t *testing.T, addr string, d time.Duration) float64 {
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	var n int64
	start := time.Now()
	for time.Since(start) < d {
		k, err := c.Write(buf)
		n += int64(k)
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	return float64(n) * 8 / time.Since(start).Seconds() / 1e9
}

// benchConnrate is the tool's connrate (benchFuncs): connections set up
// and ended per second, one at a time, each counted once the server has
// closed its side.
func benchConnrate(t *testing.T, addr string, d time.Duration) float64 {
	var n int
	start := time.Now()
	for time.Since(start) < d {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("%s: want EOF after the close, got %v", addr, err)
		}
		c.Close()
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}
