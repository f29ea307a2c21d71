package netstack

import (
	"net/netip"
	"testing"
)

// TestTargetRefusesHostAndDeniedNetworks pins the NAT's egress filter: what
// a pod may reach through the NAT, and what it may not.
func TestTargetRefusesHostAndDeniedNetworks(t *testing.T) {
	n := &nat{cfg: Config{
		Subnet:     DefaultSubnet,
		DNS:        []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53")},
		EgressDeny: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("10.0.0.0/8")},
	}, local: &localAddrs{}}
	for _, tc := range []struct {
		dst  string
		want string // "" for refused
	}{
		{"203.0.113.7:443", "203.0.113.7:443"}, // the outside world
		{"172.16.4.4:80", "172.16.4.4:80"},     // a LAN not denied
		{"192.168.1.10:22", ""},                // denied LAN
		{"10.1.2.3:80", ""},                    // denied, and not the pod subnet
		{"10.88.0.5:80", ""},                   // the pod network itself
		{"127.0.0.1:8080", ""},                 // the host's loopback
		{"169.254.169.254:80", ""},             // link-local: cloud metadata
		{"169.254.1.1:8080", ""},               // the gateway, hostGateway off
		{"169.254.1.1:53", "192.0.2.53:53"},    // DNS relayed to the resolver
		{"255.255.255.255:67", ""},             // broadcast
		{"224.0.0.251:5353", ""},               // multicast
		{"0.0.0.0:80", ""},                     // "this host"
	} {
		got, ok := n.target(netip.MustParseAddrPort(tc.dst))
		if tc.want == "" {
			if ok {
				t.Errorf("target(%s) = %s, want refused", tc.dst, got)
			}
			continue
		}
		if !ok || got.String() != tc.want {
			t.Errorf("target(%s) = %s, %v; want %s", tc.dst, got, ok, tc.want)
		}
	}
}

func TestTargetHostGatewayOptIn(t *testing.T) {
	n := &nat{cfg: Config{Subnet: DefaultSubnet, HostGateway: true}, local: &localAddrs{}}
	got, ok := n.target(netip.MustParseAddrPort("169.254.1.1:8080"))
	if !ok || got.String() != "127.0.0.1:8080" {
		t.Fatalf("with hostGateway, the gateway maps to the host's loopback; got %s, %v", got, ok)
	}
	if _, ok := n.target(netip.MustParseAddrPort("127.0.0.1:8080")); ok {
		t.Fatal("127.0.0.1 itself stays refused: only the gateway address is the opt-in route")
	}
}
