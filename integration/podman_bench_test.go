//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchPodman runs TestNetworkBench's measurements with rootless podman as
// a peer, when podman is installed: host->container through a published
// port, container->container on a podman bridge network (netavark in
// podman's rootless network namespace), and container->host egress through
// slirp4netns to the host's loopback (10.0.2.2 with allow_host_loopback),
// against the same host sink as podbox's egress. The containers run the
// same static helper as the pods, from a FROM-scratch image built locally
// (no registry). When podman is missing or cannot run networked containers
// here, it says so in one line and measures nothing.
func benchPodman(t *testing.T, tool string, hostSinkPort int, d time.Duration) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Logf("podman: not installed, no podman numbers (install Debian's podman to compare)")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pm := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	skip := func(err error) {
		t.Logf("podman: skipped, rootless podman cannot run the benchmark here: %v", err)
	}
	if v, err := pm("version", "--format", "{{.Client.Version}}"); err == nil {
		t.Logf("podman %s (rootless)", v)
	}

	suffix := fmt.Sprint(os.Getpid())
	image := "localhost/podbox-netbench:" + suffix
	dir := t.TempDir()
	bin, err := os.ReadFile(tool)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "udptool"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM scratch\nCOPY udptool /udptool\nENTRYPOINT [\"/udptool\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pm("build", "-q", "-t", image, dir); err != nil {
		skip(err)
		return
	}
	defer pm("rmi", "-f", image)
	network := "podbox-bench-" + suffix
	if _, err := pm("network", "create", network); err != nil {
		skip(err)
		return
	}
	defer pm("network", "rm", "-f", network)

	sink, src, egress := "pbbench-sink-"+suffix, "pbbench-src-"+suffix, "pbbench-egress-"+suffix
	defer pm("rm", "-f", "-t", "0", sink, src, egress)
	hostPort := freePort(t, "tcp")
	// --cgroups=disabled: the benchmark needs no resource limits, and
	// crun refuses hosts with a hybrid cgroup v1/v2 layout.
	run := [][]string{
		{"--name", sink, "--network", network, "-p", fmt.Sprintf("127.0.0.1:%d:9000", hostPort), image, "sink", ":9000"},
		{"--name", src, "--network", network, image, "idle"},
		{"--name", egress, "--network", "slirp4netns:allow_host_loopback=true", image, "idle"},
	}
	for _, args := range run {
		if _, err := pm(append([]string{"run", "-d", "--cgroups=disabled"}, args...)...); err != nil {
			skip(err)
			return
		}
	}
	sinkIP, err := pm("inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", network), sink)
	if err != nil || sinkIP == "" {
		skip(fmt.Errorf("no address for %s: %q %v", sink, sinkIP, err))
		return
	}

	inContainer := func(what, container, addr string) benchPath {
		tool := func(args ...string) string {
			out, err := pm(append([]string{"exec", container, "/udptool"}, args...)...)
			if err != nil {
				t.Logf("%s: %v", what, err)
				return "-"
			}
			return out
		}
		return benchPath{what,
			func() string { return tool("source", addr, d.String()) },
			func() string { return tool("connrate", addr, d.String()) }}
	}
	benchRun(t,
		benchLocal(t, "podman host->container (-p)", fmt.Sprintf("127.0.0.1:%d", hostPort), d),
		inContainer("podman container->container (bridge)", src, sinkIP+":9000"),
		inContainer("podman container->host (slirp4netns)", egress, fmt.Sprintf("10.0.2.2:%d", hostSinkPort)))
}
