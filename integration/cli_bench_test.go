//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCLIBench measures what one podbox command costs the user: the wall
// time, the CPU (user + system, of the process and anything it runs) and the
// page faults of `podbox version`, `podbox get pods` with no pods and with
// PODBOX_BENCH_PODS (default 100) pods, and `podbox apply -f` of a
// one-container pod (until the command returns, which is when the pod is
// created). It runs only with PODBOX_CLI_BENCH=1; PODBOX_BENCH_RUNS sets the
// runs per command (default 15).
//
// With PODBOX_CLI_BENCH_BASE naming another podbox binary (an older build,
// say), every run of a command with the binary under test is followed by a
// run of the same command with that one, against the same supervisor, and
// the ratio column is the median of the run-by-run ratios: an A/B that a
// loaded machine does not turn into noise. PODBOX_CLI_BENCH_HOLD=SECONDS
// keeps the supervisor and its pods that long after the measurements and
// prints its directories, to profile commands by hand (perf, strace).
func TestCLIBench(t *testing.T) {
	if os.Getenv("PODBOX_CLI_BENCH") != "1" {
		t.Skip("set PODBOX_CLI_BENCH=1 to run the CLI benchmark")
	}
	runs := envInt("PODBOX_BENCH_RUNS", 15)
	density := envInt("PODBOX_BENCH_PODS", 100)
	e := privateEnv(t, true)
	cb := &cliBench{bench: bench{t: t, e: e, api: e.apiClient()}, base: os.Getenv("PODBOX_CLI_BENCH_BASE")}
	if cb.base != "" {
		cb.note("base: " + cb.base)
	}

	cb.measure("`podbox version`", runs, nil, "version")
	cb.measure("`podbox get pods`, no pods", runs, nil, "get", "pods")

	f := filepath.Join(t.TempDir(), "one.yaml")
	if err := os.WriteFile(f, []byte(idlePod("cli-one", busyboxRef, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cb.measure("`podbox apply -f` of a 1-container pod", runs, func() {
		// Each apply creates the pod (the warm-up run pulls the image):
		// the one before is removed, and
		// the sandbox the apply started is up before the next run, so
		// that its start does not load the measured command.
		cb.waitReady(t, []string{"cli-one"}, 2*time.Minute)
		e.ok(t, "delete", "pod", "cli-one", "--now")
	}, "apply", "-f", f)

	names := cb.startIdlePods(density)
	cb.measure(fmt.Sprintf("`podbox get pods`, %d pods", density), runs, nil, "get", "pods")
	if hold := envInt("PODBOX_CLI_BENCH_HOLD", 0); hold > 0 {
		env := e.environ()
		fmt.Printf("holding the supervisor with %d pods for %d s: %s\n", density, hold, strings.Join(env[len(env)-3:], " "))
		time.Sleep(time.Duration(hold) * time.Second)
	}
	e.ok(t, append([]string{"delete", "pod", "--now"}, names...)...)
	cb.print()
}

// cliBench measures podbox commands one process at a time.
type cliBench struct {
	bench
	// base is the podbox binary to compare with, if any.
	base string
}

// cost is what one command took.
type cost struct {
	wall, cpu time.Duration
	minflt    int64
}

// measure runs podbox args runs times (after one warm-up), and after each
// run the base binary, if any; after every run, between runs the
// not-measured step after, and adds rows for wall time, CPU and page faults.
func (cb *cliBench) measure(what string, runs int, after func(), args ...string) {
	t := cb.t
	var got, base []cost
	one := func(bin string) cost {
		c := cb.run(bin, args...)
		if after != nil {
			after()
		}
		return c
	}
	one(filepath.Join(cb.e.bin, "podbox"))
	for range runs {
		got = append(got, one(filepath.Join(cb.e.bin, "podbox")))
		if cb.base != "" {
			base = append(base, one(cb.base))
		}
	}
	field := func(cs []cost, f func(cost) float64) []float64 {
		out := make([]float64, len(cs))
		for i, c := range cs {
			out[i] = f(c)
		}
		return out
	}
	for _, m := range []struct {
		unit string
		f    func(cost) float64
	}{
		{"wall, ms", func(c cost) float64 { return float64(c.wall) / 1e6 }},
		{"CPU, ms", func(c cost) float64 { return float64(c.cpu) / 1e6 }},
		{"page faults", func(c cost) float64 { return float64(c.minflt) }},
	} {
		g, b := field(got, m.f), field(base, m.f)
		r := benchRow{what: what + " (" + m.unit + ")", podbox: fmt.Sprintf("%.0f", medianF(g)), peer: "-", ratio: "-", goal: "-"}
		if len(b) > 0 {
			r.peer = fmt.Sprintf("base %.0f", medianF(b))
			ratios := make([]float64, len(g))
			for i := range g {
				ratios[i] = g[i] / max(b[i], 1e-9)
			}
			r.ratio = fmt.Sprintf("%.2f", medianF(ratios))
		}
		cb.row(r)
	}
	t.Logf("%s: %d runs", what, runs)
}

// run runs one podbox command and returns its cost; it must succeed.
func (cb *cliBench) run(bin string, args ...string) cost {
	t := cb.t
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cb.e.environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out.String())
	}
	c := cost{wall: time.Since(start), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		c.minflt = ru.Minflt
	}
	return c
}

// startIdlePods applies n idle pods, ten at a time, and waits until all are
// Ready.
func (cb *cliBench) startIdlePods(n int) []string {
	t := cb.t
	dir := t.TempDir()
	names := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range n {
		names[i] = fmt.Sprintf("cli-%03d", i)
		f := filepath.Join(dir, names[i]+".yaml")
		if err := os.WriteFile(f, []byte(idlePod(names[i], busyboxRef, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cb.e.ok(t, "apply", "-f", f)
		}()
	}
	wg.Wait()
	cb.waitReady(t, names, 10*time.Minute)
	return names
}

func medianF(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
