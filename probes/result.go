package probes

import "fmt"

// Result is the outcome of a probe attempt or the published state of a
// probe. Handlers return Success, Warning, Failure or Unknown; workers
// publish Unknown (startup, before any probe), Success or Failure.
type Result int

const (
	// Unknown: the attempt could not decide (for a worker's published
	// result: nothing decided yet, the startup probe's initial value).
	Unknown Result = iota
	// Success: the probe passed.
	Success
	// Warning: the probe passed with something worth an event (an HTTP
	// redirect that was not followed). Workers treat it as Success and emit
	// a ProbeWarning event.
	Warning
	// Failure: the probe failed.
	Failure
)

// String returns the kubelet's lower-case spelling, which appears in the
// "errored and resulted in <result> state" event text.
func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Warning:
		return "warning"
	case Failure:
		return "failure"
	default:
		return "unknown"
	}
}

// Type is the kind of probe a worker runs.
type Type int

const (
	// Liveness probes restart a container that fails them.
	Liveness Type = iota
	// Readiness probes decide the container's ready bit.
	Readiness
	// Startup probes gate liveness and readiness until they succeed once.
	Startup
)

// String returns the capitalised name the kubelet puts at the start of its
// event messages ("Liveness probe failed: ...").
func (t Type) String() string {
	switch t {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	case Startup:
		return "Startup"
	default:
		return fmt.Sprintf("Type(%d)", int(t))
	}
}

// initialResult is what a worker publishes as soon as it sees a new
// container instance, before probing it: the kubelet starts readiness at
// Failure (not ready until proven), liveness at Success (alive until
// proven dead) and startup at Unknown (not started).
func (t Type) initialResult() Result {
	switch t {
	case Readiness:
		return Failure
	case Liveness:
		return Success
	default:
		return Unknown
	}
}

// Outcome is what one probe attempt produced.
type Outcome struct {
	// Result of the attempt. Meaningful also when Err is set: it is the
	// result the kubelet names in its "errored" event.
	Result Result
	// Output is the message the kubelet puts in events: the exec command's
	// output, an HTTP failure text, a dial error, a gRPC status.
	Output string
	// Err is a probe error, as opposed to a failure: the probe could not be
	// run (unknown named port, exec machinery failing). Workers retry an
	// attempt that errs, up to three times, and then discard it without
	// counting it towards a threshold, as the kubelet does.
	Err error
}

// Event reasons, as the kubelet records them.
const (
	// ReasonUnhealthy is the reason of the Warning event for a failed or
	// errored probe attempt.
	ReasonUnhealthy = "Unhealthy"
	// ReasonProbeWarning is the reason of the Warning event for an attempt
	// that succeeded with a warning.
	ReasonProbeWarning = "ProbeWarning"
)

// Event is a Warning event a worker asks the supervisor to record on the
// container. Workers emit one for every failed, warned or errored attempt,
// whether or not it changes the published result, as the kubelet does.
type Event struct {
	// Type of the probe that produced the event.
	Type Type
	// ContainerID is the container instance probed.
	ContainerID string
	// Reason is ReasonUnhealthy or ReasonProbeWarning.
	Reason string
	// Message is the full event message, for example
	// "Liveness probe failed: HTTP probe failed with statuscode: 500".
	Message string
}

// eventFor turns an attempt into the kubelet's event, if it warrants one.
func eventFor(t Type, id string, o Outcome) (Event, bool) {
	ev := Event{Type: t, ContainerID: id, Reason: ReasonUnhealthy}
	switch {
	case o.Err != nil:
		ev.Message = fmt.Sprintf("%s probe errored and resulted in %s state: %s", t, o.Result, o.Err)
	case o.Result == Warning:
		ev.Reason = ReasonProbeWarning
		ev.Message = fmt.Sprintf("%s probe warning: %s", t, o.Output)
	case o.Result == Failure:
		ev.Message = fmt.Sprintf("%s probe failed: %s", t, o.Output)
	default:
		// Success says nothing; Unknown fails silently in the kubelet.
		return Event{}, false
	}
	return ev, true
}

// Update is a change of a worker's published result.
type Update struct {
	// Type of the probe.
	Type Type
	// ContainerID is the instance the result is about. A result for an
	// instance other than the current one must be ignored.
	ContainerID string
	// Result is Success, Failure or (startup, initially) Unknown.
	//
	// As in the kubelet, a worker publishes Failure for a container that is
	// not running (it exited); that is information for the ready and
	// started bits, never a reason to kill. Act on a liveness or startup
	// Failure only while that very instance is running.
	Result Result
}

// KillMessage is the message of the Killing event and of the kill for a
// container that failed its liveness or startup probe, as the kubelet words
// it: "Container web failed liveness probe, will be restarted". restart is
// false when the restart policy will not start it again.
func KillMessage(container string, t Type, restart bool) string {
	kind := "liveness"
	if t == Startup {
		kind = "startup"
	}
	msg := fmt.Sprintf("Container %s failed %s probe", container, kind)
	if restart {
		msg += ", will be restarted"
	}
	return msg
}
