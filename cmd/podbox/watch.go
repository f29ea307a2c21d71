package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// watchGet is `get -w`: the list as get prints it (unless --watch-only),
// then one line (or object) per change, until interrupted or the server
// ends the watch. The watch continues from the list's resource version, so
// no change between the two is lost.
func watchGet(ctx context.Context, pods podsGetter, opts getOptions, stdout, stderr io.Writer, now func() time.Time) error {
	// One pod by name is listed and watched with a field selector, as
	// kubectl does, so the watch continues from the list's version.
	listOpts := opts
	if len(opts.names) == 1 {
		listOpts.names = nil
		listOpts.fieldSelector = fields.AndSelectors(opts.fieldSelector, fields.OneTermEqualSelector("metadata.name", opts.names[0]))
	}
	found, rv, _, err := fetchPods(ctx, pods, listOpts, stderr)
	if err != nil {
		return err
	}
	if len(opts.names) == 1 && len(found) == 0 {
		return apierrors.NewNotFound(corev1.Resource("pods"), opts.names[0])
	}
	if err := sortPods(found, opts.sortBy); err != nil {
		return err
	}
	p := &watchPrinter{w: stdout, opts: opts}
	if !opts.watchOnly {
		if err := p.print(watch.Added, found, now()); err != nil {
			return err
		}
	}

	lo := listOpts.listOptions()
	lo.ResourceVersion = rv
	w, err := pods.Pods(opts.listNamespace()).Watch(ctx, lo)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			if ev.Type == watch.Error {
				return apierrors.FromObject(ev.Object)
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || !listOpts.matches(pod) {
				continue
			}
			if err := p.print(ev.Type, []corev1.Pod{*pod}, now()); err != nil {
				return err
			}
		}
	}
}

// watchPrinter prints the pods of a watch as they come, each batch on its
// own (kubectl flushes its table after every event, so rows are aligned
// with each other only within one batch).
type watchPrinter struct {
	w       io.Writer
	opts    getOptions
	headed  bool // the table header was printed
	printed int  // objects printed so far (YAML documents need separators)
}

func (p *watchPrinter) print(t watch.EventType, pods []corev1.Pod, now time.Time) error {
	spec := p.opts.print
	switch spec.format {
	case "json", "yaml", "jsonpath":
		for i := range pods {
			var err error
			switch spec.format {
			case "jsonpath":
				err = printJSONPath(p.w, spec, withTypeMeta(pods[i]))
			case "yaml":
				if p.printed > 0 {
					fmt.Fprintln(p.w, "---")
				}
				err = printObject(p.w, "yaml", withTypeMeta(pods[i]))
			default:
				err = printObject(p.w, "json", withTypeMeta(pods[i]))
			}
			if err != nil {
				return err
			}
			p.printed++
		}
		return nil
	case "name":
		return printPodNames(p.w, pods)
	}
	if len(pods) == 0 {
		return nil
	}
	headers := !spec.noHeaders && !p.headed
	p.headed = true
	if spec.format == "custom-columns" {
		return printCustomColumns(p.w, pods, spec, headers)
	}
	topts := spec.tableOptions()
	tw := newTableWriter(p.w)
	if headers {
		h := podTableHeader(topts)
		if p.opts.watchEvents {
			h = append([]string{"EVENT"}, h...)
		}
		fmt.Fprintln(tw, strings.Join(h, "\t"))
	}
	for i := range pods {
		row := podTableRow(&pods[i], topts, now)
		if p.opts.watchEvents {
			row = append([]string{string(t)}, row...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
