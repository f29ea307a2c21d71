package netstack

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestAllocatorNeverReusesAnAddressInUse(t *testing.T) {
	dir := t.TempDir()
	prefix := netip.MustParsePrefix("10.88.0.0/29") // .1 bridge, .2-.6 pods
	bridge := netip.MustParseAddr("10.88.0.1")
	a := NewAllocator(prefix, dir, bridge)
	got := map[netip.Addr]string{}
	for _, owner := range []string{"a", "b", "c", "d", "e"} {
		ip, err := a.Allocate(owner)
		if err != nil {
			t.Fatalf("allocate %s: %v", owner, err)
		}
		if ip == bridge || ip == prefix.Addr() || ip == netip.MustParseAddr("10.88.0.7") {
			t.Fatalf("handed out reserved address %s", ip)
		}
		if prev, dup := got[ip]; dup {
			t.Fatalf("%s handed to %s and %s", ip, prev, owner)
		}
		got[ip] = owner
	}
	if _, err := a.Allocate("f"); err != ErrExhausted {
		t.Fatalf("full network: %v", err)
	}
	freed := netip.MustParseAddr("10.88.0.3")
	a.Release(freed, "someone else") // not the owner: no effect
	if _, err := a.Allocate("f"); err == nil {
		t.Fatalf("a release by a non-owner freed the address")
	}
	a.Release(freed, got[freed])
	if ip, err := a.Allocate("f"); err != nil || ip != freed {
		t.Fatalf("after release: %s %v", ip, err)
	}

	// A restarted supervisor: a new allocator with the records' addresses
	// reserved continues after the last address handed out.
	b := NewAllocator(prefix, dir, bridge)
	if err := b.Reserve(netip.MustParseAddr("10.88.0.4"), "c"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(netip.MustParseAddr("10.88.0.4"), "x"); err == nil {
		t.Fatal("reserved an address held by another owner")
	}
	ip, err := b.Allocate("g")
	if err != nil || ip != netip.MustParseAddr("10.88.0.5") {
		t.Fatalf("after restart: %s %v (want 10.88.0.5: after the persisted last address 10.88.0.3, skipping 10.88.0.4 in use)", ip, err)
	}
}

func TestHostsFileAsKubelet(t *testing.T) {
	got := HostsFile("10.88.0.5", "web", "", "default",
		[]HostAlias{{IP: "169.254.1.1", Hostnames: []string{HostGatewayName}}},
		[]HostAlias{{IP: "10.0.0.9", Hostnames: []string{"a", "b"}}})
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		"10.88.0.5\tweb\n169.254.1.1\thost.podbox.internal\n\n# Entries added by HostAliases.\n10.0.0.9\ta\tb\n"
	if got != want {
		t.Errorf("hosts:\n%s\nwant:\n%s", got, want)
	}
	if got := HostsFile("10.88.0.5", "web", "sub", "ns", nil, nil); !strings.Contains(got, "10.88.0.5\tweb.sub.ns.svc.cluster.local\tweb\n") {
		t.Errorf("with subdomain:\n%s", got)
	}
}

func TestResolvConfPolicies(t *testing.T) {
	host := ParseResolvConf(strings.NewReader("# comment\nnameserver 127.0.0.53\nsearch lan example.com\noptions edns0 ndots:2\n"))
	if got, want := ResolvConf(corev1.DNSClusterFirst, nil, host, "169.254.1.1"),
		"nameserver 169.254.1.1\nsearch lan example.com\noptions edns0 ndots:2\n"; got != want {
		t.Errorf("ClusterFirst: %q, want %q", got, want)
	}
	five := "5"
	cfg := &corev1.PodDNSConfig{Nameservers: []string{"1.2.3.4"}, Searches: []string{"my.ns"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}}}
	if got, want := ResolvConf(corev1.DNSNone, cfg, host, "169.254.1.1"),
		"nameserver 1.2.3.4\nsearch my.ns\noptions ndots:5\n"; got != want {
		t.Errorf("None: %q, want %q", got, want)
	}
	if got, want := ResolvConf(corev1.DNSDefault, cfg, host, "169.254.1.1"),
		"nameserver 169.254.1.1\nnameserver 1.2.3.4\nsearch lan example.com my.ns\noptions edns0 ndots:5\n"; got != want {
		t.Errorf("Default+dnsConfig: %q, want %q", got, want)
	}
}
