package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/jsonpath"
)

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait for pods to reach a condition, a field value, or to be deleted",
		ArgsUsage: "pods NAME... | pod/NAME... | pods -l SELECTOR | pods --all",
		Description: "Like kubectl wait: returns once every pod meets the condition, printing\n" +
			"pod/NAME condition met for each, or fails after --timeout.\n\n" +
			"Examples:\n" +
			"  podbox wait --for=condition=Ready pod/web\n" +
			"  podbox wait --for=condition=Ready=false pods -l app=web --timeout=60s\n" +
			"  podbox wait --for=jsonpath='{.status.phase}'=Succeeded pod/job\n" +
			"  podbox wait --for=delete pod/web --timeout=2m\n" +
			"  podbox wait --for=create pod/web",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "for", Usage: "condition=NAME[=VALUE], jsonpath='{PATH}'[=VALUE], delete or create"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up after this long (0: check once, negative: a week)"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "the pods whose labels match this selector"},
			&cli.BoolFlag{Name: "all", Usage: "every pod in the namespace"},
		},
		Action: func(c *cli.Context) error {
			opts, err := parseWaitArgs(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return runWait(c.Context, cl.pods, opts, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// waitOptions is a parsed wait invocation.
type waitOptions struct {
	namespace string
	names     []string
	selector  labels.Selector
	all       bool
	cond      waitCondition
	timeout   time.Duration
}

// waitCondition is a parsed --for.
type waitCondition struct {
	// kind is "condition", "jsonpath", "delete" or "create".
	kind string
	// condition is the condition type and value (condition=Ready=true).
	condition string
	value     string
	// path is the jsonpath; hasValue is false for a path that only has to
	// exist (jsonpath='{.status.podIP}').
	path     *jsonpath.JSONPath
	pathText string
	hasValue bool
}

func parseWaitArgs(c *cli.Context) (waitOptions, error) {
	opts := waitOptions{namespace: c.String("namespace"), all: c.Bool("all"), timeout: c.Duration("timeout")}
	if opts.timeout < 0 {
		opts.timeout = 7 * 24 * time.Hour
	}
	sel, err := selectorFlag(c)
	if err != nil {
		return opts, err
	}
	opts.selector = sel
	if opts.cond, err = parseFor(c.String("for")); err != nil {
		return opts, err
	}
	names, err := podArgs(c.Args().Slice())
	if err != nil {
		return opts, err
	}
	selected := opts.all || !opts.selector.Empty()
	switch {
	case c.NArg() == 0:
		return opts, usageErrorf(c, "resource(s) must be specified: podbox wait --for=condition=Ready pod/NAME")
	case len(names) > 0 && selected:
		return opts, fmt.Errorf("names cannot be given together with --all or a selector")
	case len(names) == 0 && !selected:
		return opts, fmt.Errorf("resource(s) were provided, but no name was specified")
	case selected && opts.cond.kind == "create":
		return opts, fmt.Errorf("--for=create needs pod names")
	}
	opts.names = names
	return opts, nil
}

// parseFor reads --for the way kubectl does.
func parseFor(s string) (waitCondition, error) {
	switch {
	case s == "":
		return waitCondition{}, errors.New("--for must be specified: condition=NAME[=VALUE], jsonpath='{PATH}'[=VALUE], delete or create")
	case strings.EqualFold(s, "delete"):
		return waitCondition{kind: "delete"}, nil
	case strings.EqualFold(s, "create"):
		return waitCondition{kind: "create"}, nil
	case strings.HasPrefix(s, "condition="):
		name, value, ok := strings.Cut(strings.TrimPrefix(s, "condition="), "=")
		if !ok {
			value = "true"
		}
		if name == "" {
			return waitCondition{}, fmt.Errorf("invalid --for %q: condition name is empty", s)
		}
		return waitCondition{kind: "condition", condition: name, value: value}, nil
	case strings.HasPrefix(s, "jsonpath="):
		expr, value, hasValue := splitJSONPathFor(strings.TrimPrefix(s, "jsonpath="))
		rel, err := relaxedJSONPath(expr)
		if err != nil {
			return waitCondition{}, fmt.Errorf("invalid --for %q: %w", s, err)
		}
		jp := jsonpath.New("wait").AllowMissingKeys(true)
		if err := jp.Parse(rel); err != nil {
			return waitCondition{}, fmt.Errorf("invalid --for %q: %v", s, err)
		}
		return waitCondition{kind: "jsonpath", path: jp, pathText: rel, value: value, hasValue: hasValue}, nil
	}
	return waitCondition{}, fmt.Errorf("unrecognized condition: %q", s)
}

// splitJSONPathFor splits `{.status.phase}=Running` (or `.status.phase=
// Running`) into path and value; the value may itself contain '='.
func splitJSONPathFor(s string) (path, value string, hasValue bool) {
	if strings.HasPrefix(s, "{") {
		if end := strings.Index(s, "}"); end >= 0 {
			path, rest := s[:end+1], s[end+1:]
			if v, ok := strings.CutPrefix(rest, "="); ok {
				return path, v, true
			}
			return path, "", false
		}
	}
	path, value, hasValue = strings.Cut(s, "=")
	return path, value, hasValue
}

// met reports whether a pod meets a condition other than delete or create.
func (w waitCondition) met(p *corev1.Pod) (bool, error) {
	switch w.kind {
	case "create":
		return true, nil
	case "condition":
		for _, c := range p.Status.Conditions {
			if strings.EqualFold(string(c.Type), w.condition) {
				return strings.EqualFold(string(c.Status), w.value), nil
			}
		}
		return false, nil
	case "jsonpath":
		data, err := unstructured(withTypeMeta(*p))
		if err != nil {
			return false, err
		}
		results, err := w.path.FindResults(data)
		if err != nil {
			return false, err
		}
		if len(results) == 0 || len(results[0]) == 0 {
			return false, nil
		}
		if len(results) > 1 || len(results[0]) > 1 {
			return false, fmt.Errorf("given jsonpath expression matches more than one value")
		}
		if !w.hasValue {
			return true, nil
		}
		return valueString(results[0][0]) == w.value, nil
	}
	return false, nil
}

// runWait waits for each pod in turn, all within one timeout, printing
// pod/NAME condition met as each is.
func runWait(ctx context.Context, pods podsGetter, opts waitOptions, stdout, stderr io.Writer) error {
	api := pods.Pods(opts.namespace)
	names := opts.names
	if len(names) == 0 {
		list, err := api.List(ctx, metav1.ListOptions{LabelSelector: opts.selector.String()})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if opts.selector.Matches(labels.Set(p.Labels)) {
				names = append(names, p.Name)
			}
		}
		if len(names) == 0 {
			return errors.New("no matching resources found")
		}
	}
	deadline, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	for _, name := range names {
		if err := waitFor(ctx, deadline, api, name, opts.cond); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("timed out waiting for the condition on pods/%s", name)
			}
			return err
		}
		fmt.Fprintf(stdout, "pod/%s condition met\n", name)
	}
	return nil
}

// waitFor watches one pod until it meets the condition or deadline ends.
// The watch starts at the version the pod was read at, so no change is
// missed in between. The pod is always read once, even when the deadline
// has passed (--timeout=0 checks once).
func waitFor(ctx, deadline context.Context, api podInterface, name string, cond waitCondition) error {
	var uid string
	for {
		p, err := api.Get(ctx, name, metav1.GetOptions{})
		rv := ""
		switch {
		case apierrors.IsNotFound(err):
			if cond.kind == "delete" {
				return nil
			}
			if cond.kind != "create" {
				return err
			}
		case err != nil:
			return err
		default:
			if cond.kind == "delete" {
				if uid != "" && string(p.UID) != uid {
					return nil // deleted and created again meanwhile
				}
				uid = string(p.UID)
			} else if ok, err := cond.met(p); err != nil || ok {
				return err
			}
			rv = p.ResourceVersion
		}
		if deadline.Err() != nil {
			return deadline.Err()
		}
		done, err := watchUntil(deadline, api, name, rv, uid, cond)
		if done || err != nil {
			return err
		}
		// The watch ended early (the server closed it): look again.
	}
}

// watchUntil follows one pod's watch until the condition holds (true), the
// watch ends (false) or ctx does.
func watchUntil(ctx context.Context, api podInterface, name, rv, uid string, cond waitCondition) (bool, error) {
	w, err := api.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
	if err != nil {
		return false, err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			if ev.Type == watch.Error {
				return false, apierrors.FromObject(ev.Object)
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Name != name {
				continue
			}
			switch {
			case cond.kind == "delete":
				if ev.Type == watch.Deleted && (uid == "" || string(p.UID) == uid) {
					return true, nil
				}
			case ev.Type == watch.Deleted:
				if cond.kind == "create" {
					continue
				}
				return false, apierrors.NewNotFound(corev1.Resource("pods"), name)
			default:
				if ok, err := cond.met(p); err != nil || ok {
					return true, err
				}
			}
		}
	}
}
