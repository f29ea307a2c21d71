//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/sandbox"
)

// TestPodBench is not a test but the pod benchmark of `make bench` (issue
// #8): pod start latency, memory per pod, density and probe cost, for
// podbox beside rootless podman (kube play, runc) and bare `runsc do` on
// the same images and manifests. It runs only with PODBOX_POD_BENCH=1 and
// prints one table of medians and pair-wise ratios; nothing is asserted.
//
// Knobs: PODBOX_BENCH_RUNS (measured runs per start benchmark after one
// warm-up, default 7), PODBOX_BENCH_PODS (density, default 100),
// PODBOX_BENCH_PROBED (pods with probes, default 50), PODBOX_BENCH_PROBES
// (exec or http: one kind of probe only), PODBOX_BENCH_PODMAN=0
// to leave podman out, PODBOX_BENCH_ONLY=start,memory,density,probes to run
// some parts only.
func TestPodBench(t *testing.T) {
	if os.Getenv("PODBOX_POD_BENCH") != "1" {
		t.Skip("set PODBOX_POD_BENCH=1 to run the pod benchmark")
	}
	runs := envInt("PODBOX_BENCH_RUNS", 7)
	density := envInt("PODBOX_BENCH_PODS", 100)
	probed := envInt("PODBOX_BENCH_PROBED", 50)

	e := privateEnv(t, true)
	b := &bench{t: t, e: e, api: e.apiClient()}
	var pm *podman
	if os.Getenv("PODBOX_BENCH_PODMAN") != "0" {
		var why string
		pm, why = newPodman(t, busyboxRef)
		if pm == nil {
			b.note("podman: " + why)
		}
	}

	only := os.Getenv("PODBOX_BENCH_ONLY")
	part := func(name string) bool { return only == "" || strings.Contains(only, name) }
	if part("start") {
		b.startBench(pm, runs)
		b.floorBench(runs)
	}
	if part("memory") {
		b.memoryBench(pm, 10)
	}
	if part("probes") {
		b.execCostBench(pm, 40)
	}
	if pm != nil {
		pm.close()
	}
	if part("density") {
		b.densityBench(density)
	}
	if part("probes") {
		b.probeBench(probed)
	}
	b.print()
}

// bench collects the rows of the table.
type bench struct {
	t     *testing.T
	e     *env
	api   *http.Client
	rows  []benchRow
	notes []string
}

// benchRow is one line of the table: podbox's median, the peer's, the
// median of the pair-wise ratios, and the goal.
type benchRow struct {
	what, podbox, peer, ratio, goal, met string
}

func (b *bench) note(s string) {
	b.t.Log(s)
	b.notes = append(b.notes, s)
}

func (b *bench) row(r benchRow) {
	b.t.Logf("%s: podbox %s, peer %s, ratio %s", r.what, r.podbox, r.peer, r.ratio)
	b.rows = append(b.rows, r)
}

func (b *bench) print() {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	var sb strings.Builder
	fmt.Fprintf(&sb, "\npodbox pod benchmark on %s: %d CPUs, kernel %s, load %s\n", host, runtime.NumCPU(), strings.TrimSpace(string(kernel)), strings.TrimSpace(string(load)))
	w := []int{0, 6, 4, 5, 4}
	for _, r := range b.rows {
		for i, s := range []string{r.what, r.podbox, r.peer, r.ratio, r.goal} {
			w[i] = max(w[i], len(s))
		}
	}
	line := func(c ...string) {
		fmt.Fprintf(&sb, "| %-*s | %*s | %-*s | %*s | %-*s | %s |\n", w[0], c[0], w[1], c[1], w[2], c[2], w[3], c[3], w[4], c[4], c[5])
	}
	line("measure", "podbox", "peer", "ratio", "goal", "met")
	fmt.Fprintf(&sb, "|%s|%s:|%s|%s:|%s|---|\n", strings.Repeat("-", w[0]+2), strings.Repeat("-", w[1]+1), strings.Repeat("-", w[2]+2), strings.Repeat("-", w[3]+1), strings.Repeat("-", w[4]+2))
	for _, r := range b.rows {
		line(r.what, r.podbox, r.peer, r.ratio, r.goal, r.met)
	}
	for _, n := range b.notes {
		fmt.Fprintf(&sb, "- %s\n", n)
	}
	fmt.Print(sb.String())
}

// --- pod start ---

// startBench measures apply→Ready of a one- and a three-container pod with
// a cached image, the cost of one more container, and a cold start that
// pulls from the local registry; each podbox run is paired with a podman
// run of the same manifest right after it.
func (b *bench) startBench(pm *podman, runs int) {
	t := b.t
	one := idlePod("start-one", busyboxRef, 1)
	three := idlePod("start-three", busyboxRef, 3)
	cold := idlePod("start-cold", busyboxRef, 1)

	measure := func(what string, manifest string, pmFn func(string) (time.Duration, error), prepare, each func()) (pb, peer []time.Duration) {
		name := podName(manifest)
		for i := range runs + 1 {
			if prepare != nil {
				prepare()
			}
			d := b.applyReady(manifest, name)
			b.e.ok(t, "delete", "pod", name, "--now")
			if each != nil {
				each()
			}
			var pd time.Duration
			if pm != nil {
				var err error
				if pd, err = pmFn(manifest); err != nil {
					b.note(fmt.Sprintf("podman %s: %v", what, err))
					pm = nil
				}
			}
			if i == 0 {
				continue // warm-up
			}
			pb = append(pb, d)
			if pm != nil {
				peer = append(peer, pd)
			}
		}
		return pb, peer
	}
	play := func(manifest string) (time.Duration, error) { return pm.play(manifest) }
	var floor []time.Duration
	timeFloor := func() {
		if d, err := b.runscDo(); err == nil {
			floor = append(floor, d)
		}
	}
	pb1, pm1 := measure("one container", one, play, nil, timeFloor)
	b.row(durRow("apply→Ready, 1 container, cached image", pb1, pm1, 250*time.Millisecond))
	if len(floor) > 1 {
		r := durRow("  the same beside the floor, runsc do /bin/true", pb1, floor[1:], 0)
		r.peer = "runsc do " + ms(median(floor[1:]))
		b.row(r)
	}
	pb3, pm3 := measure("three containers", three, play, nil, nil)
	b.row(durRow("apply→Ready, 3 containers, cached image", pb3, pm3, 0))
	// One more container in a running sandbox: half the difference
	// between the three- and the one-container pod, run by run.
	var add, addPeer []time.Duration
	for i := range pb1 {
		add = append(add, (pb3[i]-pb1[i])/2)
		if i < len(pm1) && i < len(pm3) {
			addPeer = append(addPeer, (pm3[i]-pm1[i])/2)
		}
	}
	b.row(durRow("one more container in a running pod", add, addPeer, 50*time.Millisecond))

	rmi := func() {
		b.e.run(t, nil, "rmi", busyboxRef)
	}
	playCold := func(manifest string) (time.Duration, error) {
		pm.rmi(busyboxRef)
		return pm.play(manifest)
	}
	pbc, pmc := measure("cold", cold, playCold, rmi, nil)
	b.row(durRow("apply→Ready, 1 container, pull from local registry", pbc, pmc, 0))
}

// applyReady runs `podbox apply -f` and returns the time from its start
// until the API reports the pod Ready. The API is read every 2 ms over the
// socket (no CLI process, no sleep-and-retry of commands).
func (b *bench) applyReady(manifest, name string) time.Duration {
	t := b.t
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b.e.ok(t, "apply", "-f", f)
	b.waitReady(t, []string{name}, 2*time.Minute)
	return time.Since(start)
}

// waitReady reads the pod list until every named pod is Ready.
func (b *bench) waitReady(t *testing.T, names []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for {
		pods, err := b.listPods()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range pods {
			if want[p.Name] && podReady(&p) {
				n++
			}
		}
		if n == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods Ready after %s", n, len(want), timeout)
		}
		// 2 ms resolution for one pod's start; many pods are read less
		// often, so that listing them does not load the supervisor.
		if len(want) == 1 {
			time.Sleep(2 * time.Millisecond)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitRunning reads the pod list until every named pod's containers run.
func (b *bench) waitRunning(t *testing.T, names []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pods, err := b.listPods()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range pods {
			if slices.Contains(names, p.Name) && p.Status.Phase == corev1.PodRunning {
				n++
			}
		}
		if n == len(names) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods Running after %s", n, len(names), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (b *bench) listPods() ([]corev1.Pod, error) {
	resp, err := b.api.Get("http://podbox/api/v1/namespaces/default/pods")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list corev1.PodList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// apiClient speaks to the supervisor's socket directly.
func (e *env) apiClient() *http.Client {
	sock := filepath.Join(e.runtime, "podbox", "podbox.sock")
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

// floorBench times bare `runsc do /bin/true`, rootless: a sandbox with
// nothing of podbox around it.
func (b *bench) floorBench(runs int) {
	var ds []time.Duration
	for i := range runs + 1 {
		d, err := b.runscDo()
		if err != nil {
			b.note(err.Error())
			return
		}
		if i > 0 {
			ds = append(ds, d)
		}
	}
	b.row(benchRow{what: "floor: runsc --rootless do /bin/true", podbox: ms(median(ds)), peer: "-", ratio: "-", goal: "-"})
}

// runscDo times one `runsc --rootless --network=none do /bin/true`.
func (b *bench) runscDo() (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command(filepath.Join(b.e.bin, "runsc"), "--rootless", "--network=none", "--ignore-cgroups", "--root="+b.t.TempDir(), "do", "/bin/true").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("runsc do /bin/true: %v: %s", err, out)
	}
	return time.Since(start), nil
}

// --- memory ---

// memoryBench measures what idle one-container pods add to the
// proportional set size of all of this user's processes (the test
// itself excluded), per pod, for podbox and for podman.
func (b *bench) memoryBench(pm *podman, n int) {
	t := b.t
	settle := func() { time.Sleep(3 * time.Second) }
	settle()
	before := userPSS()
	var names []string
	for i := range n {
		name := fmt.Sprintf("mem-%d", i)
		b.e.apply(t, idlePod(name, busyboxRef, 1))
		names = append(names, name)
	}
	b.waitReady(t, names, 5*time.Minute)
	settle()
	after := userPSS()
	per := (after.total() - before.total()) / float64(n)
	b.note(fmt.Sprintf("podbox PSS per idle pod, by process (MiB): %s", after.perPod(before, n)))
	b.e.ok(t, append([]string{"delete", "pod", "--now"}, names...)...)

	r := benchRow{what: "PSS per idle 1-container pod (MiB)", podbox: fmt.Sprintf("%.1f", per), peer: "-", ratio: "-", goal: "≤ 25", met: metIf(per <= 25)}
	if pm != nil {
		settle()
		pmBefore := userPSS()
		var manifests []string
		for i := range n {
			m := idlePod(fmt.Sprintf("pmmem-%d", i), busyboxRef, 1)
			if _, err := pm.playNoWait(m); err != nil {
				b.note(fmt.Sprintf("podman memory: %v", err))
				break
			}
			manifests = append(manifests, m)
		}
		if len(manifests) == n {
			settle()
			pmAfter := userPSS()
			pmPer := (pmAfter.total() - pmBefore.total()) / float64(n)
			r.peer = fmt.Sprintf("%.1f", pmPer)
			r.ratio = fmt.Sprintf("%.2f", per/pmPer)
			b.note(fmt.Sprintf("podman PSS per idle pod, by process (MiB): %s", pmAfter.perPod(pmBefore, n)))
		}
		for _, m := range manifests {
			pm.down(m)
		}
	}
	b.row(r)
}

// pss is the proportional set size (MiB) of a user's processes, by kind.
type pss map[string]float64

func (p pss) total() float64 {
	var s float64
	for _, v := range p {
		s += v
	}
	return s
}

// perPod renders what each kind of process adds per pod.
func (p pss) perPod(before pss, n int) string {
	var kinds []string
	for k := range p {
		kinds = append(kinds, k)
	}
	for k := range before {
		if _, ok := p[k]; !ok {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, (p[k]-before[k])/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// userPSS sums the PSS of this user's processes, except this test and its
// ancestors, by kind of process.
func userPSS() pss {
	out := pss{}
	for _, pid := range userPIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				out[processKind(pid)] += kb / 1024
				break
			}
		}
	}
	return out
}

// userPIDs lists this user's processes, except this one and its ancestors.
func userPIDs() []int {
	skip := map[int]bool{}
	for pid := os.Getpid(); pid > 1; pid = parentOf(pid) {
		skip[pid] = true
	}
	uid := strconv.Itoa(os.Getuid())
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || skip[pid] {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 && f[0] == uid {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// processKind names what a process is, from its command line.
func processKind(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	cmd := strings.Join(args, " ")
	base := filepath.Base(args[0])
	has := func(s string) bool { return slices.Contains(args, s) }
	switch {
	case cmd == "":
		// The sentry's systrap stub processes have no command line.
		return "sentry-stubs"
	case strings.Contains(base, "runsc-gofer") || has("gofer"):
		return "gofer"
	case strings.Contains(base, "runsc-sandbox") || has("boot"):
		return "sentry"
	case strings.Contains(base, "runsc") && has("wait"):
		return "runsc-wait"
	case strings.Contains(base, "runsc"):
		return "runsc-other"
	case base == "podbox" && strings.Contains(cmd, "daemon"):
		return "podbox-daemon"
	case base == "conmon", base == "catatonit", base == "podman", base == "sleep", base == "busybox":
		return base
	}
	return "other:" + base
}

// --- density ---

// densityBench starts n idle pods, one apply after the other and then
// with parallel applies, and measures the time until all are Ready, the
// supervisor's RSS, `get pods` latency and the idle CPU of the pods.
func (b *bench) densityBench(n int) {
	t := b.t
	dir := t.TempDir()
	files := make([]string, n)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("dense-%03d", i)
		files[i] = filepath.Join(dir, names[i]+".yaml")
		if err := os.WriteFile(files[i], []byte(idlePod(names[i], busyboxRef, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, parallel := range []int{1, 10} {
		before := userPSS()
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, parallel)
		for _, f := range files {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				b.e.ok(t, "apply", "-f", f)
			}()
		}
		wg.Wait()
		b.waitReady(t, names, 10*time.Minute)
		took := time.Since(start)
		how := "one apply after another"
		if parallel > 1 {
			how = fmt.Sprintf("%d applies at a time", parallel)
		}
		b.row(benchRow{what: fmt.Sprintf("%d idle pods Ready, %s (s)", n, how), podbox: fmt.Sprintf("%.1f", took.Seconds()), peer: "-", ratio: "-", goal: "≤ 30", met: metIf(took <= 30*time.Second)})
		if parallel == 1 {
			time.Sleep(3 * time.Second)
			after := userPSS()
			b.note(fmt.Sprintf("with %d pods, PSS per pod (MiB): %.1f (%s)", n, (after.total()-before.total())/float64(n), after.perPod(before, n)))
			rss := supervisorRSS()
			b.row(benchRow{what: fmt.Sprintf("supervisor RSS with %d pods (MiB)", n), podbox: fmt.Sprintf("%.0f", rss), peer: "-", ratio: "-", goal: "≤ 100", met: metIf(rss <= 100)})
			var gets []time.Duration
			for range 7 {
				s := time.Now()
				b.e.ok(t, "get", "pods")
				gets = append(gets, time.Since(s))
			}
			b.row(benchRow{what: fmt.Sprintf("`podbox get pods` with %d pods", n), podbox: ms(median(gets)), peer: "-", ratio: "-", goal: "≤ 50 ms", met: metIf(median(gets) <= 50*time.Millisecond)})
			cpu := userCPU(10 * time.Second)
			b.note(fmt.Sprintf("%d idle pods use %.1f%% of one core in all (%.3f%% each; %v)", n, cpu.total*100, cpu.total*100/float64(n), cpu))
		}
		b.e.ok(t, append([]string{"delete", "pod", "--now"}, names...)...)
	}
}

// supervisorRSS is the resident set (MiB) of the supervisor process.
func supervisorRSS() float64 {
	for _, pid := range userPIDs() {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if !strings.Contains(string(env), "_PODBOX_ROLE=supervisor") {
			continue
		}
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				return kb / 1024
			}
		}
	}
	return -1
}

// cpuUse is the CPU some processes used over a span, in cores, in all and
// by process kind (see processKind).
type cpuUse struct {
	total  float64
	byKind map[string]float64
	secs   float64 // the span's length
}

// per is the CPU time used per one of n operations in the span.
func (c cpuUse) per(n int) time.Duration {
	return time.Duration(c.total * c.secs / float64(n) * float64(time.Second))
}

// String lists the kinds, biggest first, in % of a core.
func (c cpuUse) String() string {
	kinds := make([]string, 0, len(c.byKind))
	for k := range c.byKind {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int { return int(1e6 * (c.byKind[b] - c.byKind[a])) })
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, c.byKind[k]*100))
	}
	return strings.Join(parts, ", ")
}

// userCPU is the CPU this user's processes (and the children they reaped)
// used over d. A process that exits within d without being reaped by one of
// them is missed.
func userCPU(d time.Duration) cpuUse {
	return cpuDuring(func() { time.Sleep(d) })
}

// cpuDuring is the CPU this user's processes used while f ran, in cores;
// the benchmark's own (kind "bench": f's work and the children it reaped)
// included.
func cpuDuring(f func()) cpuUse {
	sample := func() map[int]float64 {
		ticks := map[int]float64{}
		for _, pid := range userPIDs() {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			s := string(b)
			fs := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
			for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
				v, _ := strconv.ParseFloat(fs[i], 64)
				ticks[pid] += v
			}
		}
		return ticks
	}
	a, selfA := sample(), selfCPU()
	start := time.Now()
	f()
	z, selfZ := sample(), selfCPU()
	secs := time.Since(start).Seconds()
	use := cpuUse{byKind: map[string]float64{}, secs: secs}
	for pid, t := range z {
		cores := (t - a[pid]) / 100 / secs // USER_HZ
		use.total += cores
		use.byKind[processKind(pid)] += cores
	}
	if self := (selfZ - selfA).Seconds() / secs; self > 0 {
		use.total += self
		use.byKind["bench"] += self
	}
	return use
}

// selfCPU is the CPU used so far by this process and the children it has
// reaped.
func selfCPU() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// --- probes ---

// execCostBench measures the CPU of one exec in an idle one-container pod,
// all processes included: for podbox the caller's side (the call the
// supervisor makes for an exec probe, made here), the sentry and its stubs;
// for podman, `podman exec` (the podman process, conmon, runc exec — those
// podman runs detached and this process does not reap are missed, so
// podman's figure is a lower bound).
func (b *bench) execCostBench(pm *podman, n int) {
	t := b.t
	b.e.apply(t, idlePod("exec-cost", busyboxRef, 1))
	b.waitReady(t, []string{"exec-cost"}, 5*time.Minute)
	defer b.e.ok(t, "delete", "pod", "exec-cost", "--now")
	execTrue, done, err := b.execProbe("exec-cost")
	if err != nil {
		b.note(fmt.Sprintf("exec cost: %v", err))
		return
	}
	defer done()
	time.Sleep(2 * time.Second)
	use := cpuDuring(func() {
		for range n {
			if err := execTrue(); err != nil {
				b.note(fmt.Sprintf("exec cost: %v", err))
				return
			}
		}
	})
	r := benchRow{what: "CPU of one exec (`true`) in an idle pod", podbox: ms(use.per(n)), peer: "-", ratio: "-", goal: "-"}
	b.note(fmt.Sprintf("CPU of %d execs by process kind (%% of a core over %.1f s): %v", n, use.secs, use))
	if pm != nil {
		m := idlePod("pmexec", busyboxRef, 1)
		if _, err := pm.playNoWait(m); err != nil {
			b.note(fmt.Sprintf("podman exec cost: %v", err))
		} else {
			time.Sleep(2 * time.Second)
			pmUse := cpuDuring(func() {
				for range n {
					if _, err := pm.run("exec", "pmexec-c0", "true"); err != nil {
						b.note(fmt.Sprintf("podman exec cost: %v", err))
						return
					}
				}
			})
			pm.down(m)
			r.peer = "podman exec " + ms(pmUse.per(n))
			r.ratio = fmt.Sprintf("%.2f", float64(use.per(n))/float64(pmUse.per(n)))
		}
	}
	b.row(r)
}

// execProbe returns a function that runs `true` in the first container of
// the running pod name the way the supervisor runs an exec probe
// (sandbox.Runsc.Exec over the sandbox's control socket, stdio on
// /dev/null), and one to call when done with it.
func (b *bench) execProbe(name string) (run func() error, done func(), err error) {
	var p corev1.Pod
	resp, err := b.api.Get("http://podbox/api/v1/namespaces/default/pods/" + name)
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
	}
	if err != nil || len(p.Status.ContainerStatuses) == 0 {
		return nil, nil, fmt.Errorf("cannot read pod %s: %v", name, err)
	}
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "gvisor://")
	sandboxID, _, _ := strings.Cut(id, "-")
	rs := &sandbox.Runsc{Root: filepath.Join(b.e.runtime, "podbox", "runsc")}
	proc := sandbox.ExecProcess(sandbox.Process{Env: []string{"PATH=/bin:/usr/bin"}}, []string{"true"})
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	run = func() error {
		code, err := rs.Exec(context.Background(), sandboxID, id, proc, sandbox.Stdio{Stdin: null, Stdout: null, Stderr: null})
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		if err != nil {
			return fmt.Errorf("exec in %s: %w", id, err)
		}
		return nil
	}
	return run, func() { null.Close() }, nil
}

// probeBench runs n pods with a 1 s exec readiness probe and a 1 s HTTP
// liveness probe each and measures their CPU cost, and the latency of the
// exec probe's path (the probe command run in the container over the
// sandbox's control socket, as the supervisor runs it).
func (b *bench) probeBench(n int) {
	t := b.t
	var names []string
	for i := range n {
		name := fmt.Sprintf("probed-%02d", i)
		b.e.apply(t, probedPod(name, testAppRef))
		names = append(names, name)
	}
	// Running, not Ready: under overload the exec readiness probe may
	// time out now and then.
	b.waitRunning(t, names, 10*time.Minute)
	time.Sleep(3 * time.Second)
	use := userCPU(20 * time.Second)
	cpu := use.total
	b.note(fmt.Sprintf("CPU of the %d probed pods by process kind (%% of a core): %v", n, use))
	b.row(benchRow{what: fmt.Sprintf("CPU of %d pods with 1 s exec + HTTP probes (%% of a core)", n), podbox: fmt.Sprintf("%.1f", cpu*100), peer: "-", ratio: "-", goal: "≤ 10", met: metIf(cpu <= 0.10)})

	// The exec probe's path, timed from here: the call the supervisor makes
	// for an exec probe (sandbox.Runsc.Exec over the sandbox's control
	// socket) with the probe's command, while the n pods are probed.
	execTrue, done, err := b.execProbe(names[0])
	if err != nil {
		b.note(fmt.Sprintf("exec probe latency: %v", err))
	} else {
		defer done()
		var ds []time.Duration
		for range 40 {
			s := time.Now()
			if err := execTrue(); err != nil {
				b.note(fmt.Sprintf("exec probe latency: %v", err))
				break
			}
			ds = append(ds, time.Since(s))
		}
		if len(ds) > 0 {
			slices.Sort(ds)
			p50, p99 := ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
			b.row(benchRow{what: fmt.Sprintf("exec probe latency p50 / p99, %d probed pods", n), podbox: ms(p50) + " / " + ms(p99), peer: "-", ratio: "-", goal: "p50 ≤ 20 ms", met: metIf(p50 <= 20*time.Millisecond)})
		}
	}
	b.e.ok(t, append([]string{"delete", "pod", "--now"}, names...)...)
}

// --- manifests ---

// idlePod is a pod of n busybox containers that sleep.
func idlePod(name, image string, n int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n", name)
	for i := range n {
		fmt.Fprintf(&sb, "  - name: c%d\n    image: %s\n    command: [\"sleep\", \"100000\"]\n", i, image)
	}
	return sb.String()
}

// probedPod serves HTTP with the test application (a Go server: busybox
// httpd would fork a process per request, a cost of that server and not of
// probing) and has a 1 s exec readiness probe (busybox true) and a 1 s HTTP
// liveness probe. The liveness probe tolerates 600
// failures: on an overloaded machine a probe that times out must not turn
// the measurement into a restart storm. PODBOX_BENCH_PROBES=exec or =http
// keeps one kind only, to see what each costs.
func probedPod(name, image string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %s
    args: ["serve", ":8080", "ok"]
`, name, image)
	kinds := os.Getenv("PODBOX_BENCH_PROBES")
	if kinds == "" || strings.Contains(kinds, "exec") {
		sb.WriteString(`    readinessProbe:
      exec:
        command: ["true"]
      periodSeconds: 1
`)
	}
	if kinds == "" || strings.Contains(kinds, "http") {
		sb.WriteString(`    livenessProbe:
      httpGet:
        path: /
        port: 8080
      periodSeconds: 1
      failureThreshold: 600
`)
	}
	return sb.String()
}

func podName(manifest string) string {
	_, rest, _ := strings.Cut(manifest, "name: ")
	name, _, _ := strings.Cut(rest, "\n")
	return name
}

// --- podman ---

// podman runs rootless podman with a private configuration and storage:
// runc (crun refuses this host's hybrid cgroup layout), the cgroupfs
// manager, no network (rootless networking needs /dev/net/tun), the test
// registry as an insecure one.
type podman struct {
	t   *testing.T
	env []string
}

func newPodman(t *testing.T, image string) (*podman, string) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, "not installed (apt-get install podman runc)"
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, "runc is not installed (apt-get install runc); crun cannot run on this host's hybrid cgroup layout"
	}
	root, err := os.MkdirTemp("/tmp", "pbpm-")
	if err != nil {
		t.Fatal(err)
	}
	home, run := filepath.Join(root, "home"), filepath.Join(root, "run")
	conf := filepath.Join(home, ".config", "containers")
	for _, d := range []string{conf, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	registry, _, _ := strings.Cut(image, "/")
	files := map[string]string{
		"containers.conf": "[containers]\ncgroups = \"enabled\"\nnetns = \"none\"\n[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\nevents_logger = \"file\"\n",
		"storage.conf":    fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(root, "storage"), filepath.Join(run, "storage")),
		"registries.conf": fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", registry),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pm := &podman{t: t, env: append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+run, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"), "CONTAINERS_CONF="+filepath.Join(conf, "containers.conf"))}
	t.Cleanup(func() {
		pm.run("system", "reset", "--force")
		os.RemoveAll(root)
	})
	v, err := pm.run("version", "--format", "{{.Client.Version}}")
	if err != nil {
		return nil, err.Error()
	}
	if i := strings.LastIndexByte(v, '\n'); i >= 0 {
		v = v[i+1:] // after podman's warnings
	}
	t.Logf("podman %s, rootless, runc, cgroupfs, --network none", v)
	return pm, ""
}

func (pm *podman) close() { pm.run("pod", "rm", "--all", "--force", "--time", "0") }

func (pm *podman) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Env = pm.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func (pm *podman) manifestFile(manifest string) string {
	f := filepath.Join(pm.t.TempDir(), "pod.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		pm.t.Fatal(err)
	}
	return f
}

// play runs `podman kube play`, which returns once the containers run
// (podman has no readiness), takes its time and removes the pod again.
func (pm *podman) play(manifest string) (time.Duration, error) {
	d, err := pm.playNoWait(manifest)
	pm.down(manifest)
	return d, err
}

func (pm *podman) playNoWait(manifest string) (time.Duration, error) {
	f := pm.manifestFile(manifest)
	start := time.Now()
	_, err := pm.run("kube", "play", "--network", "none", f)
	return time.Since(start), err
}

func (pm *podman) down(manifest string) {
	pm.run("kube", "play", "--down", pm.manifestFile(manifest))
}

func (pm *podman) rmi(ref string) { pm.run("rmi", "--force", ref) }

// --- numbers ---

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func metIf(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// durRow is a row of paired timings: medians, and the median of the
// run-by-run ratios podbox/peer, so that noise common to a pair cancels.
func durRow(what string, pb, peer []time.Duration, goal time.Duration) benchRow {
	r := benchRow{what: what, podbox: ms(median(pb)), peer: "-", ratio: "-", goal: "-"}
	if len(peer) > 0 {
		r.peer = "podman " + ms(median(peer))
		var ratios []float64
		for i := range min(len(pb), len(peer)) {
			if peer[i] > 0 {
				ratios = append(ratios, float64(pb[i])/float64(peer[i]))
			}
		}
		if len(ratios) > 0 {
			slices.Sort(ratios)
			r.ratio = fmt.Sprintf("%.2f", ratios[len(ratios)/2])
		}
	}
	if goal > 0 {
		r.goal = "≤ " + ms(goal)
		r.met = metIf(median(pb) <= goal)
	}
	return r
}
