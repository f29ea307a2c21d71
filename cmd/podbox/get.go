package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
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
		Usage:     "list pods, or show one in detail; list events",
		ArgsUsage: "pods [NAME...] | events",
		Description: "Like kubectl get: a table of NAME READY STATUS RESTARTS AGE, or the pods as\n" +
			"JSON or YAML. Pods are the only resource podbox serves.\n\n" +
			"Examples:\n" +
			"  podbox get pods\n" +
			"  podbox get pod web -o yaml\n" +
			"  podbox get pods -A -o wide\n" +
			"  podbox get events",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "list pods of every namespace"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: json, yaml, wide or name"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "only pods whose labels match this selector (e.g. app=web)"},
		},
		Action: func(c *cli.Context) error {
			if isEventsArg(c.Args().First()) {
				return getEvents(c)
			}
			if res, names, ok, err := configArgs(c.Args().Slice()); ok || err != nil {
				if err != nil {
					return err
				}
				return getConfigObjects(c, res, names)
			}
			opts, err := parseGetArgs(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
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
	output        string
	selector      labels.Selector
}

// parseGetArgs checks the arguments of get before anything is sent.
func parseGetArgs(c *cli.Context) (getOptions, error) {
	opts := getOptions{
		namespace:     c.String("namespace"),
		allNamespaces: c.Bool("all-namespaces"),
		output:        c.String("output"),
		selector:      labels.Everything(),
	}
	switch opts.output {
	case "", "wide", "json", "yaml", "name":
	default:
		return opts, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,wide,yaml", opts.output)
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
	if len(names) == 0 && c.NArg() == 0 {
		return opts, usageErrorf(c, "Required resource not specified: podbox serves pods (podbox get pods)")
	}
	if len(names) > 0 && opts.allNamespaces {
		return opts, fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
	}
	if len(names) > 0 && !opts.selector.Empty() {
		return opts, fmt.Errorf("name cannot be provided when a selector is specified")
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
func runGet(ctx context.Context, pods typedcorev1.PodsGetter, opts getOptions, stdout, stderr io.Writer, now time.Time) error {
	ns := opts.namespace
	if opts.allNamespaces {
		ns = metav1.NamespaceAll
	}
	var found []corev1.Pod
	var failed bool
	if len(opts.names) > 0 {
		for _, name := range opts.names {
			p, err := pods.Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				fmt.Fprintln(stderr, errorMessage(err))
				failed = true
				continue
			}
			found = append(found, *p)
		}
	} else {
		list, err := pods.Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: opts.selector.String()})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			// Filtered here too, so a selector is honoured whether or not
			// the server implements it.
			if opts.selector.Matches(labels.Set(p.Labels)) {
				found = append(found, p)
			}
		}
		// The API server lists in key order (namespace, then name); do the
		// same whatever the supervisor's order.
		slices.SortFunc(found, func(a, b corev1.Pod) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
	}

	if err := printPods(stdout, stderr, found, opts, ns, now); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

// printPods prints what get found in the requested format.
func printPods(stdout, stderr io.Writer, found []corev1.Pod, opts getOptions, ns string, now time.Time) error {
	switch opts.output {
	case "json", "yaml":
		if len(opts.names) > 0 && len(found) == 0 {
			return nil // only errors to show
		}
		return printPodObjects(stdout, opts.output, found, len(opts.names) == 1)
	case "name":
		return printPodNames(stdout, found)
	}
	if len(found) == 0 {
		if len(opts.names) == 0 {
			if ns == metav1.NamespaceAll {
				fmt.Fprintln(stderr, "No resources found")
			} else {
				fmt.Fprintf(stderr, "No resources found in %s namespace.\n", ns)
			}
		}
		return nil
	}
	return printPodTable(stdout, found, tableOptions{allNamespaces: opts.allNamespaces, wide: opts.output == "wide"}, now)
}
