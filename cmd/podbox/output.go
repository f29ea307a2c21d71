package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/jsonpath"
)

// outputFormats is kubectl's list of -o values, in its error message order.
const outputFormats = "custom-columns,custom-columns-file,json,jsonpath,jsonpath-file,name,wide,yaml"

// printSpec is how get prints pods: the -o format and the flags that shape
// a table.
type printSpec struct {
	// format is "" (the table), wide, json, yaml, name, jsonpath or
	// custom-columns.
	format string
	// template is the parsed -o jsonpath template, templateText its text.
	template     *jsonpath.JSONPath
	templateText string
	// columns are the parsed -o custom-columns.
	columns []customColumn
	// noHeaders drops the header line of tables.
	noHeaders bool
	// showLabels adds a LABELS column; labelColumns one column per key (-L).
	showLabels   bool
	labelColumns []string
	// allNamespaces adds the NAMESPACE column first.
	allNamespaces bool
}

// customColumn is one HEADER:.json.path column of -o custom-columns.
type customColumn struct {
	header string
	path   *jsonpath.JSONPath
}

// parseOutput reads the value of -o. readFile reads the file of
// custom-columns-file= and jsonpath-file= (os.ReadFile outside tests).
func parseOutput(o string, readFile func(string) ([]byte, error)) (printSpec, error) {
	format, arg, hasArg := strings.Cut(o, "=")
	spec := printSpec{format: format}
	switch format {
	case "", "wide", "json", "yaml", "name":
		if hasArg {
			return spec, unknownFormat(o)
		}
		return spec, nil
	case "jsonpath-file", "custom-columns-file":
		if arg == "" {
			return spec, fmt.Errorf("%s requires a file name (-o %s=FILE)", format, format)
		}
		data, err := readFile(arg)
		if err != nil {
			return spec, fmt.Errorf("error reading template %s, %v", arg, err)
		}
		arg = string(data)
		format = strings.TrimSuffix(format, "-file")
		spec.format = format
		if format == "custom-columns" {
			return spec, spec.parseColumnsFile(arg)
		}
	}
	switch format {
	case "jsonpath":
		if strings.TrimSpace(arg) == "" {
			return spec, errors.New("template format specified but no template given")
		}
		jp := jsonpath.New("out").AllowMissingKeys(true)
		if err := jp.Parse(arg); err != nil {
			return spec, fmt.Errorf("error parsing jsonpath %s, %v", arg, err)
		}
		spec.template, spec.templateText = jp, arg
		return spec, nil
	case "custom-columns":
		if arg == "" {
			return spec, errors.New("custom-columns format specified but no custom columns given")
		}
		return spec, spec.parseColumns(strings.Split(arg, ","), nil)
	}
	return spec, unknownFormat(o)
}

func unknownFormat(o string) error {
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: %s", o, outputFormats)
}

// parseColumns reads HEADER:PATH pairs; headers, when given separately
// (custom-columns-file), pair with paths by position.
func (s *printSpec) parseColumns(specs []string, headers []string) error {
	for i, col := range specs {
		header, path, ok := strings.Cut(col, ":")
		if headers != nil {
			header, path, ok = headers[i], col, true
		}
		if !ok || header == "" {
			return fmt.Errorf("unexpected custom-columns spec: %s, expected <header>:<json-path-expr>", col)
		}
		expr, err := relaxedJSONPath(path)
		if err != nil {
			return err
		}
		jp := jsonpath.New(header).AllowMissingKeys(true)
		if err := jp.Parse(expr); err != nil {
			return fmt.Errorf("error parsing jsonpath %s, %v", expr, err)
		}
		s.columns = append(s.columns, customColumn{header: header, path: jp})
	}
	return nil
}

// parseColumnsFile reads kubectl's custom-columns file: a line of headers
// and a line of JSON paths, separated by blanks.
func (s *printSpec) parseColumnsFile(text string) error {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 2 {
		return fmt.Errorf("unexpected custom-columns file: expected 2 lines (headers, JSON paths), got %d", len(lines))
	}
	headers, paths := strings.Fields(lines[0]), strings.Fields(lines[1])
	if len(headers) != len(paths) {
		return fmt.Errorf("expected %d JSON paths for the headers %v, got %d", len(headers), headers, len(paths))
	}
	return s.parseColumns(paths, headers)
}

var relaxedRE = regexp.MustCompile(`^\{?(\.?[^{}]*)\}?$`)

// relaxedJSONPath accepts a path the way custom-columns and --sort-by do:
// `.metadata.name`, `metadata.name` and `{.metadata.name}` all mean the
// template `{.metadata.name}`.
func relaxedJSONPath(path string) (string, error) {
	path = strings.TrimSpace(path)
	if path == "" {
		return "", errors.New("jsonpath expression cannot be empty")
	}
	m := relaxedRE.FindStringSubmatch(path)
	if m == nil {
		return "", fmt.Errorf("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'")
	}
	inner := m[1]
	if !strings.HasPrefix(inner, ".") {
		inner = "." + inner
	}
	return "{" + inner + "}", nil
}

// unstructured turns an API object into the generic JSON value kubectl's
// jsonpath printers work on.
func unstructured(obj any) (any, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	return out, dec.Decode(&out)
}

// printJSONPath executes the -o jsonpath template on obj, writing nothing
// else (no newline), as kubectl does.
func printJSONPath(w io.Writer, spec printSpec, obj any) error {
	data, err := unstructured(obj)
	if err != nil {
		return err
	}
	if err := spec.template.Execute(w, data); err != nil {
		return fmt.Errorf("error executing jsonpath %q: %v", spec.templateText, err)
	}
	return nil
}

// printCustomColumns writes pods as the -o custom-columns table: one value
// per column, several matches joined by commas, <none> when the path
// matches nothing.
func printCustomColumns(w io.Writer, pods []corev1.Pod, spec printSpec, headers bool) error {
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if headers {
		var hs []string
		for _, c := range spec.columns {
			hs = append(hs, c.header)
		}
		fmt.Fprintln(tw, strings.Join(hs, "\t"))
	}
	for i := range pods {
		data, err := unstructured(withTypeMeta(pods[i]))
		if err != nil {
			return err
		}
		var cells []string
		for _, c := range spec.columns {
			cell, err := columnValue(c.path, data)
			if err != nil {
				return err
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func columnValue(jp *jsonpath.JSONPath, data any) (string, error) {
	results, err := jp.FindResults(data)
	if err != nil {
		return "", err
	}
	var vals []string
	for _, set := range results {
		for _, v := range set {
			vals = append(vals, valueString(v))
		}
	}
	if len(vals) == 0 {
		return "<none>", nil
	}
	return strings.Join(vals, ","), nil
}

// valueString prints a JSON value as kubectl's column printer does: scalars
// as themselves, maps and lists in Go's %v form.
func valueString(v reflect.Value) string {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "<none>"
		}
		v = v.Elem()
	}
	return fmt.Sprintf("%v", v.Interface())
}

// sortPods orders pods by the value at a --sort-by path: numbers as
// numbers, everything else as text; pods without the field first. A path
// that no pod has is an error, as in kubectl.
func sortPods(pods []corev1.Pod, sortBy string) error {
	if sortBy == "" || len(pods) == 0 {
		return nil
	}
	expr, err := relaxedJSONPath(sortBy)
	if err != nil {
		return err
	}
	jp := jsonpath.New("sort-by").AllowMissingKeys(true)
	if err := jp.Parse(expr); err != nil {
		return fmt.Errorf("error parsing jsonpath %s, %v", expr, err)
	}
	type keyed struct {
		pod   corev1.Pod
		found bool
		num   *float64
		text  string
	}
	items := make([]keyed, len(pods))
	anyFound := false
	for i, p := range pods {
		items[i].pod = p
		data, err := unstructured(withTypeMeta(p))
		if err != nil {
			return err
		}
		results, err := jp.FindResults(data)
		if err != nil {
			return err
		}
		if len(results) == 0 || len(results[0]) == 0 {
			continue
		}
		v := results[0][0]
		for v.Kind() == reflect.Interface {
			v = v.Elem()
		}
		items[i].found, anyFound = true, true
		if n, ok := v.Interface().(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				items[i].num = &f
			}
		}
		items[i].text = valueString(v)
	}
	if !anyFound {
		return fmt.Errorf("couldn't find any field with path %q in the list of objects", expr)
	}
	slices.SortStableFunc(items, func(a, b keyed) int {
		switch {
		case a.found != b.found:
			if a.found {
				return 1
			}
			return -1
		case a.num != nil && b.num != nil:
			return cmp.Compare(*a.num, *b.num)
		}
		return cmp.Compare(a.text, b.text)
	})
	for i := range items {
		pods[i] = items[i].pod
	}
	return nil
}
