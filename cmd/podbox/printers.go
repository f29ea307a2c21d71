package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

// tableOptions selects the columns of the pod table.
type tableOptions struct {
	// allNamespaces adds the NAMESPACE column first (get -A).
	allNamespaces bool
	// wide adds IP, NODE, NOMINATED NODE and READINESS GATES (get -o wide).
	wide bool
	// noHeaders leaves out the header line (--no-headers).
	noHeaders bool
	// labelColumns adds a column per label key (-L), showLabels a LABELS
	// column with all of them (--show-labels), in that order, last.
	labelColumns []string
	showLabels   bool
}

// newTableWriter is kubectl's tab writer: columns are as wide as their
// widest cell plus three spaces, and the last column is never padded.
func newTableWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
}

// printPodTable writes pods as kubectl's human-readable table. now is the
// instant ages are measured from; it is a parameter so tests are exact.
func printPodTable(w io.Writer, pods []corev1.Pod, opts tableOptions, now time.Time) error {
	tw := newTableWriter(w)
	if !opts.noHeaders {
		fmt.Fprintln(tw, strings.Join(podTableHeader(opts), "\t"))
	}
	for i := range pods {
		fmt.Fprintln(tw, strings.Join(podTableRow(&pods[i], opts, now), "\t"))
	}
	return tw.Flush()
}

// podTableHeader is the header line of the pod table.
func podTableHeader(opts tableOptions) []string {
	var header []string
	if opts.allNamespaces {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
	if opts.wide {
		header = append(header, "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
	}
	for _, l := range opts.labelColumns {
		header = append(header, strings.ToUpper(l))
	}
	if opts.showLabels {
		header = append(header, "LABELS")
	}
	return header
}

// podTableRow is one pod's line of the table.
func podTableRow(p *corev1.Pod, opts tableOptions, now time.Time) []string {
	var cells []string
	if opts.allNamespaces {
		cells = append(cells, p.Namespace)
	}
	cells = append(cells, podRow(p, opts.wide, now)...)
	for _, l := range opts.labelColumns {
		cells = append(cells, p.Labels[l])
	}
	if opts.showLabels {
		cells = append(cells, labelsString(p.Labels))
	}
	return cells
}

// labelsString is kubectl's LABELS cell: k=v pairs sorted by key, or
// <none>.
func labelsString(l map[string]string) string {
	if len(l) == 0 {
		return "<none>"
	}
	return labels.Set(l).String()
}

// podRow computes the cells kubectl shows for one pod: NAME READY STATUS
// RESTARTS AGE, and with wide IP NODE NOMINATED NODE READINESS GATES.
func podRow(p *corev1.Pod, wide bool, now time.Time) []string {
	s := summarize(p)
	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, age(s.lastRestart, now))
	}
	cells := []string{
		p.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.status,
		restarts,
		age(p.CreationTimestamp.Time, now),
	}
	if !wide {
		return cells
	}
	ip := p.Status.PodIP
	if len(p.Status.PodIPs) > 0 {
		ip = p.Status.PodIPs[0].IP
	}
	return append(cells,
		orNone(ip),
		orNone(p.Spec.NodeName),
		orNone(p.Status.NominatedNodeName),
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

// age is kubectl's short duration since t ("5s", "3m12s", "2d4h"), or
// <unknown> for a zero time.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// printPodObjects writes pods as JSON or YAML. A single pod asked for by name
// is printed as itself; anything else as a v1 List, as kubectl does, so the
// output can be fed back to `podbox apply -f -` or to kubectl.
func printPodObjects(w io.Writer, format string, pods []corev1.Pod, single bool) error {
	return printObject(w, format, podsObject(pods, single))
}

// podsObject is what -o json|yaml|jsonpath prints: the pod itself when one
// was asked for by name, otherwise a v1 List of the pods.
func podsObject(pods []corev1.Pod, single bool) any {
	if single && len(pods) == 1 {
		return withTypeMeta(pods[0])
	}
	items := make([]any, 0, len(pods))
	for _, p := range pods {
		items = append(items, withTypeMeta(p))
	}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"items":      items,
		"metadata":   map[string]any{"resourceVersion": ""},
	}
}

// printObject writes any API object as JSON or YAML with kubectl's layout.
func printObject(w io.Writer, format string, obj any) error {
	// Round-trip through a generic map so keys come out sorted, as in
	// kubectl's output (it prints unstructured objects).
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	switch format {
	case "json":
		out, err := json.MarshalIndent(generic, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", out)
		return err
	case "yaml":
		out, err := yaml.Marshal(generic)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// withTypeMeta sets apiVersion and kind, which typed clients leave empty on
// the objects they decode but which a printed manifest needs.
func withTypeMeta(p corev1.Pod) *corev1.Pod {
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	return &p
}

// printPodNames writes pod/NAME lines (get -o name).
func printPodNames(w io.Writer, pods []corev1.Pod) error {
	for _, p := range pods {
		if _, err := fmt.Fprintf(w, "pod/%s\n", p.Name); err != nil {
			return err
		}
	}
	return nil
}
