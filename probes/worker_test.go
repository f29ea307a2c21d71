package probes

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"
)

// harness drives one worker on a fake clock. Every round of the worker is
// reported on rounds, so tests step the clock and wait for exactly one
// round without sleeping.
type harness struct {
	t      *testing.T
	clk    *testingclock.FakeClock
	w      *Worker
	rounds chan struct{}

	mu       sync.Mutex
	state    ContainerState
	outcomes []Outcome // consumed one per attempt; the last one repeats
	attempts int
	updates  []Update
	events   []Event
}

func newHarness(t *testing.T, typ Type, p *v1.Probe, never bool) *harness {
	h := &harness{t: t, clk: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), rounds: make(chan struct{}, 100)}
	h.w = newWorker(WorkerConfig{
		Type: typ, Probe: p, NeverRestarted: never, Clock: h.clk,
		State: func() ContainerState { h.mu.Lock(); defer h.mu.Unlock(); return h.state },
		Attempt: func(context.Context) Outcome {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.attempts++
			if len(h.outcomes) == 0 {
				return Outcome{Result: Success}
			}
			o := h.outcomes[0]
			if len(h.outcomes) > 1 {
				h.outcomes = h.outcomes[1:]
			}
			return o
		},
		OnResult: func(u Update) { h.mu.Lock(); h.updates = append(h.updates, u); h.mu.Unlock() },
		OnEvent:  func(e Event) { h.mu.Lock(); h.events = append(h.events, e); h.mu.Unlock() },
	}, func() { h.rounds <- struct{}{} })
	t.Cleanup(h.w.Stop)
	h.round() // the first round runs at once
	return h
}

func (h *harness) round() {
	h.t.Helper()
	select {
	case <-h.rounds:
	case <-time.After(10 * time.Second): // a hang guard, not a timing assumption
		h.t.Fatal("worker did not run a round")
	}
}

// tick advances the clock by d (one period at most) and waits for the round.
func (h *harness) tick(d time.Duration) { h.t.Helper(); h.clk.Step(d); h.round() }

func (h *harness) set(f func(s *ContainerState)) { h.mu.Lock(); f(&h.state); h.mu.Unlock() }

func (h *harness) script(o ...Outcome) { h.mu.Lock(); h.outcomes = o; h.mu.Unlock() }

// take returns and clears what the worker reported since the last take.
func (h *harness) take() (attempts int, updates []Update, events []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	attempts, updates, events = h.attempts, h.updates, h.events
	h.attempts, h.updates, h.events = 0, nil, nil
	return
}

func (h *harness) running(id string) {
	h.set(func(s *ContainerState) {
		*s = ContainerState{ID: id, Running: true, StartedAt: h.clk.Now(), Started: s.Started}
	})
}

var (
	ok   = Outcome{Result: Success}
	fail = Outcome{Result: Failure, Output: "boom"}
)

func results(us []Update) []Result {
	var rs []Result
	for _, u := range us {
		rs = append(rs, u.Result)
	}
	return rs
}

func eq(a, b []Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWorkerInitialResults(t *testing.T) {
	for _, tc := range []struct {
		typ  Type
		want Result
	}{{Readiness, Failure}, {Liveness, Success}, {Startup, Unknown}} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			h := newHarness(t, tc.typ, &v1.Probe{InitialDelaySeconds: 100}, false)
			if n, us, _ := h.take(); n != 0 || len(us) != 0 {
				t.Fatalf("before a container: %d attempts, updates %v", n, us)
			}
			if _, _, ok := h.w.Result(); ok {
				t.Fatal("result before a container")
			}
			h.running("c1")
			h.tick(10 * time.Second)
			_, us, _ := h.take()
			if len(us) != 1 || us[0] != (Update{Type: tc.typ, ContainerID: "c1", Result: tc.want}) {
				t.Fatalf("updates %v", us)
			}
			if id, r, ok := h.w.Result(); !ok || id != "c1" || r != tc.want {
				t.Fatalf("Result() = %q %v %v", id, r, ok)
			}
		})
	}
}

func TestWorkerInitialDelay(t *testing.T) {
	h := newHarness(t, Readiness, &v1.Probe{InitialDelaySeconds: 15, PeriodSeconds: 10}, false)
	h.set(func(s *ContainerState) { s.Started = true })
	h.running("c1")
	h.tick(10 * time.Second) // 10 s after start: too early
	if n, _, _ := h.take(); n != 0 {
		t.Fatalf("probed %d times within the initial delay", n)
	}
	h.tick(10 * time.Second) // 20 s: first probe
	if n, us, _ := h.take(); n != 1 || !eq(results(us), []Result{Success}) {
		t.Fatalf("at 20 s: %d attempts, updates %v", n, results(us))
	}
}

func TestWorkerLivenessThreshold(t *testing.T) {
	h := newHarness(t, Liveness, &v1.Probe{PeriodSeconds: 10, FailureThreshold: 3}, false)
	h.script(fail, fail, ok, fail, fail, fail)
	h.set(func(s *ContainerState) { s.Started = true })
	h.running("c1")
	for i := 0; i < 5; i++ {
		h.tick(10 * time.Second)
	}
	n, us, evs := h.take()
	if n != 5 || !eq(results(us), []Result{Success}) || len(evs) != 4 {
		t.Fatalf("after F F S F F: %d attempts, updates %v, %d events", n, results(us), len(evs))
	}
	if evs[0] != (Event{Type: Liveness, ContainerID: "c1", Reason: "Unhealthy", Message: "Liveness probe failed: boom"}) {
		t.Errorf("event %+v", evs[0])
	}
	h.tick(10 * time.Second) // third consecutive failure
	if _, us, _ := h.take(); !eq(results(us), []Result{Failure}) {
		t.Fatalf("after the 3rd consecutive failure: %v", results(us))
	}
	// On hold until a new instance: no more probing of c1.
	h.tick(10 * time.Second)
	h.tick(10 * time.Second)
	if n, us, _ := h.take(); n != 0 || len(us) != 0 {
		t.Fatalf("on hold: %d attempts, %v", n, us)
	}
	// Restart: a new instance resets to the initial value and probes again.
	h.script(ok)
	h.running("c2")
	h.tick(10 * time.Second)
	if n, us, _ := h.take(); n != 1 || len(us) != 1 || us[0] != (Update{Type: Liveness, ContainerID: "c2", Result: Success}) {
		t.Fatalf("after restart: %d attempts, %v", n, us)
	}
}

func TestWorkerReadinessThresholdsAndChangesOnly(t *testing.T) {
	h := newHarness(t, Readiness, &v1.Probe{PeriodSeconds: 1, SuccessThreshold: 2, FailureThreshold: 2}, false)
	h.set(func(s *ContainerState) { s.Started = true })
	h.script(ok, ok, ok, ok, fail, ok, fail, fail, fail, ok, ok)
	h.running("c1")
	var got []Result
	for i := 0; i < 11; i++ {
		h.tick(time.Second)
		_, us, _ := h.take()
		got = append(got, results(us)...)
	}
	// Initial Failure; Success after 2 successes (once, not per success);
	// a lone failure changes nothing; Failure after 2 failures; readiness
	// is never put on hold, so it comes back after 2 successes.
	if want := []Result{Failure, Success, Failure, Success}; !eq(got, want) {
		t.Fatalf("updates %v, want %v", got, want)
	}
}

func TestWorkerStartupGating(t *testing.T) {
	t.Run("liveness waits for started", func(t *testing.T) {
		h := newHarness(t, Liveness, &v1.Probe{PeriodSeconds: 10}, false)
		h.running("c1")
		h.tick(10 * time.Second)
		if n, _, _ := h.take(); n != 0 {
			t.Fatalf("liveness probed %d times before started", n)
		}
		h.set(func(s *ContainerState) { s.Started = true })
		h.tick(10 * time.Second)
		if n, _, _ := h.take(); n != 1 {
			t.Fatalf("liveness probed %d times once started", n)
		}
	})
	t.Run("startup stops once started", func(t *testing.T) {
		h := newHarness(t, Startup, &v1.Probe{PeriodSeconds: 10}, false)
		h.running("c1")
		h.tick(10 * time.Second)
		if n, us, _ := h.take(); n != 1 || !eq(results(us), []Result{Unknown, Success}) {
			t.Fatalf("startup: %d attempts, %v", n, results(us))
		}
		h.set(func(s *ContainerState) { s.Started = true })
		h.tick(10 * time.Second)
		if n, _, _ := h.take(); n != 0 {
			t.Fatalf("startup probed %d times after started", n)
		}
	})
	t.Run("startup failure holds until restart", func(t *testing.T) {
		h := newHarness(t, Startup, &v1.Probe{PeriodSeconds: 1, FailureThreshold: 2}, false)
		h.script(fail)
		h.running("c1")
		for i := 0; i < 4; i++ {
			h.tick(time.Second)
		}
		if n, us, evs := h.take(); n != 2 || !eq(results(us), []Result{Unknown, Failure}) || len(evs) != 2 || evs[1].Message != "Startup probe failed: boom" {
			t.Fatalf("%d attempts, %v, %v", n, results(us), evs)
		}
	})
}

func TestWorkerErrorsAndWarnings(t *testing.T) {
	h := newHarness(t, Liveness, &v1.Probe{PeriodSeconds: 1, FailureThreshold: 1}, false)
	h.set(func(s *ContainerState) { s.Started = true })
	h.running("c1")
	h.script(Outcome{Result: Unknown, Err: errors.New(`strconv.Atoi: parsing "web": invalid syntax`)})
	h.tick(time.Second)
	n, us, evs := h.take()
	// Retried three times, then thrown away: no Failure, despite threshold 1.
	if n != 3 || !eq(results(us), []Result{Success}) || len(evs) != 1 ||
		evs[0].Message != `Liveness probe errored and resulted in unknown state: strconv.Atoi: parsing "web": invalid syntax` {
		t.Fatalf("errored: %d attempts, %v, %+v", n, results(us), evs)
	}
	h.script(Outcome{Result: Unknown, Err: errors.New("flake")}, ok)
	h.tick(time.Second)
	if n, _, evs := h.take(); n != 2 || len(evs) != 0 {
		t.Fatalf("error then success: %d attempts, events %v", n, evs)
	}
	h.script(Outcome{Result: Warning, Output: "Probe terminated redirects, Response body: x"})
	h.tick(time.Second)
	if _, us, evs := h.take(); len(us) != 0 || len(evs) != 1 ||
		evs[0] != (Event{Type: Liveness, ContainerID: "c1", Reason: "ProbeWarning", Message: "Liveness probe warning: Probe terminated redirects, Response body: x"}) {
		t.Fatalf("warning: %v %+v", us, evs)
	}
	h.script(Outcome{Result: Unknown})
	h.tick(time.Second)
	if _, us, evs := h.take(); !eq(results(us), []Result{Failure}) || len(evs) != 0 {
		t.Fatalf("unknown: %v %+v", results(us), evs)
	}
}

func TestWorkerContainerNotRunning(t *testing.T) {
	t.Run("restartable: failure, keeps going", func(t *testing.T) {
		h := newHarness(t, Liveness, &v1.Probe{PeriodSeconds: 1}, false)
		h.set(func(s *ContainerState) { *s = ContainerState{ID: "c1", Terminated: true} })
		h.tick(time.Second)
		if _, us, _ := h.take(); !eq(results(us), []Result{Success, Failure}) {
			t.Fatalf("updates %v", results(us))
		}
		h.tick(time.Second)
		select {
		case <-h.w.Done():
			t.Fatal("worker ended")
		default:
		}
	})
	t.Run("never restarted: worker ends", func(t *testing.T) {
		h := newHarness(t, Readiness, &v1.Probe{PeriodSeconds: 1}, true)
		h.set(func(s *ContainerState) { *s = ContainerState{ID: "c1", Terminated: true} })
		h.tick(time.Second)
		<-h.w.Done()
		if _, _, ok := h.w.Result(); ok {
			t.Fatal("result kept after the worker ended")
		}
	})
	t.Run("pod finished: worker ends", func(t *testing.T) {
		h := newHarness(t, Readiness, &v1.Probe{PeriodSeconds: 1}, false)
		h.set(func(s *ContainerState) { s.PodFinished = true })
		h.tick(time.Second)
		<-h.w.Done()
	})
}

func TestWorkerPodTerminating(t *testing.T) {
	for _, tc := range []struct {
		typ   Type
		stops bool
	}{{Liveness, true}, {Startup, true}, {Readiness, false}} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			h := newHarness(t, tc.typ, &v1.Probe{PeriodSeconds: 1}, false)
			h.set(func(s *ContainerState) { s.Started = tc.typ != Startup })
			h.running("c1")
			h.set(func(s *ContainerState) { s.PodTerminating = true })
			h.script(fail)
			h.tick(time.Second)
			n, us, _ := h.take()
			select {
			case <-h.w.Done():
				if !tc.stops || n != 0 || us[len(us)-1].Result != Success {
					t.Fatalf("stopped: %d attempts, %v", n, results(us))
				}
			default:
				if tc.stops || n != 1 {
					t.Fatalf("still running: %d attempts", n)
				}
			}
		})
	}
}

func TestWorkerTriggerAndStop(t *testing.T) {
	h := newHarness(t, Readiness, &v1.Probe{PeriodSeconds: 10}, false)
	h.set(func(s *ContainerState) { s.Started = true })
	h.running("c1")
	h.w.Trigger() // no clock step: the round comes from the trigger
	h.round()
	if n, us, _ := h.take(); n != 1 || !eq(results(us), []Result{Failure, Success}) {
		t.Fatalf("triggered: %d attempts, %v", n, results(us))
	}

	// Stop cancels an attempt in flight, and nothing is reported after.
	inFlight := make(chan struct{})
	w := newWorker(WorkerConfig{Type: Liveness, Probe: &v1.Probe{}, Clock: h.clk,
		State: func() ContainerState { return ContainerState{ID: "x", Running: true, Started: true} },
		Attempt: func(ctx context.Context) Outcome {
			close(inFlight)
			<-ctx.Done()
			return Outcome{Result: Failure, Output: "late"}
		},
		OnEvent: func(e Event) { t.Errorf("event after Stop: %+v", e) },
	}, nil)
	<-inFlight
	w.Stop()
	w.Stop()
}

// The attempt a worker makes by itself (no Attempt override) is bounded by
// timeoutSeconds: the exec function sees that deadline. (What happens when
// an exec outlives it is TestExecHandler's "timeout" cases, on a short real
// timeout, since handler timeouts run on real time as the kubelet's do.)
func TestWorkerTimeout(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	deadlines := make(chan time.Duration, 1)
	updates := make(chan Update, 10)
	events := make(chan Event, 10)
	w := NewWorker(WorkerConfig{
		Type: Liveness, Probe: &v1.Probe{TimeoutSeconds: 7, FailureThreshold: 1,
			ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}}},
		Clock: clk,
		State: func() ContainerState {
			return ContainerState{ID: "c1", Running: true, Started: true, StartedAt: clk.Now()}
		},
		Target: func() Target {
			return Target{Exec: func(ctx context.Context, _ []string) ([]byte, int, error) {
				d, _ := ctx.Deadline()
				select {
				case deadlines <- time.Until(d):
				default:
				}
				return []byte("unhealthy\n"), 1, nil
			}}
		},
		OnResult: func(u Update) { updates <- u },
		OnEvent:  func(e Event) { events <- e },
	})
	defer w.Stop()
	if d := <-deadlines; d <= 6*time.Second || d > 7*time.Second {
		t.Fatalf("attempt deadline %v, want 7s", d)
	}
	if e := <-events; e.Message != "Liveness probe failed: unhealthy\n" {
		t.Fatalf("event %q", e.Message)
	}
	if u := <-updates; u.Result != Success {
		t.Fatalf("first update %v", u)
	}
	if u := <-updates; u.Result != Failure {
		t.Fatalf("second update %v", u)
	}
	if s, ok := w.TerminationGracePeriod(); ok {
		t.Errorf("grace %d without a probe-level value", s)
	}
}
