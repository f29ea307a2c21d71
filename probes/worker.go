package probes

import (
	"context"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// maxRetries is how many times an attempt that errs (as opposed to fails)
// is tried before the worker gives up on it for this period.
const maxRetries = 3

// ContainerState is the supervisor's view of the probed container, which a
// worker reads before every attempt (as the kubelet's worker reads the
// status manager).
type ContainerState struct {
	// ID identifies the container instance; "" while none exists yet (the
	// worker waits). A new ID is a new instance: the worker resets.
	ID string
	// Running is true while the instance runs; StartedAt is when it
	// started, on the worker's clock (initial delay counts from it).
	Running   bool
	StartedAt time.Time
	// Terminated is true once the instance has exited.
	Terminated bool
	// Started is the container's started bit: its startup probe has
	// succeeded, or it has none. Liveness and readiness wait for it; the
	// startup worker stops probing once it is set. ContainerProber fills
	// it in; a supervisor driving workers itself must do so.
	Started bool
	// PodTerminating is true once the pod is being deleted: liveness and
	// startup workers then publish Success and stop, readiness goes on.
	PodTerminating bool
	// PodFinished is true once the pod is Succeeded or Failed: every
	// worker stops.
	PodFinished bool
}

// AttemptFunc runs one probe attempt. Workers call it up to three times in a
// row while it returns an Outcome with Err set.
type AttemptFunc func(ctx context.Context) Outcome

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Type of probe.
	Type Type
	// Probe is the container's probe of that type.
	Probe *v1.Probe
	// NeverRestarted: once the container has terminated it will not be
	// started again (pod restartPolicy Never, and not a sidecar), so the
	// worker stops then, as the kubelet's does.
	NeverRestarted bool
	// Clock drives the schedule; nil means the real clock.
	Clock clock.WithTicker
	// State reports the container; required.
	State func() ContainerState
	// Target is read before every attempt to build the handler (the pod IP
	// may change between instances). Unused when Attempt is set.
	Target func() Target
	// Attempt replaces the handler built from Probe and Target; for tests
	// and for callers with handlers of their own.
	Attempt AttemptFunc
	// OnResult is called from the worker's goroutine whenever the
	// published result changes (including the initial value for each new
	// container instance). It must not call Stop of this worker.
	OnResult func(Update)
	// OnEvent is called from the worker's goroutine for every attempt that
	// fails, warns or errs. It must not call Stop of this worker.
	OnEvent func(Event)
}

// Worker probes one container with one probe, on a period, publishing
// results as the kubelet's prober worker does. It starts at NewWorker and
// runs until Stop, the pod finishing, or (NeverRestarted) the container
// terminating.
type Worker struct {
	cfg     WorkerConfig
	timing  Timing
	clock   clock.WithTicker
	attempt AttemptFunc

	trigger chan struct{}
	stopped chan struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	stop    sync.Once

	mu        sync.Mutex
	resultID  string // instance the published result is about; "" none
	published Result

	// Owned by the worker goroutine.
	containerID string
	onHold      bool
	lastResult  Result
	resultRun   int

	// afterProbe, when set (tests), runs after every round of the loop, so
	// that tests can step a fake clock and know when the worker is done.
	afterProbe func()
}

// NewWorker starts a worker. Its first round runs at once; later rounds
// follow every Period from then (not from the container's start), the
// initial delay only suppressing rounds that come too early.
func NewWorker(cfg WorkerConfig) *Worker {
	return newWorker(cfg, nil)
}

func newWorker(cfg WorkerConfig, afterProbe func()) *Worker {
	w := &Worker{
		cfg:        cfg,
		timing:     TimingOf(cfg.Probe),
		clock:      cfg.Clock,
		attempt:    cfg.Attempt,
		trigger:    make(chan struct{}, 1),
		stopped:    make(chan struct{}),
		done:       make(chan struct{}),
		afterProbe: afterProbe,
	}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	if w.attempt == nil {
		w.attempt = func(ctx context.Context) Outcome {
			var t Target
			if cfg.Target != nil {
				t = cfg.Target()
			}
			h, err := NewHandler(cfg.Probe, t)
			if err != nil {
				return Outcome{Result: Unknown, Err: err}
			}
			return h.Probe(ctx)
		}
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	// The ticker is made before the goroutine starts so that a fake clock
	// stepped right after NewWorker returns already drives it.
	ticker := w.clock.NewTicker(w.timing.Period)
	go w.run(ticker)
	return w
}

// Type is the worker's probe type.
func (w *Worker) Type() Type { return w.cfg.Type }

// Timing is the worker's schedule and thresholds, defaults applied.
func (w *Worker) Timing() Timing { return w.timing }

// TerminationGracePeriod is the probe-level terminationGracePeriodSeconds
// for a liveness or startup kill, if the probe sets it (readiness probes
// may not). See KillGracePeriod for the full choice.
func (w *Worker) TerminationGracePeriod() (seconds int64, ok bool) {
	if w.cfg.Type == Readiness || w.cfg.Probe.TerminationGracePeriodSeconds == nil {
		return 0, false
	}
	return *w.cfg.Probe.TerminationGracePeriodSeconds, true
}

// Result is the published result and the container instance it is about;
// ok is false before the worker has seen any instance (and after it
// stopped, when its result is withdrawn).
func (w *Worker) Result() (containerID string, r Result, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.resultID, w.published, w.resultID != ""
}

// Trigger asks for a round now rather than at the next tick (the kubelet
// does this for readiness when a started container is not ready yet). A
// trigger while one is pending is merged into it.
func (w *Worker) Trigger() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// Stop ends the worker, cancelling an attempt in flight, and waits for it:
// no callback runs after Stop returns. It must not be called from the
// worker's own callbacks (use go w.Stop() there). Stopping twice is fine.
func (w *Worker) Stop() {
	w.stop.Do(func() {
		close(w.stopped)
		w.cancel()
	})
	<-w.done
}

// Done is closed once the worker has ended, by Stop or on its own.
func (w *Worker) Done() <-chan struct{} { return w.done }

func (w *Worker) run(ticker clock.Ticker) {
	defer close(w.done)
	defer ticker.Stop()
	defer w.withdraw()
	for {
		keep := w.round()
		if w.afterProbe != nil {
			w.afterProbe()
		}
		if !keep {
			return
		}
		select {
		case <-w.stopped:
			return
		case <-ticker.C():
		case <-w.trigger:
		}
	}
}

// isStopped reports whether Stop has been called.
func (w *Worker) isStopped() bool {
	select {
	case <-w.stopped:
		return true
	default:
		return false
	}
}

// round is one pass of the kubelet's worker: look at the container, decide
// whether to probe, probe, count, publish. It returns false when the worker
// should end.
func (w *Worker) round() bool {
	if w.isStopped() {
		return false
	}
	s := w.cfg.State()
	if s.PodFinished {
		return false
	}
	if s.ID == "" {
		return true // not created yet
	}
	if s.ID != w.containerID {
		// A new instance: forget the old one's result and counts, publish
		// the initial value, and resume probing if on hold.
		w.containerID = s.ID
		w.onHold = false
		w.lastResult, w.resultRun = Unknown, 0
		w.publish(w.cfg.Type.initialResult())
	}
	if w.onHold {
		// After a liveness or startup failure the container is being
		// killed; nothing to learn until the next instance.
		return true
	}
	if !s.Running {
		w.publish(Failure)
		return !(s.Terminated && w.cfg.NeverRestarted)
	}
	if s.PodTerminating && w.cfg.Type != Readiness {
		// Liveness and startup must not kill a container that is already
		// being stopped; readiness goes on so the pod can go NotReady.
		w.publish(Success)
		return false
	}
	if w.clock.Since(s.StartedAt) < w.timing.InitialDelay {
		return true
	}
	if s.Started == (w.cfg.Type == Startup) {
		// Startup probing is over once started; the others wait for it.
		return true
	}

	var o Outcome
	for i := 0; i < maxRetries; i++ {
		o = w.attempt(w.ctx)
		if o.Err == nil || w.isStopped() {
			break
		}
	}
	if w.isStopped() {
		return false
	}
	if ev, ok := eventFor(w.cfg.Type, s.ID, o); ok && w.cfg.OnEvent != nil {
		w.cfg.OnEvent(ev)
	}
	if o.Err != nil {
		return true // an errored attempt is thrown away, not counted
	}
	result := Failure
	if o.Result == Success || o.Result == Warning {
		result = Success
	}

	if result == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult, w.resultRun = result, 1
	}
	if (result == Failure && w.resultRun < w.timing.FailureThreshold) ||
		(result == Success && w.resultRun < w.timing.SuccessThreshold) {
		return true
	}
	w.publish(result)
	if result == Failure && w.cfg.Type != Readiness {
		// The container is going to be killed; stop probing it, and start
		// counting afresh should it somehow keep running.
		w.onHold = true
		w.resultRun = 0
	}
	return true
}

// publish sets the result for the current instance and reports a change.
func (w *Worker) publish(r Result) {
	w.mu.Lock()
	changed := w.resultID != w.containerID || w.published != r
	w.resultID, w.published = w.containerID, r
	w.mu.Unlock()
	if changed && w.cfg.OnResult != nil {
		w.cfg.OnResult(Update{Type: w.cfg.Type, ContainerID: w.containerID, Result: r})
	}
}

// withdraw drops the published result when the worker ends, as the kubelet
// removes a stopped worker's results.
func (w *Worker) withdraw() {
	w.mu.Lock()
	w.resultID, w.published = "", Unknown
	w.mu.Unlock()
}
