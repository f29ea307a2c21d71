//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
	env := os.Environ()
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		// Podman 4.3's rootless network namespace fails without one
		// ("failed to mount runtime directory for rootless netns"), and
		// with one that a failed run left behind. A fresh one, then,
		// and the pause process podman starts for it ended at the end.
		dir, err := os.MkdirTemp("", "podbox-bench-podman-")
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			killPausedFor("XDG_RUNTIME_DIR=" + dir)
			_ = os.RemoveAll(dir)
		}()
		env = append(env, "XDG_RUNTIME_DIR="+dir)
	}
	pm := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "podman", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	paths := []string{"podman host->container (-p)", "podman container->container (bridge)", "podman container->host (slirp4netns)"}
	skip := func(err error) {
		for _, p := range paths {
			t.Logf("%-38s %6s %14s", p, "-", "-")
		}
		t.Logf("podman: not measured, rootless podman cannot run networked containers here: %s", podmanWhy(err))
	}
	version := exec.CommandContext(ctx, "podman", "version", "--format", "{{.Client.Version}}")
	version.Env = env
	if v, err := version.Output(); err == nil { // stdout: not podman's warnings
		t.Logf("podman %s (rootless)", strings.TrimSpace(string(v)))
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

	// crun (Debian's default) refuses a hybrid cgroup v1/v2 host even
	// with --cgroups=disabled; runc with the cgroupfs manager runs there
	// (rootless, it goes without the cgroups it may not create).
	var runtime []string
	if _, err := pm("run", "--rm", "--network=none", image, "true"); err != nil {
		runtime = []string{"--runtime=runc", "--cgroup-manager=cgroupfs"}
		if _, err2 := pm(append(runtime, "run", "--rm", "--network=none", image, "true")...); err2 != nil {
			skip(errors.Join(err, err2))
			return
		}
		t.Logf("podman: crun cannot run containers here, using %s", strings.Join(runtime, " "))
	}
	rt := func(args ...string) (string, error) { return pm(append(append([]string(nil), runtime...), args...)...) }

	sink, src, egress := "pbbench-sink-"+suffix, "pbbench-src-"+suffix, "pbbench-egress-"+suffix
	defer rt("rm", "-f", "-t", "0", sink, src, egress)
	hostPort := freePort(t, "tcp")
	run := [][]string{
		{"--name", sink, "--network", network, "-p", fmt.Sprintf("127.0.0.1:%d:9000", hostPort), image, "sink", ":9000"},
		{"--name", src, "--network", network, image, "idle"},
		{"--name", egress, "--network", "slirp4netns:allow_host_loopback=true", image, "idle"},
	}
	for _, args := range run {
		if _, err := rt(append([]string{"run", "-d"}, args...)...); err != nil {
			skip(err)
			return
		}
	}
	sinkIP, err := rt("inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", network), sink)
	if err != nil || sinkIP == "" {
		skip(fmt.Errorf("no address for %s: %q %v", sink, sinkIP, err))
		return
	}

	inContainer := func(what, container, addr string) benchPath {
		tool := func(args ...string) string {
			out, err := rt(append([]string{"exec", container, "/udptool"}, args...)...)
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
		benchLocal(t, paths[0], fmt.Sprintf("127.0.0.1:%d", hostPort), d),
		inContainer(paths[1], src, sinkIP+":9000"),
		inContainer(paths[2], egress, fmt.Sprintf("10.0.2.2:%d", hostSinkPort)))
}

// killPausedFor ends podman's pause processes (catatonit) whose
// environment has env: the ones this benchmark's podman runs started.
func killPausedFor(env string) {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		comm, err := os.ReadFile(p + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "catatonit" {
			continue
		}
		environ, err := os.ReadFile(p + "/environ")
		if err != nil || !slices.Contains(strings.Split(string(environ), "\x00"), env) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(p)); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// podmanWhy says why podman failed, in one line: the known causes on a
// rootless host spelled out, otherwise podman's own message.
func podmanWhy(err error) string {
	msg := err.Error()
	if _, e, ok := strings.Cut(msg, "Error: "); ok {
		msg = e // podman's message, without the command line
	}
	switch {
	case strings.Contains(msg, "/dev/net/tun"):
		why := "its rootless networks (slirp4netns; pasta, podman 4.4+) need /dev/net/tun"
		var st syscall.Stat_t
		if syscall.Stat("/dev/net/tun", &st) == nil && st.Mode&0o006 == 0 {
			why += fmt.Sprintf(", which is mode %#o, owner uid %d here", st.Mode&0o777, st.Uid)
		}
		return why + " (podman: " + firstLine(msg) + ")"
	case strings.Contains(msg, "hybrid mode"):
		return "crun refuses the hybrid cgroup v1/v2 layout and runc is not installed (podman: " + firstLine(msg) + ")"
	}
	return firstLine(msg)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\\n")
	s, _, _ = strings.Cut(s, "\n")
	return s
}
