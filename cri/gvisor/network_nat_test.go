package gvisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"podbox.dev/podbox/netstack"
)

// TestNetworkConfigNATLimits: network.yaml's nat section sets the NAT's
// caps; omitted ones stay 0 (netstack's defaults); a negative one is
// refused with the file and field named.
func TestNetworkConfigNATLimits(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	if err := os.MkdirAll(filepath.Join(dir, "podbox"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "podbox", "network.yaml"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("nat:\n  podTCPConnections: 10\n  podUDPFlows: 20\n  udpFlows: 300\n")
	cfg, err := loadNetworkConfig()
	if err != nil {
		t.Fatal(err)
	}
	if want := (netstack.NATLimits{PodTCP: 10, PodUDP: 20, UDP: 300}); cfg.Limits != want {
		t.Errorf("limits %+v, want %+v", cfg.Limits, want)
	}
	write("nat:\n  udpFlows: -1\n")
	if _, err := loadNetworkConfig(); err == nil || !strings.Contains(err.Error(), "network.yaml: nat.udpFlows: -1 is negative") {
		t.Errorf("negative cap: %v", err)
	}
}
