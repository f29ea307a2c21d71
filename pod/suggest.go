package pod

import (
	"reflect"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// unknownFieldRE finds the unknown-field complaints of apimachinery's
// strict decoding: `unknown field "spec.containers[0].imagee"`.
var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]*)"`)

// suggestFields adds to each unknown field in a strict decoding error the
// nearest valid field name at that place, found by walking the Go type of
// the decoded object along the field's JSON path, so the suggestions always
// match the k8s.io/api version podbox is built with:
//
//	unknown field "spec.containers[0].imagePullPolicyy" (did you mean "imagePullPolicy"?)
func suggestFields(msg string, root reflect.Type) string {
	if root == nil {
		return msg
	}
	return unknownFieldRE.ReplaceAllStringFunc(msg, func(m string) string {
		path := unknownFieldRE.FindStringSubmatch(m)[1]
		if s := nearestField(root, path); s != "" {
			return m + ` (did you mean "` + s + `"?)`
		}
		return m
	})
}

// podType is the Go type a Pod manifest decodes into.
var podType = reflect.TypeOf(corev1.Pod{})

// nearestField returns the valid JSON field name closest to the last
// element of path, among the fields of the struct the rest of path leads
// to; "" when path leads nowhere known or nothing is close.
func nearestField(t reflect.Type, path string) string {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		name, _, _ := strings.Cut(p, "[")
		f, ok := jsonFields(t)[name]
		if !ok {
			return ""
		}
		t = elem(f)
	}
	last, _, _ := strings.Cut(parts[len(parts)-1], "[")
	best, bestD := "", -1
	for name := range jsonFields(t) {
		d := distance(strings.ToLower(last), strings.ToLower(name))
		if bestD < 0 || d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	// Close enough to be a typo: a third of the name, at least two edits.
	if bestD < 0 || bestD > max(2, len(last)/3) {
		return ""
	}
	return best
}

// elem strips pointers, slices and maps down to the type whose fields a
// JSON path continues into.
func elem(t reflect.Type) reflect.Type {
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return t
		}
	}
}

// jsonFields maps the JSON names of a struct's fields to their types,
// flattening embedded and `json:",inline"` structs as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	t = elem(t)
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-":
			continue
		case name == "" && (f.Anonymous || strings.Contains(opts, "inline")):
			for n, ft := range jsonFields(f.Type) {
				out[n] = ft
			}
			continue
		case name == "":
			if !f.IsExported() {
				continue
			}
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
