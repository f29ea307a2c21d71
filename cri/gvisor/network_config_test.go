package gvisor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeNetworkConfig(t *testing.T, body string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv(EnvHostGateway, "")
	if err := os.MkdirAll(filepath.Join(dir, "podbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "podbox", "network.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNetworkConfigEgressDeny(t *testing.T) {
	writeNetworkConfig(t, "egressDeny: [\"192.168.1.7/16\", \"10.0.0.0/8\"]\n")
	cfg, err := loadNetworkConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("10.0.0.0/8")}
	if len(cfg.EgressDeny) != 2 || cfg.EgressDeny[0] != want[0] || cfg.EgressDeny[1] != want[1] {
		t.Fatalf("EgressDeny = %v, want %v", cfg.EgressDeny, want)
	}
}

func TestNetworkConfigEgressDenyErrorNamesTheEntry(t *testing.T) {
	writeNetworkConfig(t, "egressDeny: [\"10.0.0.0/8\", \"lan\"]\n")
	_, err := loadNetworkConfig()
	if err == nil || !strings.Contains(err.Error(), "egressDeny[1]") || !strings.Contains(err.Error(), "network.yaml") {
		t.Fatalf("want an error naming network.yaml and egressDeny[1], got %v", err)
	}
}
