package probes

import (
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// ContainerConfig configures a ContainerProber.
type ContainerConfig struct {
	// Container is the spec whose startupProbe, livenessProbe and
	// readinessProbe are run.
	Container *v1.Container
	// NeverRestarted: see WorkerConfig.
	NeverRestarted bool
	// Clock drives the workers; nil means the real clock.
	Clock clock.WithTicker
	// State reports the container; its Started field is ignored and
	// computed here from the startup probe.
	State func() ContainerState
	// Target is read before every attempt; see WorkerConfig.
	Target func() Target
	// Attempt, if set, replaces the handlers (tests); it is given the type.
	Attempt func(Type) AttemptFunc
	// OnResult and OnEvent receive every worker's results and events; see
	// WorkerConfig for the rules.
	OnResult func(Update)
	OnEvent  func(Event)
}

// ContainerProber runs the probes of one container and gates liveness and
// readiness on the startup probe, as the kubelet's probe manager does.
type ContainerProber struct {
	cfg ContainerConfig

	mu      sync.Mutex
	workers map[Type]*Worker
}

// NewContainerProber starts a worker for each probe the container has.
// Call it when the pod is admitted (its workers wait for the container).
func NewContainerProber(cfg ContainerConfig) *ContainerProber {
	return newContainerProber(cfg, nil)
}

func newContainerProber(cfg ContainerConfig, afterProbe func(Type)) *ContainerProber {
	p := &ContainerProber{cfg: cfg, workers: map[Type]*Worker{}}
	// Registered under the lock, so that a worker's first round, which
	// asks about the startup worker, sees the full set.
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range []Type{Startup, Liveness, Readiness} {
		probe := probeOf(cfg.Container, t)
		if probe == nil {
			continue
		}
		wc := WorkerConfig{
			Type:           t,
			Probe:          probe,
			NeverRestarted: cfg.NeverRestarted,
			Clock:          cfg.Clock,
			State:          p.state,
			Target:         cfg.Target,
			OnResult:       p.onResult,
			OnEvent:        cfg.OnEvent,
		}
		if cfg.Attempt != nil {
			wc.Attempt = cfg.Attempt(t)
		}
		var hook func()
		if afterProbe != nil {
			hook = func() { afterProbe(t) }
		}
		p.workers[t] = newWorker(wc, hook)
	}
	return p
}

func probeOf(c *v1.Container, t Type) *v1.Probe {
	switch t {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	default:
		return c.StartupProbe
	}
}

// Worker is the worker for probe type t, or nil if the container has no
// such probe or it was stopped.
func (p *ContainerProber) Worker(t Type) *Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers[t]
}

// state is what the workers read: the supervisor's view plus Started.
func (p *ContainerProber) state() ContainerState {
	s := p.cfg.State()
	s.Started = p.Started(s)
	return s
}

// onResult forwards a worker's update, and when startup succeeds pokes
// readiness so the container can turn ready without waiting a period (the
// kubelet gets the same effect from its status update).
func (p *ContainerProber) onResult(u Update) {
	if p.cfg.OnResult != nil {
		p.cfg.OnResult(u)
	}
	if u.Type == Startup && u.Result == Success {
		if w := p.Worker(Readiness); w != nil {
			w.Trigger()
		}
	}
}

// Started is the container's started bit for state s, as the kubelet's
// status shows it: false unless running; with a startup probe, true once
// it succeeded for this instance; without one (or once its worker is
// stopped), true.
func (p *ContainerProber) Started(s ContainerState) bool {
	if !s.Running || s.ID == "" {
		return false
	}
	w := p.Worker(Startup)
	if w == nil {
		return true
	}
	id, r, ok := w.Result()
	return ok && id == s.ID && r == Success
}

// Ready is the container's ready bit for state s: running, started, and
// either no readiness probe or its result Success for this instance. As
// in the kubelet, asking about a started container that is not ready yet
// triggers a readiness round, so call it whenever status is computed.
func (p *ContainerProber) Ready(s ContainerState) bool {
	if !p.Started(s) {
		return false
	}
	w := p.Worker(Readiness)
	if w == nil {
		return true
	}
	if id, r, ok := w.Result(); ok && id == s.ID && r == Success {
		return true
	}
	w.Trigger()
	return false
}

// StopLivenessAndStartup stops the liveness and startup workers, for a pod
// that is terminating; readiness keeps running. It waits for them, so no
// liveness or startup result arrives after it returns.
func (p *ContainerProber) StopLivenessAndStartup() {
	p.stop(Liveness, Startup)
}

// Stop stops every worker and waits for them.
func (p *ContainerProber) Stop() {
	p.stop(Startup, Liveness, Readiness)
}

func (p *ContainerProber) stop(types ...Type) {
	var ws []*Worker
	p.mu.Lock()
	for _, t := range types {
		if w := p.workers[t]; w != nil {
			ws = append(ws, w)
			delete(p.workers, t)
		}
	}
	p.mu.Unlock()
	// Outside the lock: a worker finishing its round may still ask
	// Started, which takes the lock.
	for _, w := range ws {
		w.Stop()
	}
}
