package supervisor

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerRecord is what the supervisor knows about the current instance of
// one container. The API status is derived from it (containerStatus).
type containerRecord struct {
	Name string `json:"name"`
	// Kind is "" for an app container, kindInit for a regular init
	// container, kindSidecar for a native sidecar (an init container with
	// restartPolicy Always).
	Kind         string `json:"kind,omitempty"`
	Image        string `json:"image"`
	ImageID      string `json:"imageID,omitempty"`
	ContainerID  string `json:"containerID,omitempty"`
	RestartCount int32  `json:"restartCount"`

	// Exactly one of the three states holds: waiting (neither Running nor
	// Terminated), running, or terminated.
	WaitingReason  string    `json:"waitingReason,omitempty"`
	WaitingMessage string    `json:"waitingMessage,omitempty"`
	Running        bool      `json:"running,omitempty"`
	Terminated     bool      `json:"terminated,omitempty"`
	ExitCode       int32     `json:"exitCode,omitempty"`
	Reason         string    `json:"reason,omitempty"` // terminated reason
	StartedAt      time.Time `json:"startedAt,omitzero"`
	FinishedAt     time.Time `json:"finishedAt,omitzero"`
	Message        string    `json:"message,omitempty"` // terminated message

	// Last is the previous instance, once the container has restarted.
	Last *terminatedInstance `json:"last,omitempty"`

	// Probes: whether the container has a readiness and a startup probe
	// (from its spec), and what they last said about the current instance.
	// Backoff is the crash loop back-off after the last restart and
	// BackoffAt when it was set, kept so a supervisor that adopts the pod
	// after a crash goes on with it.
	Backoff   time.Duration `json:"backoff,omitempty"`
	BackoffAt time.Time     `json:"backoffAt,omitzero"`

	HasReadiness bool `json:"hasReadiness,omitempty"`
	HasStartup   bool `json:"hasStartup,omitempty"`
	ProbeReady   bool `json:"probeReady,omitempty"`
	ProbeStarted bool `json:"probeStarted,omitempty"`
}

// started is the kubelet's started bit: running, and its startup probe (if
// any) has succeeded.
func (c *containerRecord) started() bool {
	return c.Running && (!c.HasStartup || c.ProbeStarted)
}

// ready is the kubelet's ready bit for an app container or sidecar: started,
// and its readiness probe (if any) succeeds.
func (c *containerRecord) ready() bool {
	return c.started() && (!c.HasReadiness || c.ProbeReady)
}

// newInstance returns the record of a container's next instance: identity,
// image, probes and history kept, state back to waiting.
func (c *containerRecord) newInstance(restartCount int32, last *terminatedInstance) containerRecord {
	return containerRecord{Name: c.Name, Kind: c.Kind, Image: c.Image, ImageID: c.ImageID, RestartCount: restartCount, Last: last,
		HasReadiness: c.HasReadiness, HasStartup: c.HasStartup, Backoff: c.Backoff, BackoffAt: c.BackoffAt, WaitingReason: "ContainerCreating"}
}

// terminatedInstance is an instance that has exited (lastState).
type terminatedInstance struct {
	// Attempt is the instance's restart count, which names its log file.
	Attempt     int32     `json:"attempt"`
	ContainerID string    `json:"containerID"`
	ExitCode    int32     `json:"exitCode"`
	Reason      string    `json:"reason"`
	Message     string    `json:"message,omitempty"`
	StartedAt   time.Time `json:"startedAt"`
	FinishedAt  time.Time `json:"finishedAt"`
}

func (t *terminatedInstance) state() *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode:    t.ExitCode,
		Reason:      t.Reason,
		Message:     t.Message,
		StartedAt:   metav1.NewTime(t.StartedAt),
		FinishedAt:  metav1.NewTime(t.FinishedAt),
		ContainerID: t.ContainerID,
	}
}

// current returns the current instance as terminated; only meaningful when
// Terminated is true.
func (c *containerRecord) current() *terminatedInstance {
	return &terminatedInstance{Attempt: c.RestartCount, ContainerID: c.ContainerID, ExitCode: c.ExitCode, Reason: c.Reason, Message: c.Message, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt}
}

// Container kinds (containerRecord.Kind).
const (
	kindInit    = "init"
	kindSidecar = "sidecar"
)

// exitReason is the terminated reason a CRI runtime reports for an exit code.
func exitReason(code int32) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

func (c *containerRecord) status() corev1.ContainerStatus {
	st := corev1.ContainerStatus{
		Name:         c.Name,
		Image:        c.Image,
		ImageID:      c.ImageID,
		ContainerID:  c.ContainerID,
		RestartCount: c.RestartCount,
	}
	switch {
	case c.Running:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt)}
		// Without probes a running app container or sidecar is started
		// and ready; a regular init container is ready only once it has
		// completed.
		st.Ready = c.Kind != kindInit && c.ready()
		st.Started = ptr(c.started())
	case c.Terminated:
		st.State.Terminated = c.current().state()
		st.Ready = c.Kind == kindInit && c.ExitCode == 0
		st.Started = ptr(false)
	default:
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.WaitingReason, Message: c.WaitingMessage}
		st.Started = ptr(false)
	}
	if c.Last != nil {
		st.LastTerminationState.Terminated = c.Last.state()
	}
	return st
}

// podPhase is the kubelet's getPhase. inits are the init containers
// (regular and sidecars) in spec order, apps the app containers; terminal is
// true once the pod has been torn down (deleted); initialized once any app
// container has started.
func podPhase(policy corev1.RestartPolicy, inits, apps []*containerRecord, terminal, initialized bool) corev1.PodPhase {
	var pendingInit, failedInit, pendingSidecar int
	for _, c := range inits {
		if c.Kind == kindSidecar {
			if !c.Running && !c.Terminated && c.Last == nil {
				pendingSidecar++
			}
			continue
		}
		switch {
		case c.Terminated && c.ExitCode == 0:
		case c.Terminated:
			failedInit++
		case !c.Running && c.Last != nil && c.Last.ExitCode != 0:
			failedInit++
		case !c.Running && c.Last != nil:
		default:
			pendingInit++
		}
	}
	var running, stopped, succeeded, waiting int
	for _, c := range apps {
		switch {
		case c.Running:
			running++
		case c.Terminated:
			stopped++
			if c.ExitCode == 0 {
				succeeded++
			}
		case c.Last != nil:
			// Waiting to restart (CrashLoopBackOff): stopped, and never
			// counted as succeeded.
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case failedInit > 0 && policy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	case pendingInit > 0 || (pendingSidecar > 0 && !initialized) || waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case terminal:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		case policy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// conditions returns the kubelet's pod conditions, in the kubelet's order,
// keeping lastTransitionTime from prev unless a condition's status flipped.
func conditions(phase corev1.PodPhase, sandboxReady, initialized bool, inits, apps []*containerRecord, prev []corev1.PodCondition, now time.Time) []corev1.PodCondition {
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c = corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		}
		c.LastTransitionTime = metav1.NewTime(now)
		for _, p := range prev {
			if p.Type == t && p.Status == c.Status {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		return c
	}
	initOK, initMsg := initializedCondition(phase, initialized, inits)
	initReason := ""
	if !initOK {
		initReason = "ContainersNotInitialized"
	}
	var readyCtrs []*containerRecord
	for _, c := range inits {
		if c.Kind == kindSidecar {
			readyCtrs = append(readyCtrs, c)
		}
	}
	readyOK, readyReason, readyMsg := containersReady(phase, append(readyCtrs, apps...))
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, initOK, initReason, initMsg),
		cond(corev1.PodReady, readyOK, readyReason, readyMsg),
		cond(corev1.ContainersReady, readyOK, readyReason, readyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
}

// initializedCondition is the kubelet's Initialized condition: true without
// init containers, once every regular init container has completed and
// every sidecar has started, or once any app container has started.
func initializedCondition(phase corev1.PodPhase, initialized bool, inits []*containerRecord) (bool, string) {
	if initialized || phase == corev1.PodSucceeded {
		return true, ""
	}
	var incomplete []string
	for _, c := range inits {
		done := c.Terminated && c.ExitCode == 0
		if c.Kind == kindSidecar {
			done = c.Running
		}
		if !done {
			incomplete = append(incomplete, c.Name)
		}
	}
	if len(incomplete) == 0 {
		return true, ""
	}
	return false, fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))
}

func containersReady(phase corev1.PodPhase, ctrs []*containerRecord) (bool, string, string) {
	switch phase {
	case corev1.PodSucceeded:
		return false, "PodCompleted", ""
	case corev1.PodFailed:
		return false, "PodFailed", ""
	}
	var unready []string
	for _, c := range ctrs {
		if !c.ready() {
			unready = append(unready, c.Name)
		}
	}
	if len(unready) > 0 {
		return false, "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	return true, "", ""
}

// sortedStatuses returns container statuses sorted by name, as the kubelet does.
func sortedStatuses(ctrs []*containerRecord) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(ctrs))
	for _, c := range ctrs {
		out = append(out, c.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func ptr[T any](v T) *T { return &v }
