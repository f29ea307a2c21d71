package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"podbox.dev/podbox/pod"
)

// namespaceFlag is -n/--namespace, shared by every command that addresses
// pods.
func namespaceFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "namespace",
		Aliases: []string{"n"},
		Value:   metav1.NamespaceDefault,
		Usage:   "the namespace of the pods",
	}
}

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "list pods, or show them in detail; list events",
		ArgsUsage: "pods|pod|po [NAME...] | events | all",
		Description: "Like kubectl get: a table of NAME READY STATUS RESTARTS AGE, or the pods as\n" +
			"JSON, YAML, names, a JSONPath template or custom columns. Pods are the only\n" +
			"workload podbox serves, so `get all` lists pods.\n\n" +
			"Examples:\n" +
			"  podbox get pods\n" +
			"  podbox get pod web -o yaml\n" +
			"  podbox get pods -A -o wide\n" +
			"  podbox get pods -l 'app in (web,api),tier!=cache' --show-labels\n" +
			"  podbox get pods --field-selector status.phase=Running -L app\n" +
			"  podbox get pods -o jsonpath='{.items[*].status.podIP}'\n" +
			"  podbox get pods -o custom-columns=NAME:.metadata.name,IP:.status.podIP --sort-by=.status.podIP\n" +
			"  podbox get pods -w\n" +
			"  podbox get events",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list pods of every namespace"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: json, yaml, wide, name, jsonpath=TEMPLATE, jsonpath-file=FILE, custom-columns=HEADER:PATH,..., custom-columns-file=FILE"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "only pods whose labels match this selector (=, ==, !=, in, notin, key, !key; e.g. 'app=web,tier in (a,b)')"},
			&cli.StringFlag{Name: "field-selector", Usage: "only pods whose fields match (e.g. status.phase=Running; also metadata.name, metadata.namespace, spec.nodeName, spec.restartPolicy, status.podIP)"},
			&cli.BoolFlag{Name: "show-labels", Usage: "add a LABELS column"},
			&cli.StringSliceFlag{Name: "label-columns", Aliases: []string{"L"}, Usage: "add a column with the value of each of these labels (-L app,tier)"},
			&cli.BoolFlag{Name: "no-headers", Usage: "leave out the header line of tables"},
			&cli.StringFlag{Name: "sort-by", Usage: "sort by the value at a JSONPath (e.g. .metadata.creationTimestamp)"},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "after listing, print each change of the pods as it happens"},
			&cli.BoolFlag{Name: "watch-only", Usage: "print changes only, without listing first"},
			&cli.BoolFlag{Name: "output-watch-events", Usage: "with --watch, add an EVENT column (ADDED, MODIFIED, DELETED)"},
		},
		BashComplete: completeGet,
		Action: func(c *cli.Context) error {
			if isEventsArg(c.Args().First()) {
				return getEvents(c)
			}
			if handled, err := configCommand(c, getConfigObjects); handled {
				return err
			}
			opts, err := parseGetArgs(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			if opts.watch || opts.watchOnly {
				return watchGet(c.Context, cl.pods, opts, c.App.Writer, c.App.ErrWriter, time.Now)
			}
			return runGet(c.Context, cl.pods, opts, c.App.Writer, c.App.ErrWriter, time.Now())
		},
	}
}

// getOptions is a parsed `podbox get` invocation.
type getOptions struct {
	namespace     string
	allNamespaces bool
	names         []string
	print         printSpec
	selector      labels.Selector
	fieldSelector fields.Selector
	sortBy        string
	// watch lists, then prints changes; watchOnly prints changes only;
	// watchEvents adds the EVENT column.
	watch, watchOnly, watchEvents bool
}

// parseGetArgs checks the arguments of get before anything is sent.
func parseGetArgs(c *cli.Context) (getOptions, error) {
	opts := getOptions{
		namespace:     c.String("namespace"),
		allNamespaces: c.Bool("all-namespaces"),
		selector:      labels.Everything(),
		fieldSelector: fields.Everything(),
		sortBy:        c.String("sort-by"),
		watch:         c.Bool("watch"),
		watchOnly:     c.Bool("watch-only"),
		watchEvents:   c.Bool("output-watch-events"),
	}
	spec, err := parseOutput(c.String("output"), os.ReadFile)
	if err != nil {
		return opts, err
	}
	spec.noHeaders = c.Bool("no-headers")
	spec.showLabels = c.Bool("show-labels")
	for _, l := range c.StringSlice("label-columns") {
		for _, k := range strings.Split(l, ",") {
			if k = strings.TrimSpace(k); k != "" {
				spec.labelColumns = append(spec.labelColumns, k)
			}
		}
	}
	spec.allNamespaces = opts.allNamespaces
	opts.print = spec
	if opts.selector, err = selectorFlag(c); err != nil {
		return opts, err
	}
	if fs := c.String("field-selector"); fs != "" {
		sel, err := fields.ParseSelector(fs)
		if err != nil {
			return opts, fmt.Errorf("invalid field selector %q: %w", fs, err)
		}
		if err := pod.CheckFieldSelector(sel); err != nil {
			// The server's answer, given before asking it.
			return opts, apierrors.NewBadRequest(err.Error())
		}
		opts.fieldSelector = sel
	}
	args := c.Args().Slice()
	if len(args) > 0 && strings.EqualFold(args[0], "all") {
		// kubectl's "all" category holds the workloads; on one machine
		// that is pods.
		args[0] = "pods"
	}
	names, err := podArgs(args)
	if err != nil {
		return opts, err
	}
	if len(names) == 0 && c.NArg() == 0 {
		return opts, usageErrorf(c, "Required resource not specified: podbox serves pods (podbox get pods)")
	}
	if len(names) > 0 && opts.allNamespaces {
		return opts, fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
	}
	if len(names) > 0 && !opts.selector.Empty() {
		return opts, fmt.Errorf("name cannot be provided when a selector is specified")
	}
	if len(names) > 1 && (opts.watch || opts.watchOnly) {
		return opts, fmt.Errorf("watch is only supported on individual resources and resource collections, but %d resources were found", len(names))
	}
	opts.names = names
	return opts, nil
}

// selectorFlag parses -l/--selector with apimachinery's label selector
// syntax (=, ==, !=, in, notin, key, !key); none selects everything.
func selectorFlag(c *cli.Context) (labels.Selector, error) {
	s := c.String("selector")
	if s == "" {
		return labels.Everything(), nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid selector %q: %w", s, err)
	}
	return sel, nil
}

// podArgs reads kubectl's two ways of naming pods: `pods a b` (a type, then
// names) and `pod/a pods/b` (type/name pairs). Any resource type other than
// pods is refused with kubectl's message, since podbox has only pods.
func podArgs(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if strings.Contains(args[0], "/") {
		var names []string
		for _, a := range args {
			kind, name, ok := strings.Cut(a, "/")
			if !ok {
				return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'podbox get resource/<resource_name>' instead of 'podbox get resource resource/<resource_name>'")
			}
			if err := checkPodType(kind); err != nil {
				return nil, err
			}
			if name == "" {
				return nil, fmt.Errorf("arguments in resource/name form must have a single resource and name")
			}
			names = append(names, name)
		}
		return names, nil
	}
	if err := checkPodType(args[0]); err != nil {
		return nil, err
	}
	for _, a := range args[1:] {
		if strings.Contains(a, "/") {
			return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'podbox get resource/<resource_name>' instead of 'podbox get resource resource/<resource_name>'")
		}
	}
	return args[1:], nil
}

// checkPodType accepts the spellings kubectl accepts for pods.
func checkPodType(t string) error {
	switch strings.ToLower(t) {
	case "pod", "pods", "po", "pod.v1", "pods.v1", "pods.v1.":
		return nil
	}
	return fmt.Errorf("the server doesn't have a resource type %q (podbox serves pods only)", t)
}

// runGet fetches the pods asked for and prints them. Named pods that do not
// exist are reported on stderr after the others are printed, and make the
// command fail, as with kubectl.
func runGet(ctx context.Context, pods podsGetter, opts getOptions, stdout, stderr io.Writer, now time.Time) error {
	found, _, failed, err := fetchPods(ctx, pods, opts, stderr)
	if err != nil {
		return err
	}
	if err := sortPods(found, opts.sortBy); err != nil {
		return err
	}
	if err := printPods(stdout, stderr, found, opts, now); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

// fetchPods gets the named pods, or lists those matching the selectors. It
// returns them with the list's resource version (for a watch to continue
// from) and whether a named pod was missing (reported on stderr).
func fetchPods(ctx context.Context, pods podsGetter, opts getOptions, stderr io.Writer) ([]corev1.Pod, string, bool, error) {
	ns := opts.listNamespace()
	var found []corev1.Pod
	failed := false
	if len(opts.names) > 0 {
		for _, name := range opts.names {
			p, err := pods.Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				fmt.Fprintln(stderr, errorMessage(err))
				failed = true
				continue
			}
			if opts.matches(p) {
				found = append(found, *p)
			}
		}
		return found, "", failed, nil
	}
	list, err := pods.Pods(ns).List(ctx, opts.listOptions())
	if err != nil {
		return nil, "", false, err
	}
	for i := range list.Items {
		// Filtered here too, so the selectors are honoured whether or not
		// the server implements them.
		if opts.matches(&list.Items[i]) {
			found = append(found, list.Items[i])
		}
	}
	// The API server lists in key order (namespace, then name); do the
	// same whatever the supervisor's order.
	slices.SortFunc(found, func(a, b corev1.Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return found, list.ResourceVersion, false, nil
}

// listNamespace is the namespace to ask for: "" for all.
func (o getOptions) listNamespace() string {
	if o.allNamespaces {
		return metav1.NamespaceAll
	}
	return o.namespace
}

func (o getOptions) listOptions() metav1.ListOptions {
	lo := metav1.ListOptions{}
	if o.selector != nil && !o.selector.Empty() {
		lo.LabelSelector = o.selector.String()
	}
	if o.fieldSelector != nil && !o.fieldSelector.Empty() {
		lo.FieldSelector = o.fieldSelector.String()
	}
	return lo
}

// matches applies the selectors to a pod.
func (o getOptions) matches(p *corev1.Pod) bool {
	if o.selector != nil && !o.selector.Matches(labels.Set(p.Labels)) {
		return false
	}
	return o.fieldSelector == nil || o.fieldSelector.Matches(pod.Fields(p))
}

// printPods prints what get found in the requested format.
func printPods(stdout, stderr io.Writer, found []corev1.Pod, opts getOptions, now time.Time) error {
	single := len(opts.names) == 1
	spec := opts.print
	spec.allNamespaces = opts.allNamespaces
	switch spec.format {
	case "json", "yaml", "jsonpath":
		if len(opts.names) > 0 && len(found) == 0 {
			return nil // only errors to show
		}
		if spec.format == "jsonpath" {
			return printJSONPath(stdout, spec, podsObject(found, single))
		}
		return printPodObjects(stdout, spec.format, found, single)
	case "name":
		return printPodNames(stdout, found)
	}
	if len(found) == 0 {
		if len(opts.names) == 0 {
			noResources(stderr, opts.listNamespace())
		}
		return nil
	}
	if spec.format == "custom-columns" {
		return printCustomColumns(stdout, found, spec, !spec.noHeaders)
	}
	return printPodTable(stdout, found, spec.tableOptions(), now)
}

// noResources is kubectl's note that a list came back empty.
func noResources(w io.Writer, ns string) {
	if ns == metav1.NamespaceAll {
		fmt.Fprintln(w, "No resources found")
	} else {
		fmt.Fprintf(w, "No resources found in %s namespace.\n", ns)
	}
}

// tableOptions are the table columns a print spec asks for.
func (s printSpec) tableOptions() tableOptions {
	return tableOptions{
		allNamespaces: s.allNamespaces,
		wide:          s.format == "wide",
		noHeaders:     s.noHeaders,
		labelColumns:  s.labelColumns,
		showLabels:    s.showLabels,
	}
}
