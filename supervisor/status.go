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
	Name         string `json:"name"`
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
		// Without probes a running container is started and ready.
		st.Ready = true
		st.Started = ptr(true)
	case c.Terminated:
		st.State.Terminated = c.current().state()
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

// podPhase is the kubelet's getPhase for pods without init containers.
// terminal is true once the pod has been torn down (deleted).
func podPhase(policy corev1.RestartPolicy, ctrs []*containerRecord, terminal bool) corev1.PodPhase {
	var running, stopped, succeeded, waiting int
	for _, c := range ctrs {
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
	case waiting > 0:
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
func conditions(phase corev1.PodPhase, sandboxReady bool, ctrs []*containerRecord, prev []corev1.PodCondition, now time.Time) []corev1.PodCondition {
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
	readyOK, readyReason, readyMsg := containersReady(phase, ctrs)
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, true, "", ""),
		cond(corev1.PodReady, readyOK, readyReason, readyMsg),
		cond(corev1.ContainersReady, readyOK, readyReason, readyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
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
		if !c.Running {
			unready = append(unready, c.Name)
		}
	}
	if len(unready) > 0 {
		return false, "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	return true, "", ""
}

// qosClass is Kubernetes' QoS class from the containers' requests and limits.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	any, guaranteed := false, true
	for _, c := range spec.Containers {
		req, lim := c.Resources.Requests, c.Resources.Limits
		if len(req) > 0 || len(lim) > 0 {
			any = true
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			l, ok := lim[r]
			if !ok {
				guaranteed = false
				continue
			}
			if q, ok := req[r]; ok && q.Cmp(l) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
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
