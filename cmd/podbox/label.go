package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// metaKind is what label and annotate change: labels or annotations.
type metaKind struct {
	// field is the metadata field ("labels", "annotations"), noun the word
	// in messages ("label", "annotation").
	field, noun string
	// changed and removed are the verbs kubectl prints.
	changed, removed, unchanged string
	get                         func(*corev1.Pod) map[string]string
}

var (
	labelKind = metaKind{field: "labels", noun: "label", changed: "labeled", removed: "unlabeled", unchanged: "not labeled",
		get: func(p *corev1.Pod) map[string]string { return p.Labels }}
	annotationKind = metaKind{field: "annotations", noun: "annotation", changed: "annotated", removed: "annotated", unchanged: "annotated",
		get: func(p *corev1.Pod) map[string]string { return p.Annotations }}
)

func labelCommand() *cli.Command {
	return metaCommand(labelKind, "label", "add, change or remove labels of pods",
		"Like kubectl label: KEY=VALUE sets a label, KEY- removes it. Changing a label\n"+
			"that already has another value needs --overwrite. Labels change in place;\n"+
			"the pod keeps running.\n\n"+
			"Examples:\n"+
			"  podbox label pods web tier=frontend\n"+
			"  podbox label pod/web tier=backend --overwrite\n"+
			"  podbox label pods -l app=web canary-\n"+
			"  podbox label pods --all env=dev")
}

func annotateCommand() *cli.Command {
	return metaCommand(annotationKind, "annotate", "add, change or remove annotations of pods",
		"Like kubectl annotate: KEY=VALUE sets an annotation, KEY- removes it. Changing\n"+
			"an annotation that already has another value needs --overwrite.\n\n"+
			"Examples:\n"+
			"  podbox annotate pods web description='my frontend'\n"+
			"  podbox annotate pod/web description='the new frontend' --overwrite\n"+
			"  podbox annotate pods --all description-")
}

func metaCommand(kind metaKind, name, usage, description string) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   "pods NAME... KEY=VALUE... KEY-...",
		Description: description,
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.BoolFlag{Name: "overwrite", Usage: "allow changing a " + kind.noun + " that already has a value"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "the pods whose labels match this selector"},
			&cli.BoolFlag{Name: "all", Usage: "every pod in the namespace"},
			&cli.StringFlag{Name: "resource-version", Usage: "change only if the pod is still at this resourceVersion"},
		},
		Action: func(c *cli.Context) error {
			opts, err := parseMetaArgs(c, kind)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return runMeta(c.Context, cl.pods, opts, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// metaOptions is a parsed label or annotate invocation.
type metaOptions struct {
	kind      metaKind
	namespace string
	names     []string
	selector  labels.Selector
	all       bool
	overwrite bool
	rv        string
	set       map[string]string
	remove    []string
}

func parseMetaArgs(c *cli.Context, kind metaKind) (metaOptions, error) {
	opts := metaOptions{kind: kind, namespace: c.String("namespace"), all: c.Bool("all"),
		overwrite: c.Bool("overwrite"), rv: c.String("resource-version"), set: map[string]string{}}
	sel, err := selectorFlag(c)
	if err != nil {
		return opts, err
	}
	opts.selector = sel
	var resources []string
	for _, a := range c.Args().Slice() {
		switch {
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			if k == "" {
				return opts, fmt.Errorf("invalid %s spec: %s", kind.noun, a)
			}
			opts.set[k] = v
		case strings.HasSuffix(a, "-") && len(resources) > 0:
			opts.remove = append(opts.remove, strings.TrimSuffix(a, "-"))
		default:
			resources = append(resources, a)
		}
	}
	for _, k := range opts.remove {
		if _, ok := opts.set[k]; ok {
			return opts, fmt.Errorf("can not both modify and remove the following %s(s) in the same command: %s", kind.noun, k)
		}
	}
	if len(opts.set) == 0 && len(opts.remove) == 0 {
		return opts, usageErrorf(c, "at least one %s update is required", kind.noun)
	}
	if len(resources) == 0 {
		return opts, usageErrorf(c, "one or more resources must be specified as <resource> <name> or <resource>/<name>")
	}
	names, err := podArgs(resources)
	if err != nil {
		return opts, err
	}
	selected := opts.all || !opts.selector.Empty()
	switch {
	case len(names) > 0 && selected:
		return opts, fmt.Errorf("names cannot be given together with --all or a selector")
	case len(names) == 0 && !selected:
		return opts, fmt.Errorf("resource(s) were provided, but no name was specified")
	}
	opts.names = names
	return opts, nil
}

// runMeta changes the labels or annotations of each pod with a JSON merge
// patch (what kubectl sends), printing pod/NAME labeled (or unlabeled, not
// labeled, annotated) per pod.
func runMeta(ctx context.Context, pods podsGetter, opts metaOptions, stdout, stderr io.Writer) error {
	api := pods.Pods(opts.namespace)
	var targets []corev1.Pod
	failed := false
	if len(opts.names) > 0 {
		for _, n := range opts.names {
			p, err := api.Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				fmt.Fprintln(stderr, errorMessage(err))
				failed = true
				continue
			}
			targets = append(targets, *p)
		}
	} else {
		list, err := api.List(ctx, metav1.ListOptions{LabelSelector: opts.selector.String()})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if opts.selector.Matches(labels.Set(p.Labels)) {
				targets = append(targets, p)
			}
		}
		if len(targets) == 0 {
			noResources(stderr, opts.namespace)
		}
	}
	for _, p := range targets {
		msg, err := changeMeta(ctx, api, &p, opts, stdout)
		if err != nil {
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "pod/%s %s\n", p.Name, msg)
	}
	if failed {
		return errReported
	}
	return nil
}

func changeMeta(ctx context.Context, api podInterface, p *corev1.Pod, opts metaOptions, stdout io.Writer) (string, error) {
	cur := opts.kind.get(p)
	if !opts.overwrite {
		var taken []string
		for k, v := range opts.set {
			if old, ok := cur[k]; ok && old != v {
				taken = append(taken, fmt.Sprintf("'%s' already has a value (%s)", k, old))
			}
		}
		if len(taken) > 0 {
			slices.Sort(taken)
			if opts.kind.noun == "label" {
				return "", fmt.Errorf("%s, and --overwrite is false", strings.Join(taken, ", "))
			}
			return "", fmt.Errorf("--overwrite is false but found the following declared %s(s): %s", opts.kind.noun, strings.Join(taken, ", "))
		}
	}
	change := map[string]any{}
	for k, v := range opts.set {
		if old, ok := cur[k]; !ok || old != v {
			change[k] = v
		}
	}
	removed := false
	for _, k := range opts.remove {
		if _, ok := cur[k]; !ok {
			fmt.Fprintf(stdout, "%s %q not found.\n", opts.kind.noun, k)
			continue
		}
		change[k] = nil
		removed = true
	}
	if len(change) == 0 && opts.rv == "" {
		return opts.kind.unchanged, nil
	}
	meta := map[string]any{opts.kind.field: change}
	if opts.rv != "" {
		meta["resourceVersion"] = opts.rv
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return "", err
	}
	if _, err := api.Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return "", err
	}
	switch {
	case len(change) == 0:
		return opts.kind.unchanged, nil
	case removed && len(opts.set) == 0:
		return opts.kind.removed, nil
	}
	return opts.kind.changed, nil
}
