package pod

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// podGVK is the only kind podbox runs.
var podGVK = corev1.SchemeGroupVersion.WithKind("Pod")

var (
	// scheme knows core/v1 only: Pod, List and PodList are all podbox accepts,
	// and registering nothing else means anything else cannot slip through.
	scheme = newScheme()
	// yamlSerializer and jsonSerializer decode strictly, like an API server
	// with fieldValidation=Strict, so a typo in a field name is an error and
	// not a silently ignored setting. YAML and JSON get their own serializer
	// because the YAML one also reports duplicate keys the way YAML does.
	yamlSerializer = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	jsonSerializer = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: false, Strict: true})
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		// Only a programming error (a broken k8s.io/api) can get here.
		panic(fmt.Sprintf("pod: registering core/v1: %v", err))
	}
	return s
}

// templateKinds are workload kinds whose spec.template is a pod template; for
// them the error suggests copying the template, which is usually what the user
// wants when handing podbox a Deployment.
var templateKinds = map[string]bool{
	"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true,
	"ReplicationController": true, "Job": true, "PodTemplate": true,
}

// maxListDepth bounds List-in-List nesting so hostile input cannot make Decode
// recurse without limit.
const maxListDepth = 8

// Decode parses manifests (YAML or JSON; multi-document YAML separated by
// "---"; a stream of concatenated JSON objects; `kind: List` or `kind: PodList`
// with items) into Pods. source is the file name used in error messages ("-"
// for stdin).
//
// Decoding is strict: an unknown or duplicate field is an error naming the
// source, the document number and the JSON path, e.g.
//
//	pod.yaml (document 2): strict decoding error: unknown field "spec.containers[0].imagee"
//
// Documents are numbered from 1 counting only non-empty ones (a leading "---"
// or a document holding only comments does not shift the numbering). Items of a
// List are named "(document N, items[i])".
//
// A document whose kind is not Pod in apiVersion v1 is an error naming the kind
// and what podbox supports, and so is a document without apiVersion or kind.
// Input with no Pod at all is an error too, because a caller that asked to run
// a manifest and got nothing to run has almost certainly been given the wrong
// file. Every returned Pod has its TypeMeta set to v1/Pod.
func Decode(data []byte, source string) ([]*corev1.Pod, error) {
	// A syntax error part way through a JSON stream still lets the
	// documents before it be checked first, so errors come in input order.
	docs, splitErr := splitDocuments(data)
	var pods []*corev1.Pod
	n := 0
	for _, d := range docs {
		// The JSON form is only used to recognise empty documents and to
		// peek at apiVersion/kind; the strict decode below works from d.raw
		// so that duplicate YAML keys are still seen.
		j, err := toJSON(d)
		if err == nil && isEmptyJSON(j) {
			continue
		}
		n++
		if err != nil {
			return nil, fmt.Errorf("%s (document %d): %w", source, n, err)
		}
		got, err := decodeObject(d.raw, j, d.isJSON, 0)
		if ie := (*itemError)(nil); errors.As(err, &ie) {
			return nil, fmt.Errorf("%s (document %d, %s): %w", source, n, ie.loc, ie.err)
		} else if err != nil {
			return nil, fmt.Errorf("%s (document %d): %w", source, n, err)
		}
		pods = append(pods, got...)
	}
	if splitErr != nil {
		return nil, fmt.Errorf("%s (document %d): %w", source, n+1, splitErr)
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("%s: no Pod found: podbox runs kind Pod (apiVersion v1) and the input has no documents", source)
	}
	return pods, nil
}

// document is one manifest as it appeared in the input.
type document struct {
	raw    []byte
	isJSON bool
}

// splitDocuments cuts the input into documents. JSON input is read as a stream
// of values (kubectl accepts concatenated JSON objects); anything else is YAML,
// split on "---" lines. On error the documents read so far are returned too.
func splitDocuments(data []byte) ([]document, error) {
	if utilyaml.IsJSONBuffer(data) {
		dec := json.NewDecoder(bytes.NewReader(data))
		var docs []document
		for {
			var m json.RawMessage
			if err := dec.Decode(&m); err == io.EOF {
				return docs, nil
			} else if err != nil {
				return docs, fmt.Errorf("invalid JSON: %w", err)
			}
			docs = append(docs, document{raw: m, isJSON: true})
		}
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for {
		b, err := r.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, document{raw: b})
	}
}

func toJSON(d document) ([]byte, error) {
	if d.isJSON {
		return d.raw, nil
	}
	return yaml.YAMLToJSON(d.raw)
}

// isEmptyJSON reports whether a document converted to JSON holds nothing: an
// empty YAML document (or one with only comments) converts to null.
func isEmptyJSON(j []byte) bool {
	t := bytes.TrimSpace(j)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// itemError locates an error inside a List: loc is the path of the item, e.g.
// "items[2]" or "items[0].items[1]" for nested Lists.
type itemError struct {
	loc string
	err error
}

func (e *itemError) Error() string { return e.loc + ": " + e.err.Error() }
func (e *itemError) Unwrap() error { return e.err }

// decodeObject decodes one non-empty document (or List item), raw in its
// original syntax and j as JSON, into Pods.
func decodeObject(raw, j []byte, isJSON bool, depth int) ([]*corev1.Pod, error) {
	t := bytes.TrimSpace(j)
	if len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not an object: a manifest must be a mapping with apiVersion, kind, metadata and spec")
	}
	gvk, err := kjson.DefaultMetaFactory.Interpret(j)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	switch {
	case gvk.Kind == "" && gvk.Version == "":
		return nil, errors.New(`apiVersion and kind are not set: podbox expects "apiVersion: v1" and "kind: Pod"`)
	case gvk.Kind == "":
		return nil, errors.New(`kind is not set: podbox expects "kind: Pod"`)
	case gvk.Version == "":
		return nil, fmt.Errorf(`apiVersion is not set for kind %s: podbox expects "apiVersion: v1"`, gvk.Kind)
	}
	ser := yamlSerializer
	if isJSON {
		ser = jsonSerializer
	}
	switch *gvk {
	case podGVK:
		obj, _, err := ser.Decode(raw, nil, nil)
		if err != nil {
			return nil, errors.New(suggestFields(err.Error(), podType))
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, fmt.Errorf("decoded %T instead of a Pod", obj)
		}
		p.TypeMeta.APIVersion, p.TypeMeta.Kind = podGVK.GroupVersion().String(), podGVK.Kind
		return []*corev1.Pod{p}, nil
	case corev1.SchemeGroupVersion.WithKind("PodList"):
		obj, _, err := ser.Decode(raw, nil, nil)
		if err != nil {
			return nil, errors.New(suggestFields(err.Error(), reflect.TypeOf(corev1.PodList{})))
		}
		l, ok := obj.(*corev1.PodList)
		if !ok {
			return nil, fmt.Errorf("decoded %T instead of a PodList", obj)
		}
		pods := make([]*corev1.Pod, 0, len(l.Items))
		for i := range l.Items {
			p := &l.Items[i]
			p.TypeMeta.APIVersion, p.TypeMeta.Kind = podGVK.GroupVersion().String(), podGVK.Kind
			pods = append(pods, p)
		}
		return pods, nil
	case corev1.SchemeGroupVersion.WithKind("List"):
		if depth >= maxListDepth {
			return nil, fmt.Errorf("Lists nested more than %d deep", maxListDepth)
		}
		// Strict decoding of the List itself catches misspelt top-level
		// fields (and, for YAML, duplicate keys anywhere in the document);
		// items are raw JSON and get their own strict decode below.
		obj, _, err := ser.Decode(raw, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		l, ok := obj.(*corev1.List)
		if !ok {
			return nil, fmt.Errorf("decoded %T instead of a List", obj)
		}
		var pods []*corev1.Pod
		for i, item := range l.Items {
			if isEmptyJSON(item.Raw) {
				return nil, &itemError{loc: fmt.Sprintf("items[%d]", i), err: errors.New("empty item")}
			}
			got, err := decodeObject(item.Raw, item.Raw, true, depth+1)
			loc := fmt.Sprintf("items[%d]", i)
			if ie := (*itemError)(nil); errors.As(err, &ie) {
				return nil, &itemError{loc: loc + "." + ie.loc, err: ie.err}
			} else if err != nil {
				return nil, &itemError{loc: loc, err: err}
			}
			pods = append(pods, got...)
		}
		return pods, nil
	}
	return nil, fmt.Errorf("%s", unsupportedKind(*gvk))
}

func unsupportedKind(gvk schema.GroupVersionKind) string {
	msg := fmt.Sprintf("kind %s (%s) is not supported: podbox runs kind Pod (apiVersion v1)", gvk.Kind, gvk.GroupVersion().String())
	switch {
	case gvk.Kind == "Pod":
		msg += `; set "apiVersion: v1"`
	case gvk.Kind == "CronJob":
		msg += "; to run its pod template, copy the metadata and spec of spec.jobTemplate.spec.template into a manifest with apiVersion: v1 and kind: Pod"
	case templateKinds[gvk.Kind]:
		msg += "; to run its pod template, copy the metadata and spec of spec.template into a manifest with apiVersion: v1 and kind: Pod"
	default:
		msg += "; a file may hold several Pods as YAML documents separated by --- or as a kind: List"
	}
	return msg
}
