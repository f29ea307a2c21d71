package gvisor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"podbox.dev/podbox/netstack"
)

// NetworkConfigFile is where a user configures the pod network:
// $XDG_CONFIG_HOME/podbox/network.yaml (default ~/.config/podbox/network.yaml).
func NetworkConfigFile() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "podbox", "network.yaml")
}

// networkFile is the format of NetworkConfigFile.
type networkFile struct {
	// Subnet is the pod network, default 10.88.0.0/16.
	Subnet string `json:"subnet,omitempty"`
	// MTU of pod interfaces, default 65520.
	MTU int `json:"mtu,omitempty"`
	// HostGateway lets pods reach the host's loopback as
	// host.podbox.internal; off by default.
	HostGateway bool `json:"hostGateway,omitempty"`
	// DNS are the resolvers ("IP" or "IP:port") pods' DNS queries are
	// relayed to; the host's /etc/resolv.conf nameservers by default.
	DNS []string `json:"dns,omitempty"`
	// EgressDeny are networks (CIDR, e.g. "192.168.0.0/16") pods may not
	// reach; none by default, so pods reach the LAN as on a cluster.
	EgressDeny []string `json:"egressDeny,omitempty"`
	// NAT bounds the connections and flows pods hold in the NAT (each
	// holds a file descriptor of the supervisor); omitted or 0 fields
	// take the defaults of netstack.NATLimits.
	NAT natLimitsFile `json:"nat,omitempty"`
}

// natLimitsFile is the nat section of NetworkConfigFile.
type natLimitsFile struct {
	PodTCPConnections int `json:"podTCPConnections,omitempty"` // default 1024
	PodUDPFlows       int `json:"podUDPFlows,omitempty"`       // default 512
	PodPendingTCP     int `json:"podPendingTCP,omitempty"`     // default 128
	TCPConnections    int `json:"tcpConnections,omitempty"`    // default RLIMIT_NOFILE/4, at most 4096
	UDPFlows          int `json:"udpFlows,omitempty"`          // default RLIMIT_NOFILE/4, at most 4096
	PendingTCP        int `json:"pendingTCP,omitempty"`        // default 1024
}

func (f natLimitsFile) limits(path string) (netstack.NATLimits, error) {
	for _, field := range []struct {
		name string
		v    int
	}{{"podTCPConnections", f.PodTCPConnections}, {"podUDPFlows", f.PodUDPFlows}, {"podPendingTCP", f.PodPendingTCP},
		{"tcpConnections", f.TCPConnections}, {"udpFlows", f.UDPFlows}, {"pendingTCP", f.PendingTCP}} {
		if field.v < 0 {
			return netstack.NATLimits{}, fmt.Errorf("%s: nat.%s: %d is negative (omit it or use 0 for the default)", path, field.name, field.v)
		}
	}
	return netstack.NATLimits{PodTCP: f.PodTCPConnections, PodUDP: f.PodUDPFlows, PodPendingTCP: f.PodPendingTCP,
		TCP: f.TCPConnections, UDP: f.UDPFlows, PendingTCP: f.PendingTCP}, nil
}

// EnvHostGateway, set to "true", turns the host gateway on without a
// config file.
const EnvHostGateway = "PODBOX_HOST_GATEWAY"

func loadNetworkConfig() (netstack.Config, error) {
	var cfg netstack.Config
	path := NetworkConfigFile()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return cfg, err
	}
	var f networkFile
	if err == nil {
		if err := yaml.UnmarshalStrict(b, &f); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	}
	if f.Subnet != "" {
		if cfg.Subnet, err = netip.ParsePrefix(f.Subnet); err != nil {
			return cfg, fmt.Errorf("%s: subnet: %w", path, err)
		}
	}
	cfg.MTU = f.MTU
	cfg.HostGateway = f.HostGateway || os.Getenv(EnvHostGateway) == "true"
	for _, d := range f.DNS {
		ap, err := netstack.ParseAddrPort(d, 53)
		if err != nil {
			return cfg, fmt.Errorf("%s: dns: %w", path, err)
		}
		cfg.DNS = append(cfg.DNS, ap)
	}
	for i, d := range f.EgressDeny {
		p, err := netip.ParsePrefix(d)
		if err != nil || !p.Addr().Is4() {
			return cfg, fmt.Errorf("%s: egressDeny[%d]: %q is not an IPv4 network in CIDR form (e.g. \"192.168.0.0/16\")", path, i, d)
		}
		cfg.EgressDeny = append(cfg.EgressDeny, p.Masked())
	}
	if cfg.Limits, err = f.NAT.limits(path); err != nil {
		return cfg, err
	}
	return cfg, nil
}
