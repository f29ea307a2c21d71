package pod

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// TableColumns are the columns of a pod's server-side Table, as the API
// server's pod printer defines them; priority 1 columns show with -o wide.
var TableColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Ready", Type: "string", Description: "The aggregate readiness state of this pod for accepting traffic."},
	{Name: "Status", Type: "string", Description: "The aggregate status of the containers in this pod."},
	{Name: "Restarts", Type: "string", Description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	{Name: "IP", Type: "string", Priority: 1, Description: corev1.PodStatus{}.SwaggerDoc()["podIP"]},
	{Name: "Node", Type: "string", Priority: 1, Description: corev1.PodSpec{}.SwaggerDoc()["nodeName"]},
	{Name: "Nominated Node", Type: "string", Priority: 1, Description: corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]},
	{Name: "Readiness Gates", Type: "string", Priority: 1, Description: corev1.PodSpec{}.SwaggerDoc()["readinessGates"]},
}

// TableRow computes the cells kubectl shows for one pod: NAME READY STATUS
// RESTARTS AGE, and with wide IP NODE NOMINATED NODE READINESS GATES (the
// columns of TableColumns), as kubectl's pod printer does. podbox's CLI
// prints them, and the API serves them as a server-side Table.
func TableRow(p *corev1.Pod, wide bool, now time.Time) []string {
	s := summarize(p)
	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, Age(s.lastRestart, now))
	}
	cells := []string{
		p.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.status,
		restarts,
		Age(p.CreationTimestamp.Time, now),
	}
	if !wide {
		return cells
	}
	ip := p.Status.PodIP
	if len(p.Status.PodIPs) > 0 {
		ip = p.Status.PodIPs[0].IP
	}
	return append(cells,
		noneIfEmpty(ip),
		noneIfEmpty(p.Spec.NodeName),
		noneIfEmpty(p.Status.NominatedNodeName),
		readinessGates(p),
	)
}

// podSummary is what the table derives from a pod's status.
type podSummary struct {
	status      string
	ready       int
	total       int
	restarts    int
	lastRestart time.Time
}

// summarize derives the READY, STATUS and RESTARTS columns exactly as kubectl
// does, so a pod reads the same in `podbox get` as it would in a cluster:
//
//   - STATUS starts as the phase (or status.reason). The first init container
//     that has not completed overrides it (Init:N/M, Init:<reason>,
//     Init:ExitCode:N, Init:Signal:N). Once initialized, the waiting or
//     terminated reason of the first app container (by the order of
//     containerStatuses, which is by name) that has one wins. A "Completed"
//     pod with a container still running reads Running or NotReady. A pod
//     being deleted reads Terminating.
//   - READY counts ready, running app containers and started, ready sidecars
//     (restartable init containers) against all of them.
//   - RESTARTS sums restart counts, remembering the newest previous
//     termination for the "(5m ago)" suffix. While init containers are still
//     running, their restarts count; afterwards only sidecars' and app
//     containers' do.
func summarize(p *corev1.Pod) podSummary {
	s := podSummary{status: string(p.Status.Phase), total: len(p.Spec.Containers)}
	if p.Status.Reason != "" {
		s.status = p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.status = corev1.PodReasonSchedulingGated
		}
	}

	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			s.total++
		}
	}

	// Restarts of sidecars survive initialization; those of ordinary init
	// containers only matter while the pod is still initializing.
	var sidecarRestarts int
	var sidecarLastRestart time.Time
	initializing := false
	for i, c := range p.Status.InitContainerStatuses {
		s.restarts += int(c.RestartCount)
		s.lastRestart = newer(s.lastRestart, c.LastTerminationState)
		if sidecars[c.Name] {
			sidecarRestarts += int(c.RestartCount)
			sidecarLastRestart = newer(sidecarLastRestart, c.LastTerminationState)
		}
		t, w := c.State.Terminated, c.State.Waiting
		switch {
		case t != nil && t.ExitCode == 0:
			continue
		case sidecars[c.Name] && c.Started != nil && *c.Started:
			if c.Ready {
				s.ready++
			}
			continue
		case t != nil:
			s.status = "Init:" + terminatedReason(t)
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			s.status = "Init:" + w.Reason
		default:
			s.status = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || conditionTrue(p, corev1.PodInitialized) {
		s.restarts, s.lastRestart = sidecarRestarts, sidecarLastRestart
		running := false
		// Walk backwards so the first container with a reason has the last
		// word, as kubectl does.
		for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
			c := p.Status.ContainerStatuses[i]
			s.restarts += int(c.RestartCount)
			s.lastRestart = newer(s.lastRestart, c.LastTerminationState)
			t, w := c.State.Terminated, c.State.Waiting
			switch {
			case w != nil && w.Reason != "":
				s.status = w.Reason
			case t != nil:
				s.status = terminatedReason(t)
			case c.Ready && c.State.Running != nil:
				running = true
				s.ready++
			}
		}
		if s.status == "Completed" && running {
			s.status = "NotReady"
			if conditionTrue(p, corev1.PodReady) {
				s.status = "Running"
			}
		}
	}

	if p.DeletionTimestamp != nil {
		switch {
		case p.Status.Reason == "NodeLost":
			s.status = "Unknown"
		case p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed:
			s.status = "Terminating"
		}
	}
	return s
}

// terminatedReason is the reason of a terminated container, or when the
// runtime gave none, Signal:N or ExitCode:N.
func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

// newer returns the later of last and the finish time of a previous
// termination, if there was one.
func newer(last time.Time, prev corev1.ContainerState) time.Time {
	if prev.Terminated != nil && prev.Terminated.FinishedAt.After(last) {
		return prev.Terminated.FinishedAt.Time
	}
	return last
}

func conditionTrue(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readinessGates is "true/total" over spec.readinessGates, or <none>.
func readinessGates(p *corev1.Pod) string {
	if len(p.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	n := 0
	for _, g := range p.Spec.ReadinessGates {
		if conditionTrue(p, g.ConditionType) {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(p.Spec.ReadinessGates))
}

// Age is kubectl's short duration since t ("5s", "3m12s", "2d4h"), or
// <unknown> for a zero time.
func Age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
