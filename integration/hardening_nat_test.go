//go:build integration

package integration

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"podbox.dev/podbox/netstack"
)

// natFloodSource is a static helper for the flooding pod: "natflood ADDR
// FIRST COUNT" sends one datagram to ADDR from each of COUNT sockets bound
// to ports FIRST, FIRST+1, ...: COUNT distinct UDP flows through the NAT.
// Distinct source ports rather than destination ports: the destination is
// the test's own UDP socket on the host's loopback, which stays quiet
// (closed loopback ports answer with ICMP port unreachable, which ends a
// NAT flow at once, so they would not make flows pile up).
const natFloodSource = `package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	dst, err := net.ResolveUDPAddr("udp4", os.Args[1])
	if err != nil {
		panic(err)
	}
	first, _ := strconv.Atoi(os.Args[2])
	count, _ := strconv.Atoi(os.Args[3])
	sent := 0
	for i := range count {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: first + i})
		if err != nil {
			continue
		}
		if _, err := c.WriteTo([]byte("x"), dst); err == nil {
			sent++
		}
		c.Close()
		if i%200 == 199 {
			time.Sleep(2 * time.Millisecond) // pace: flows, not drops
		}
	}
	fmt.Println("sent", sent)
}
`

// copyNATFlood copies the flood helper to /tmp/natflood in the pod's first
// container.
func copyNATFlood(t *testing.T, e *env, pod string) {
	t.Helper()
	copyExecutable(t, e, pod, "", buildGoHelper(t, "natflood", natFloodSource), "natflood")
}

// supervisorFDs counts the open file descriptors of the supervisor (the
// child of the namespace holder, itself the child of `podbox daemon`).
func supervisorFDs(t *testing.T, sup string) int {
	t.Helper()
	es, err := os.ReadDir("/proc/" + sup + "/fd")
	if err != nil {
		t.Fatalf("supervisor's descriptors: %v", err)
	}
	return len(es)
}

// TestHardeningNATUDPFlood: a pod that sends UDP from 40,000 source ports
// to a quiet socket on the host (through the opt-in host gateway, so all
// traffic stays on this machine) makes the supervisor hold at most its
// per-pod number of flows, not a descriptor each; exec into another pod,
// pod-to-pod HTTP and a new pod still work.
func TestHardeningNATUDPFlood(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, false)
	e.writeNetworkConfig(t, "hostGateway: true\n")
	if err := e.startDaemon(); err != nil {
		t.Fatal(err)
	}
	quiet, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	go func() { // drain, never answer
		buf := make([]byte, 1500)
		for {
			if _, _, err := quiet.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: nat-web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", "mkdir -p /www && echo hello from nat-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
`, busyboxRef))
	e.apply(t, sleeperPod("nat-flood"))
	web := e.waitFor(t, "nat-web", 90*time.Second, "Running", running)
	e.waitFor(t, "nat-flood", 90*time.Second, "Running", running)
	webURL := "http://" + podIPOf(t, web).String() + ":8080/"
	copyNATFlood(t, e, "nat-flood")
	sup := childOf(atoi(childOf(e.daemon.Process.Pid)))
	if sup == "" {
		t.Fatal("no supervisor process under podbox daemon")
	}
	base := supervisorFDs(t, sup)
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if es, err := os.ReadDir("/proc/" + sup + "/fd"); err == nil && int64(len(es)) > peak.Load() {
				peak.Store(int64(len(es)))
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	const flows = 40000
	dst := "169.254.1.1:" + portOf(quiet.LocalAddr())
	start := time.Now()
	r := e.run(t, nil, "exec", "nat-flood", "--", "/tmp/natflood", dst, "20000", fmt.Sprint(flows))
	close(stop)
	<-sampled
	t.Logf("flood: %+v in %v; supervisor descriptors %d before, at most %d during", r, time.Since(start).Round(time.Second), base, peak.Load())
	// The pod's flows, up to 64 evicted ones still being closed, and
	// room for the exec streams.
	bound := base + netstack.DefaultPodUDP + 256
	if got := int(peak.Load()); got > bound {
		t.Errorf("while a pod opened %d UDP flows the supervisor held up to %d descriptors (%d before), want at most %d", flows, got, base, bound)
	}
	if got := e.run(t, nil, "exec", "nat-web", "--", "cat", "/www/index.html"); got.code != 0 || got.stdout != "hello from nat-web\n" {
		t.Errorf("exec into another pod after the flood: %+v", got)
	}
	if got := e.run(t, nil, "exec", "nat-flood", "--", "wget", "-qO-", webURL); got.code != 0 || !strings.Contains(got.stdout, "hello from nat-web") {
		t.Errorf("pod-to-pod HTTP after the flood: %+v", got)
	}
	e.apply(t, sleeperPod("nat-new"))
	e.waitFor(t, "nat-new", 90*time.Second, "Running", running)
	if got := supervisorFDs(t, sup); got > bound {
		t.Errorf("after the flood the supervisor holds %d descriptors (%d before), want at most %d", got, base, bound)
	}
}
