package gvisor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	testingclock "k8s.io/utils/clock/testing"

	"podbox.dev/podbox/sandbox"
)

// fakeStats serves usage by container ID; a missing ID is an error (an
// instance that is starting or gone).
type fakeStats struct {
	mu    sync.Mutex
	usage map[string]uint64
	calls int
}

func (f *fakeStats) Stats(sandboxID, id string) (sandbox.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	u, ok := f.usage[id]
	if !ok {
		return sandbox.Stats{}, errors.New("no such container")
	}
	if id == sandboxID {
		// As the sentry does: the pause container has no cgroup of its
		// own, so its "usage" is 0 whatever the pod uses.
		return sandbox.Stats{}, nil
	}
	return sandbox.Stats{MemoryBytes: u}, nil
}

// PodMemory serves the sentry's total, the usage of the sandbox's ID.
func (f *fakeStats) PodMemory(sandboxID string) (sandbox.SandboxMemory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	u, ok := f.usage[sandboxID]
	if !ok {
		return sandbox.SandboxMemory{}, errors.New("no such sandbox")
	}
	return sandbox.SandboxMemory{Total: u}, nil
}

func (f *fakeStats) set(id string, u uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage[id] = u
}

const mib = 1 << 20

func TestOOMVictims(t *testing.T) {
	a := memSample{name: "a", id: "a0", usage: 60 * mib, limit: 50 * mib}
	b := memSample{name: "b", id: "b0", usage: 40 * mib, limit: 50 * mib}
	c := memSample{name: "c", id: "c0", usage: 45 * mib, limit: 50 * mib}
	for _, tc := range []struct {
		name     string
		samples  []memSample
		pod, max uint64
		want     []string
	}{
		{"over its own limit", []memSample{a, b}, 100 * mib, 100 * mib, []string{"a"}},
		{"at the limit is fine", []memSample{{name: "x", usage: 50 * mib, limit: 50 * mib}}, 0, 0, nil},
		{"no limit, no kill", []memSample{{name: "x", usage: 1 << 40}}, 0, 0, nil},
		{"pod over its limit kills the biggest", []memSample{b, c}, 101 * mib, 100 * mib, []string{"c"}},
		{"pod within its limit", []memSample{b, c}, 99 * mib, 100 * mib, nil},
		{"own limit first, not also the biggest", []memSample{a, c}, 200 * mib, 100 * mib, []string{"a"}},
	} {
		var got []string
		for _, v := range oomVictims(tc.samples, tc.pod, tc.max) {
			got = append(got, v.name)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("%s: victims %v, want %v", tc.name, got, tc.want)
		}
	}
}

func withMemory(limit string) corev1.Container {
	c := corev1.Container{}
	if limit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}
	}
	return c
}

func TestPodMemoryLimit(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	side := withMemory("10Mi")
	side.RestartPolicy = &always
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want uint64
	}{
		{"sum of containers", corev1.PodSpec{Containers: []corev1.Container{withMemory("64Mi"), withMemory("32Mi")}}, 96 * mib},
		{"one without a limit: none", corev1.PodSpec{Containers: []corev1.Container{withMemory("64Mi"), withMemory("")}}, 0},
		{"bigger init container", corev1.PodSpec{InitContainers: []corev1.Container{withMemory("1Gi")}, Containers: []corev1.Container{withMemory("64Mi")}}, 1024 * mib},
		{"sidecars add up", corev1.PodSpec{InitContainers: []corev1.Container{side}, Containers: []corev1.Container{withMemory("64Mi")}}, 74 * mib},
	} {
		if got := podMemoryLimit(&tc.spec); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestMemoryWatcher drives the watcher on a fake clock: nothing happens
// between ticks, an instance over its limit is killed once (not again while
// it dies), and its replacement is watched afresh.
func TestMemoryWatcher(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	stats := &fakeStats{usage: map[string]uint64{"sb": 15 * mib, "hog-0": 5 * mib, "calm-0": 5 * mib}}
	var mu sync.Mutex
	instances := []memSample{{name: "hog", id: "hog-0", limit: 20 * mib}, {name: "calm", id: "calm-0", limit: 20 * mib}}
	var kills []string
	killed := make(chan struct{}, 10)
	w := &memoryWatcher{
		clock: clk, stats: stats, sandboxID: "sb", podLimit: 40 * mib,
		running: func() []memSample { mu.Lock(); defer mu.Unlock(); return append([]memSample(nil), instances...) },
		kill: func(s memSample, _ string) {
			mu.Lock()
			kills = append(kills, s.id)
			mu.Unlock()
			killed <- struct{}{}
		},
		killed: map[string]bool{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx, time.Second, 4*time.Second); close(done) }()
	defer func() { cancel(); <-done }()

	// tick advances the clock and waits until the sample has made calls
	// stats calls.
	tick := func(step time.Duration, calls int) {
		t.Helper()
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		before := stats.callCount()
		clk.Step(step)
		for stats.callCount() < before+calls {
			time.Sleep(time.Millisecond)
		}
	}
	tick(time.Second, 3) // both instances and the pod; far from the limits
	if len(kills) != 0 {
		t.Fatalf("killed %v within limits", kills)
	}
	// Far from every limit, the next sample is a slow period away.
	clk.Step(time.Second)
	time.Sleep(20 * time.Millisecond) // a wrong sample would have happened by now
	if n := stats.callCount(); n != 3 {
		t.Fatalf("sampled again after a fast period while idle (%d calls)", n)
	}
	tick(3*time.Second, 3)
	if len(kills) != 0 {
		t.Fatalf("killed %v within limits", kills)
	}
	stats.set("hog-0", 25*mib)
	tick(4*time.Second, 3)
	<-killed
	tick(time.Second, 2) // near the limit: fast; still dying: not read, not killed again
	mu.Lock()
	if len(kills) != 1 || kills[0] != "hog-0" {
		t.Fatalf("kills %v, want [hog-0] once", kills)
	}
	// The restarted instance starts small and is watched again.
	instances[0] = memSample{name: "hog", id: "hog-1", limit: 20 * mib}
	mu.Unlock()
	stats.set("hog-1", 21*mib)
	tick(4*time.Second, 3)
	<-killed
	mu.Lock()
	defer mu.Unlock()
	if len(kills) != 2 || kills[1] != "hog-1" || w.killed["hog-0"] {
		t.Errorf("kills %v (state %v), want hog-1 killed and hog-0 forgotten", kills, w.killed)
	}
}

func (f *fakeStats) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestMemoryWatcherPodTotal: memory that belongs to no live container (left
// by one that exited) counts towards the pod's limit: with every container
// under its own limit and the sentry's total over the pod's, the biggest
// container is killed, with the pod's usage in the reason.
func TestMemoryWatcherPodTotal(t *testing.T) {
	stats := &fakeStats{usage: map[string]uint64{"sb": 70 * mib, "a-0": 15 * mib, "b-0": 18 * mib}}
	var reasons []string
	var kills []string
	w := &memoryWatcher{
		stats: stats, sandboxID: "sb", podLimit: 40 * mib,
		running: func() []memSample {
			return []memSample{{name: "a", id: "a-0", limit: 20 * mib}, {name: "b", id: "b-0", limit: 20 * mib}}
		},
		kill:   func(s memSample, reason string) { kills = append(kills, s.id); reasons = append(reasons, reason) },
		killed: map[string]bool{},
	}
	if hot := w.sample(); !hot || len(kills) != 1 || kills[0] != "b-0" {
		t.Fatalf("kills %v (hot %v), want the biggest, b-0, killed for the pod's total", kills, hot)
	}
	if want := "Memory cgroup out of memory: killed container b, the largest (usage 18874368 bytes), pod usage 73400320 bytes over the pod's limit 41943040 bytes"; reasons[0] != want {
		t.Errorf("reason %q\nwant %q", reasons[0], want)
	}
	stats.set("sb", 35*mib)
	w.killed = map[string]bool{}
	kills = nil
	if w.sample(); len(kills) != 0 {
		t.Errorf("killed %v with the pod within its limit", kills)
	}
}
