package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/kubectl/pkg/util/fieldpath"

	"podbox.dev/podbox/pod"
)

// describeTimeFormat is how describe prints instants (RFC 1123 with a
// numeric zone, as kubectl does).
const describeTimeFormat = time.RFC1123Z

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "show a pod in detail, with its containers and events",
		ArgsUsage: "pods [NAME...] | pod/NAME...",
		Description: "Like kubectl describe: a pod's metadata, containers (state, probes, environment,\n" +
			"mounts), conditions, volumes and recent events. A name that matches no pod\n" +
			"exactly describes every pod whose name starts with it; without names, every\n" +
			"pod of the namespace (or those matching -l) is described.\n\n" +
			"Examples:\n" +
			"  podbox describe pod web\n" +
			"  podbox describe pod/web pod/db -n team\n" +
			"  podbox describe pods -l app=web",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "only pods whose labels match this selector (e.g. app=web)"},
			&cli.BoolFlag{Name: "show-events", Value: true, Usage: "include the pod's events"},
		},
		Action: func(c *cli.Context) error {
			if handled, err := configCommand(c, describeConfigObjects); handled {
				return err
			}
			opts, err := parseDescribeArgs(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return runDescribe(c.Context, cl.pods, cl.events, opts, c.App.Writer, c.App.ErrWriter, time.Now())
		},
	}
}

// describeOptions is a parsed `podbox describe` invocation.
type describeOptions struct {
	namespace  string
	names      []string
	selector   labels.Selector
	showEvents bool
}

func parseDescribeArgs(c *cli.Context) (describeOptions, error) {
	opts := describeOptions{
		namespace:  c.String("namespace"),
		selector:   labels.Everything(),
		showEvents: c.Bool("show-events"),
	}
	if c.NArg() == 0 {
		return opts, usageErrorf(c, "You must specify the type of resource to describe: podbox serves pods (podbox describe pods)")
	}
	sel, err := selectorFlag(c)
	if err != nil {
		return opts, err
	}
	opts.selector = sel
	names, err := podArgs(c.Args().Slice())
	if err != nil {
		return opts, err
	}
	if len(names) > 0 && !opts.selector.Empty() {
		return opts, fmt.Errorf("name cannot be provided when a selector is specified")
	}
	opts.names = names
	return opts, nil
}

// runDescribe finds the pods asked for and describes each, separated by two
// blank lines. A name that is not a pod falls back to the pods whose names
// start with it, as kubectl's describe does; one that matches nothing is
// reported on stderr with the server's NotFound and makes podbox exit 1.
func runDescribe(ctx context.Context, pods podsGetter, events eventsGetter, opts describeOptions, stdout, stderr io.Writer, now time.Time) error {
	var found []corev1.Pod
	var failed bool
	if len(opts.names) > 0 {
		var all []corev1.Pod // listed at most once, for prefix matches
		listed := false
		for _, name := range opts.names {
			p, err := pods.Pods(opts.namespace).Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				found = append(found, *p)
				continue
			}
			if !apierrors.IsNotFound(err) {
				return err
			}
			if !listed {
				list, lerr := pods.Pods(opts.namespace).List(ctx, metav1.ListOptions{})
				if lerr != nil {
					return lerr
				}
				all, listed = sortedPods(list.Items), true
			}
			matched := false
			for _, q := range all {
				if strings.HasPrefix(q.Name, name) {
					found = append(found, q)
					matched = true
				}
			}
			if !matched {
				fmt.Fprintln(stderr, errorMessage(err))
				failed = true
			}
		}
	} else {
		list, err := pods.Pods(opts.namespace).List(ctx, metav1.ListOptions{LabelSelector: opts.selector.String()})
		if err != nil {
			return err
		}
		for _, p := range sortedPods(list.Items) {
			if opts.selector.Matches(labels.Set(p.Labels)) {
				found = append(found, p)
			}
		}
		if len(found) == 0 {
			fmt.Fprintf(stderr, "No resources found in %s namespace.\n", opts.namespace)
		}
	}

	for i := range found {
		if i > 0 {
			fmt.Fprint(stdout, "\n\n")
		}
		var evs []corev1.Event
		showEvents := opts.showEvents && events != nil
		if showEvents {
			var err error
			evs, err = podEvents(ctx, events, &found[i])
			// Like kubectl, a pod whose events cannot be read is still
			// described, only without the Events section.
			showEvents = err == nil
		}
		if err := describePod(stdout, &found[i], evs, showEvents, now); err != nil {
			return err
		}
	}
	if failed {
		return errReported
	}
	return nil
}

func sortedPods(items []corev1.Pod) []corev1.Pod {
	slices.SortFunc(items, func(a, b corev1.Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return items
}

// podEvents lists the events about p. The field selector is what a cluster
// needs; the filter after it is for servers (and fakes) that ignore one.
func podEvents(ctx context.Context, events eventsGetter, p *corev1.Pod) ([]corev1.Event, error) {
	sel := fields.Set{"involvedObject.name": p.Name, "involvedObject.namespace": p.Namespace}
	if p.UID != "" {
		sel["involvedObject.uid"] = string(p.UID)
	}
	list, err := events.Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.AsSelector().String()})
	if err != nil {
		return nil, err
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		o := ev.InvolvedObject
		if p.UID != "" && o.UID != "" {
			if o.UID == p.UID {
				out = append(out, ev)
			}
			continue
		}
		if o.Name == p.Name && (o.Kind == "" || o.Kind == "Pod") && (o.Namespace == "" || o.Namespace == p.Namespace) {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp.Time) })
	return out, nil
}

// describer writes kubectl's describe layout: "Key:\tvalue" lines indented
// two spaces per level, aligned by one tab writer over the whole pod, so
// that consecutive keyed lines share a column as in kubectl.
type describer struct {
	tw *tabwriter.Writer
}

func (d describer) line(level int, format string, a ...any) {
	fmt.Fprintf(d.tw, strings.Repeat("  ", level)+format+"\n", a...)
}

// multiline writes key with the first of values and the others below it in
// the value column, or <none>.
func (d describer) multiline(level int, key string, values []string) {
	if len(values) == 0 {
		d.line(level, "%s:\t<none>", key)
		return
	}
	for i, v := range values {
		if i == 0 {
			d.line(level, "%s:\t%s", key, v)
		} else {
			d.line(level, "\t%s", v)
		}
	}
}

// describePod writes the description of one pod. events are shown (sorted
// oldest first, by last occurrence) when showEvents is set; now is the instant
// ages are measured from.
func describePod(w io.Writer, p *corev1.Pod, events []corev1.Event, showEvents bool, now time.Time) error {
	d := describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	d.line(0, "Name:\t%s", p.Name)
	d.line(0, "Namespace:\t%s", p.Namespace)
	if p.Spec.Priority != nil {
		d.line(0, "Priority:\t%d", *p.Spec.Priority)
	}
	if p.Spec.PriorityClassName != "" {
		d.line(0, "Priority Class Name:\t%s", p.Spec.PriorityClassName)
	}
	if rc := p.Spec.RuntimeClassName; rc != nil && *rc != "" {
		d.line(0, "Runtime Class Name:\t%s", *rc)
	}
	d.line(0, "Service Account:\t%s", p.Spec.ServiceAccountName)
	if p.Spec.NodeName == "" {
		d.line(0, "Node:\t<none>")
	} else {
		d.line(0, "Node:\t%s/%s", p.Spec.NodeName, p.Status.HostIP)
	}
	if p.Status.StartTime != nil {
		d.line(0, "Start Time:\t%s", p.Status.StartTime.Time.Format(describeTimeFormat))
	}
	d.multiline(0, "Labels", keyValues(p.Labels, "=", nil))
	d.multiline(0, "Annotations", keyValues(p.Annotations, ": ", map[string]bool{corev1.LastAppliedConfigAnnotation: true}))
	if p.DeletionTimestamp != nil {
		d.line(0, "Status:\tTerminating (lasts %s)", until(p.DeletionTimestamp.Time, now))
		if p.DeletionGracePeriodSeconds != nil {
			d.line(0, "Termination Grace Period:\t%ds", *p.DeletionGracePeriodSeconds)
		}
	} else {
		d.line(0, "Status:\t%s", p.Status.Phase)
	}
	if p.Status.Reason != "" {
		d.line(0, "Reason:\t%s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		d.line(0, "Message:\t%s", p.Status.Message)
	}
	d.line(0, "IP:\t%s", p.Status.PodIP)
	if len(p.Status.PodIPs) == 0 {
		d.line(0, "IPs:\t<none>")
	} else {
		d.line(0, "IPs:")
		for _, ip := range p.Status.PodIPs {
			d.line(1, "IP:\t%s", ip.IP)
		}
	}
	if owner := metav1.GetControllerOf(p); owner != nil {
		d.line(0, "Controlled By:\t%s/%s", owner.Kind, owner.Name)
	}
	if p.Status.NominatedNodeName != "" {
		d.line(0, "NominatedNodeName:\t%s", p.Status.NominatedNodeName)
	}

	if len(p.Spec.InitContainers) > 0 {
		d.line(0, "Init Containers:")
		d.containers(p, p.Spec.InitContainers, p.Status.InitContainerStatuses)
	}
	d.line(0, "Containers:")
	d.containers(p, p.Spec.Containers, p.Status.ContainerStatuses)

	if len(p.Spec.ReadinessGates) > 0 {
		d.line(0, "Readiness Gates:")
		d.line(1, "Type\tStatus")
		for _, g := range p.Spec.ReadinessGates {
			status := "<none>"
			for _, c := range p.Status.Conditions {
				if c.Type == g.ConditionType {
					status = string(c.Status)
				}
			}
			d.line(1, "%s \t%s ", g.ConditionType, status)
		}
	}
	if len(p.Status.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus")
		for _, c := range p.Status.Conditions {
			d.line(1, "%s \t%s ", c.Type, c.Status)
		}
	}
	d.volumes(p.Spec.Volumes)
	d.line(0, "QoS Class:\t%s", qosClass(p))
	if _, ok := pod.PodLimit(&p.Spec, corev1.ResourceCPU); ok {
		// podbox's own line: how the CPU limit is enforced here.
		d.line(0, "Sandbox CPUs:\t%s", pod.DescribeSandboxCPUs(&p.Spec, runtime.NumCPU()))
	}
	d.multiline(0, "Node-Selectors", keyValues(p.Spec.NodeSelector, "=", nil))
	d.multiline(0, "Tolerations", tolerations(p.Spec.Tolerations))
	if showEvents {
		d.events(events, now)
	}
	return d.tw.Flush()
}

// containers writes the Containers (or Init Containers) section.
func (d describer) containers(p *corev1.Pod, specs []corev1.Container, statuses []corev1.ContainerStatus) {
	for _, c := range specs {
		var status *corev1.ContainerStatus
		for i := range statuses {
			if statuses[i].Name == c.Name {
				status = &statuses[i]
			}
		}
		d.line(1, "%s:", c.Name)
		if status != nil {
			d.line(2, "Container ID:\t%s", status.ContainerID)
		}
		d.line(2, "Image:\t%s", c.Image)
		if status != nil {
			d.line(2, "Image ID:\t%s", status.ImageID)
		}
		ports, hostPorts := containerPorts(c.Ports)
		if len(ports) > 1 {
			d.line(2, "Ports:\t%s", strings.Join(ports, ", "))
		} else {
			d.line(2, "Port:\t%s", orNone(strings.Join(ports, "")))
		}
		if len(hostPorts) > 1 {
			d.line(2, "Host Ports:\t%s", strings.Join(hostPorts, ", "))
		} else {
			d.line(2, "Host Port:\t%s", orNone(strings.Join(hostPorts, "")))
		}
		d.words(2, "Command", c.Command)
		d.words(2, "Args", c.Args)
		if status != nil {
			d.state(2, "State", status.State)
			if status.LastTerminationState.Terminated != nil {
				d.state(2, "Last State", status.LastTerminationState)
			}
			d.line(2, "Ready:\t%s", titleBool(status.Ready))
			d.line(2, "Restart Count:\t%d", status.RestartCount)
		}
		d.resources(2, "Limits", c.Resources.Limits)
		d.resources(2, "Requests", c.Resources.Requests)
		for _, probe := range []struct {
			name  string
			probe *corev1.Probe
		}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
			if probe.probe != nil {
				d.line(2, "%s:\t%s", probe.name, describeProbe(probe.probe))
			}
		}
		d.envFrom(c.EnvFrom)
		d.env(p, c.Env)
		d.mounts(c.VolumeMounts)
	}
}

// words writes a command or its arguments one per line, a multi-line word
// continuing on the following lines.
func (d describer) words(level int, key string, words []string) {
	if len(words) == 0 {
		return
	}
	d.line(level, "%s:", key)
	for _, word := range words {
		for _, l := range strings.Split(word, "\n") {
			d.line(level+1, "%s", l)
		}
	}
}

// state writes a container state: its kind, and under it reason, exit code
// and times.
func (d describer) state(level int, key string, s corev1.ContainerState) {
	switch {
	case s.Running != nil:
		d.line(level, "%s:\tRunning", key)
		d.line(level+1, "Started:\t%s", s.Running.StartedAt.Time.Format(describeTimeFormat))
	case s.Terminated != nil:
		t := s.Terminated
		d.line(level, "%s:\tTerminated", key)
		if t.Reason != "" {
			d.line(level+1, "Reason:\t%s", t.Reason)
		}
		if t.Message != "" {
			d.line(level+1, "Message:\t%s", t.Message)
		}
		d.line(level+1, "Exit Code:\t%d", t.ExitCode)
		if t.Signal > 0 {
			d.line(level+1, "Signal:\t%d", t.Signal)
		}
		d.line(level+1, "Started:\t%s", t.StartedAt.Time.Format(describeTimeFormat))
		d.line(level+1, "Finished:\t%s", t.FinishedAt.Time.Format(describeTimeFormat))
	default:
		d.line(level, "%s:\tWaiting", key)
		if s.Waiting != nil && s.Waiting.Reason != "" {
			d.line(level+1, "Reason:\t%s", s.Waiting.Reason)
		}
	}
}

func (d describer) resources(level int, key string, list corev1.ResourceList) {
	if len(list) == 0 {
		return
	}
	d.line(level, "%s:", key)
	for _, name := range slices.Sorted(maps.Keys(list)) {
		q := list[name]
		d.line(level+1, "%s:\t%s", name, q.String())
	}
}

func (d describer) envFrom(sources []corev1.EnvFromSource) {
	if len(sources) == 0 {
		return
	}
	d.line(2, "Environment Variables from:")
	for _, s := range sources {
		kind, name, optional := "", "", (*bool)(nil)
		switch {
		case s.ConfigMapRef != nil:
			kind, name, optional = "ConfigMap", s.ConfigMapRef.Name, s.ConfigMapRef.Optional
		case s.SecretRef != nil:
			kind, name, optional = "Secret", s.SecretRef.Name, s.SecretRef.Optional
		default:
			continue
		}
		prefix := ""
		if s.Prefix != "" {
			prefix = fmt.Sprintf(" with prefix '%s'", s.Prefix)
		}
		d.line(3, "%s\t%s%s\tOptional: %t", name, kind, prefix, optional != nil && *optional)
	}
}

// env writes the Environment of a container: literal values as they are,
// references as what they point to.
func (d describer) env(p *corev1.Pod, env []corev1.EnvVar) {
	if len(env) == 0 {
		d.line(2, "Environment:\t<none>")
		return
	}
	d.line(2, "Environment:")
	for _, e := range env {
		from := e.ValueFrom
		switch {
		case from == nil:
			for i, l := range strings.Split(e.Value, "\n") {
				if i == 0 {
					d.line(3, "%s:\t%s", e.Name, l)
				} else {
					d.line(3, "\t%s", l)
				}
			}
		case from.FieldRef != nil:
			d.line(3, "%s:\t%s (%s:%s)", e.Name, fieldValue(p, from.FieldRef.FieldPath), from.FieldRef.APIVersion, from.FieldRef.FieldPath)
		case from.ResourceFieldRef != nil:
			r := from.ResourceFieldRef
			container := r.ContainerName
			if container == "" {
				container = "the container"
			}
			d.line(3, "%s:\t%s (%s)", e.Name, container, r.Resource)
		case from.SecretKeyRef != nil:
			r := from.SecretKeyRef
			d.line(3, "%s:\t<set to the key '%s' in secret '%s'>\tOptional: %t", e.Name, r.Key, r.Name, r.Optional != nil && *r.Optional)
		case from.ConfigMapKeyRef != nil:
			r := from.ConfigMapKeyRef
			d.line(3, "%s:\t<set to the key '%s' of config map '%s'>\tOptional: %t", e.Name, r.Key, r.Name, r.Optional != nil && *r.Optional)
		default:
			d.line(3, "%s:\t", e.Name)
		}
	}
}

// fieldValue is an env fieldRef's value in the Environment listing, as
// kubectl describe resolves it: from the pod object's metadata only, so
// spec.nodeName or status.podIP show empty, as they do there.
func fieldValue(p *corev1.Pod, path string) string {
	v, _ := fieldpath.ExtractFieldPathAsString(p, path)
	return v
}

func (d describer) mounts(mounts []corev1.VolumeMount) {
	if len(mounts) == 0 {
		d.line(2, "Mounts:\t<none>")
		return
	}
	d.line(2, "Mounts:")
	sorted := slices.Clone(mounts)
	slices.SortStableFunc(sorted, func(a, b corev1.VolumeMount) int { return cmp.Compare(a.MountPath, b.MountPath) })
	for _, m := range sorted {
		flags := []string{"rw"}
		if m.ReadOnly {
			flags[0] = "ro"
		}
		if m.SubPath != "" {
			flags = append(flags, fmt.Sprintf("path %q", m.SubPath))
		}
		d.line(3, "%s from %s (%s)", m.MountPath, m.Name, strings.Join(flags, ", "))
	}
}

// volumes writes the Volumes section: each volume's name and the kind of
// source it has, with the source's main settings.
func (d describer) volumes(vols []corev1.Volume) {
	if len(vols) == 0 {
		d.line(0, "Volumes:\t<none>")
		return
	}
	d.line(0, "Volumes:")
	for _, v := range vols {
		d.line(1, "%s:", v.Name)
		s := v.VolumeSource
		switch {
		case s.EmptyDir != nil:
			d.line(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
			d.line(2, "Medium:\t%s", s.EmptyDir.Medium)
			if s.EmptyDir.SizeLimit != nil {
				d.line(2, "SizeLimit:\t%s", s.EmptyDir.SizeLimit.String())
			} else {
				d.line(2, "SizeLimit:\t<unset>")
			}
		case s.HostPath != nil:
			d.line(2, "Type:\tHostPath (bare host directory volume)")
			d.line(2, "Path:\t%s", s.HostPath.Path)
			hpType := ""
			if s.HostPath.Type != nil {
				hpType = string(*s.HostPath.Type)
			}
			d.line(2, "HostPathType:\t%s", hpType)
		case s.ConfigMap != nil:
			d.line(2, "Type:\tConfigMap (a volume populated by a ConfigMap)")
			d.line(2, "Name:\t%s", s.ConfigMap.Name)
			d.line(2, "Optional:\t%t", s.ConfigMap.Optional != nil && *s.ConfigMap.Optional)
		case s.Secret != nil:
			d.line(2, "Type:\tSecret (a volume populated by a Secret)")
			d.line(2, "SecretName:\t%s", s.Secret.SecretName)
			d.line(2, "Optional:\t%t", s.Secret.Optional != nil && *s.Secret.Optional)
		case s.Projected != nil:
			d.line(2, "Type:\tProjected (a volume that contains injected data from multiple sources)")
		case s.DownwardAPI != nil:
			d.line(2, "Type:\tDownwardAPI (a volume populated by information about the pod)")
		case s.PersistentVolumeClaim != nil:
			d.line(2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)")
			d.line(2, "ClaimName:\t%s", s.PersistentVolumeClaim.ClaimName)
			d.line(2, "ReadOnly:\t%t", s.PersistentVolumeClaim.ReadOnly)
		default:
			d.line(2, "<unknown>")
		}
	}
}

// events writes the Events table, or Events: <none>.
func (d describer) events(events []corev1.Event, now time.Time) {
	if len(events) == 0 {
		d.line(0, "Events:\t<none>")
		return
	}
	// The table is aligned on its own, not with the keys above it.
	d.tw.Flush()
	d.line(0, "Events:")
	d.line(1, "Type\tReason\tAge\tFrom\tMessage")
	d.line(1, "----\t------\t----\t----\t-------")
	for _, ev := range events {
		first := ev.FirstTimestamp.Time
		if !ev.EventTime.IsZero() {
			first = ev.EventTime.Time
		}
		age := since(first, now)
		switch {
		case ev.Series != nil:
			age = fmt.Sprintf("%s (x%d over %s)", since(ev.Series.LastObservedTime.Time, now), ev.Series.Count, age)
		case ev.Count > 1:
			age = fmt.Sprintf("%s (x%d over %s)", since(ev.LastTimestamp.Time, now), ev.Count, age)
		}
		from := ev.Source.Component
		if from == "" {
			from = ev.ReportingController
		}
		d.line(1, "%s\t%s\t%s\t%s\t%s", ev.Type, ev.Reason, age, from, strings.TrimSpace(ev.Message))
	}
}

// since is the age of t at now in kubectl's short form, <unknown> for a
// zero time.
func since(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// until is the time left from now to t, for "Terminating (lasts 10s)".
func until(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(t.Sub(now))
}

// keyValues renders a map sorted by key as "k<sep>v" lines, leaving out the
// keys in skip.
func keyValues(m map[string]string, sep string, skip map[string]bool) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !skip[k] {
			out = append(out, k+sep+m[k])
		}
	}
	return out
}

// containerPorts renders ports as port/protocol and their host ports
// likewise (0/TCP for a port that is not published on the host).
func containerPorts(ports []corev1.ContainerPort) (container, host []string) {
	for _, p := range ports {
		proto := cmp.Or(p.Protocol, corev1.ProtocolTCP)
		container = append(container, fmt.Sprintf("%d/%s", p.ContainerPort, proto))
		host = append(host, fmt.Sprintf("%d/%s", p.HostPort, proto))
	}
	return container, host
}

// describeProbe is a probe's action and timing in one line, e.g.
// "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3".
func describeProbe(p *corev1.Probe) string {
	timing := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
	h := p.ProbeHandler
	switch {
	case h.Exec != nil:
		return fmt.Sprintf("exec [%s] %s", strings.Join(h.Exec.Command, " "), timing)
	case h.HTTPGet != nil:
		scheme := strings.ToLower(string(cmp.Or(h.HTTPGet.Scheme, corev1.URISchemeHTTP)))
		u := url.URL{Scheme: scheme, Host: net.JoinHostPort(h.HTTPGet.Host, h.HTTPGet.Port.String()), Path: h.HTTPGet.Path}
		return fmt.Sprintf("http-get %s %s", u.String(), timing)
	case h.TCPSocket != nil:
		return fmt.Sprintf("tcp-socket %s:%s %s", h.TCPSocket.Host, h.TCPSocket.Port.String(), timing)
	case h.GRPC != nil:
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		return fmt.Sprintf("grpc <pod>:%d %s %s", h.GRPC.Port, service, timing)
	}
	return "unknown " + timing
}

// tolerations renders each toleration as key=value:effect, with op=Exists
// for a toleration matching any value and "for Ns" for a bounded one.
func tolerations(ts []corev1.Toleration) []string {
	var out []string
	for _, t := range ts {
		var b strings.Builder
		b.WriteString(t.Key)
		if t.Value != "" {
			b.WriteString("=" + t.Value)
		}
		if t.Effect != "" {
			b.WriteString(":" + string(t.Effect))
		}
		if t.Operator == corev1.TolerationOpExists && t.Value == "" {
			if b.Len() > 0 {
				b.WriteString(" ")
			}
			b.WriteString("op=Exists")
		}
		if t.TolerationSeconds != nil {
			fmt.Fprintf(&b, " for %ds", *t.TolerationSeconds)
		}
		out = append(out, b.String())
	}
	return out
}

// qosClass is the pod's QoS class as reported, or as the kubelet computes
// it (pod.QOSClass) for a pod object without one.
func qosClass(p *corev1.Pod) corev1.PodQOSClass {
	if p.Status.QOSClass != "" {
		return p.Status.QOSClass
	}
	return pod.QOSClass(p)
}

func titleBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
