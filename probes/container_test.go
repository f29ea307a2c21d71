package probes

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"
)

// TestContainerProber runs startup, liveness and readiness together: the
// startup probe gates the other two, its success makes the container
// started and pokes readiness at once, and a restart starts over.
func TestContainerProber(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rounds := map[Type]chan struct{}{Startup: make(chan struct{}, 100), Liveness: make(chan struct{}, 100), Readiness: make(chan struct{}, 100)}
	var mu sync.Mutex
	state := ContainerState{}
	attempts := map[Type]int{}
	startupOK := false
	p := newContainerProber(ContainerConfig{
		Container: &v1.Container{
			Name:           "web",
			StartupProbe:   &v1.Probe{PeriodSeconds: 10, FailureThreshold: 30},
			LivenessProbe:  &v1.Probe{PeriodSeconds: 10},
			ReadinessProbe: &v1.Probe{PeriodSeconds: 10},
		},
		Clock: clk,
		State: func() ContainerState { mu.Lock(); defer mu.Unlock(); return state },
		Attempt: func(typ Type) AttemptFunc {
			return func(context.Context) Outcome {
				mu.Lock()
				defer mu.Unlock()
				attempts[typ]++
				if typ == Startup && !startupOK {
					return Outcome{Result: Failure, Output: "not yet"}
				}
				return Outcome{Result: Success}
			}
		},
	}, func(typ Type) { rounds[typ] <- struct{}{} })
	defer p.Stop()

	wait := func(types ...Type) {
		t.Helper()
		for _, typ := range types {
			select {
			case <-rounds[typ]:
			case <-time.After(10 * time.Second):
				t.Fatalf("no %v round", typ)
			}
		}
	}
	all := []Type{Startup, Liveness, Readiness}
	tick := func() { t.Helper(); clk.Step(10 * time.Second); wait(all...) }
	take := func() map[Type]int {
		mu.Lock()
		defer mu.Unlock()
		a := attempts
		attempts = map[Type]int{}
		return a
	}
	cur := func() ContainerState { mu.Lock(); defer mu.Unlock(); return state }

	wait(all...) // first rounds, no container yet
	mu.Lock()
	state = ContainerState{ID: "c1", Running: true, StartedAt: clk.Now()}
	mu.Unlock()

	tick()
	tick()
	if a := take(); a[Startup] != 2 || a[Liveness] != 0 || a[Readiness] != 0 {
		t.Fatalf("before startup succeeded: %v", a)
	}
	if p.Started(cur()) || p.Ready(cur()) {
		t.Fatal("started or ready before the startup probe succeeded")
	}

	// Startup succeeds (its own round, via Trigger, so that the other
	// workers' rounds do not race it): readiness is poked at once and the
	// container turns started and ready without waiting for a tick.
	mu.Lock()
	startupOK = true
	mu.Unlock()
	p.Worker(Startup).Trigger()
	wait(Startup, Readiness)
	if a := take(); a[Startup] != 1 || a[Readiness] != 1 || a[Liveness] != 0 {
		t.Fatalf("startup success round: %v", a)
	}
	if !p.Started(cur()) || !p.Ready(cur()) {
		t.Fatal("not started and ready after startup and readiness succeeded")
	}
	tick()
	if a := take(); a[Startup] != 0 || a[Liveness] != 1 || a[Readiness] != 1 {
		t.Fatalf("after startup: %v", a)
	}

	// A restart: startup gates again for the new instance.
	mu.Lock()
	state = ContainerState{ID: "c2", Running: true, StartedAt: clk.Now()}
	startupOK = false
	mu.Unlock()
	tick()
	if a := take(); a[Startup] != 1 || a[Liveness] != 0 || a[Readiness] != 0 {
		t.Fatalf("after restart: %v", a)
	}
	if p.Started(cur()) || p.Ready(cur()) {
		t.Fatal("new instance started or ready")
	}

	// Termination: liveness and startup stop, readiness goes on (and, as
	// in the kubelet, the startup gate goes with its worker).
	p.StopLivenessAndStartup()
	if p.Worker(Liveness) != nil || p.Worker(Startup) != nil || p.Worker(Readiness) == nil {
		t.Fatal("wrong workers left")
	}
	clk.Step(10 * time.Second)
	wait(Readiness)
	if a := take(); a[Startup] != 0 || a[Liveness] != 0 || a[Readiness] != 1 {
		t.Fatalf("terminating: %v", a)
	}
}

// A container without probes is started and ready as soon as it runs.
func TestContainerProberNoProbes(t *testing.T) {
	p := NewContainerProber(ContainerConfig{Container: &v1.Container{}, State: func() ContainerState { return ContainerState{} }})
	defer p.Stop()
	if !p.Ready(ContainerState{ID: "c", Running: true}) || p.Started(ContainerState{ID: "c"}) {
		t.Fatal("wrong started/ready without probes")
	}
}
