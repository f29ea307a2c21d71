package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"podbox.dev/podbox/pod"
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
	cells = append(cells, pod.TableRow(p, opts.wide, now)...)
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
