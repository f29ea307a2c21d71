package pod

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// podGVK is the kind podbox runs.
var podGVK = corev1.SchemeGroupVersion.WithKind("Pod")

// Kinds is a set of kinds a decoder accepts; its list kinds (PodList,
// ConfigMapList, ...) and kind List are accepted with them.
type Kinds []schema.GroupVersionKind

// PodKinds is what Decode accepts: Pods only.
var PodKinds = Kinds{podGVK}

// ManifestKinds are the kinds `podbox apply` accepts. A kind added here
// (PersistentVolumeClaim, say) must be in the scheme (all of core/v1 is) and
// be handled by apply, which creates the objects pods refer to before pods.
var ManifestKinds = Kinds{
	podGVK,
	corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	corev1.SchemeGroupVersion.WithKind("Secret"),
	// PersistentVolumeClaim goes here when podbox serves it.
}

func (k Kinds) has(gvk schema.GroupVersionKind) bool {
	for _, x := range k {
		if x == gvk {
			return true
		}
	}
	return false
}

// hasList reports whether gvk is the list kind (<Kind>List) of one of k.
func (k Kinds) hasList(gvk schema.GroupVersionKind) bool {
	kind, ok := strings.CutSuffix(gvk.Kind, "List")
	return ok && kind != "" && k.has(gvk.GroupVersion().WithKind(kind))
}

// String names the kinds for messages: "Pod" or "Pod, ConfigMap and Secret".
func (k Kinds) String() string {
	names := make([]string, len(k))
	for i, x := range k {
		names[i] = x.Kind
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// codecs are the scheme and the serializers Decode uses, built on first
// use: registering core/v1 takes about 1.5 ms, which every podbox command
// would otherwise pay at start, whether it decodes a manifest or not.
var codecs = sync.OnceValue(newCodecs)

type codecSet struct {
	// scheme knows core/v1 only: Pod, List and PodList are all podbox
	// accepts, and registering nothing else means anything else cannot slip
	// through.
	scheme *runtime.Scheme
	// yaml and json decode strictly, like an API server with
	// fieldValidation=Strict, so a typo in a field name is an error and not
	// a silently ignored setting. YAML and JSON get their own serializer
	// because the YAML one also reports duplicate keys the way YAML does.
	yaml, json *kjson.Serializer
}

func newCodecs() codecSet {
	s := newScheme()
	return codecSet{
		scheme: s,
		yaml:   kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s, kjson.SerializerOptions{Yaml: true, Strict: true}),
		json:   kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s, kjson.SerializerOptions{Yaml: false, Strict: true}),
	}
}

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
	objs, err := DecodeObjects(data, source, PodKinds)
	if err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, len(objs))
	for i, o := range objs {
		pods[i] = o.(*corev1.Pod) // PodKinds admits nothing else
	}
	return pods, nil
}

// DecodeObjects is Decode for the given kinds: it returns the objects in
// input order (Lists flattened), each a typed core/v1 object (*corev1.Pod,
// *corev1.ConfigMap, ...) with its TypeMeta set. A kind outside kinds is an
// error naming the kind and the kinds accepted.
func DecodeObjects(data []byte, source string, kinds Kinds) ([]runtime.Object, error) {
	// A syntax error part way through a JSON stream still lets the
	// documents before it be checked first, so errors come in input order.
	docs, splitErr := splitDocuments(data)
	var objs []runtime.Object
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
		got, err := decodeObject(d.raw, j, d.isJSON, kinds, 0)
		if ie := (*itemError)(nil); errors.As(err, &ie) {
			return nil, fmt.Errorf("%s (document %d, %s): %w", source, n, ie.loc, ie.err)
		} else if err != nil {
			return nil, fmt.Errorf("%s (document %d): %w", source, n, err)
		}
		objs = append(objs, got...)
	}
	if splitErr != nil {
		return nil, fmt.Errorf("%s (document %d): %w", source, n+1, splitErr)
	}
	if len(objs) == 0 {
		if len(kinds) == 1 {
			return nil, fmt.Errorf("%s: no %s found: podbox runs kind %s (apiVersion v1) and the input has no documents", source, kinds[0].Kind, kinds[0].Kind)
		}
		return nil, fmt.Errorf("%s: no objects found: podbox accepts kinds %s (apiVersion v1) and the input has no documents", source, kinds)
	}
	return objs, nil
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
// original syntax and j as JSON, into objects of kinds.
func decodeObject(raw, j []byte, isJSON bool, kinds Kinds, depth int) ([]runtime.Object, error) {
	t := bytes.TrimSpace(j)
	if len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not an object: a manifest must be a mapping with apiVersion, kind, metadata and spec")
	}
	gvk, err := kjson.DefaultMetaFactory.Interpret(j)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	expect := "Pod"
	if len(kinds) > 1 {
		expect = "one of " + kinds.String()
	}
	switch {
	case gvk.Kind == "" && gvk.Version == "":
		return nil, fmt.Errorf(`apiVersion and kind are not set: podbox expects "apiVersion: v1" and "kind: %s"`, expect)
	case gvk.Kind == "":
		return nil, fmt.Errorf(`kind is not set: podbox expects "kind: %s"`, expect)
	case gvk.Version == "":
		return nil, fmt.Errorf(`apiVersion is not set for kind %s: podbox expects "apiVersion: v1"`, gvk.Kind)
	}
	ser := codecs().yaml
	if isJSON {
		ser = codecs().json
	}
	isList := *gvk == corev1.SchemeGroupVersion.WithKind("List")
	if !kinds.has(*gvk) && !kinds.hasList(*gvk) && !isList {
		return nil, fmt.Errorf("%s", unsupportedKind(*gvk, kinds))
	}
	if isList && depth >= maxListDepth {
		return nil, fmt.Errorf("Lists nested more than %d deep", maxListDepth)
	}
	// Strict decoding of a List itself catches misspelt top-level fields
	// (and, for YAML, duplicate keys anywhere in the document); its items
	// are raw JSON and get their own strict decode below.
	obj, _, err := ser.Decode(raw, nil, nil)
	if err != nil {
		return nil, errors.New(suggestFields(err.Error(), goType(*gvk)))
	}
	if kinds.has(*gvk) {
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
		return []runtime.Object{obj}, nil
	}
	if !isList {
		// A typed list (PodList, ConfigMapList ...): its items are typed.
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", gvk.Kind, err)
		}
		itemGVK := gvk.GroupVersion().WithKind(strings.TrimSuffix(gvk.Kind, "List"))
		for _, it := range items {
			it.GetObjectKind().SetGroupVersionKind(itemGVK)
		}
		return items, nil
	}
	l, ok := obj.(*corev1.List)
	if !ok {
		return nil, fmt.Errorf("decoded %T instead of a List", obj)
	}
	var objs []runtime.Object
	for i, item := range l.Items {
		if isEmptyJSON(item.Raw) {
			return nil, &itemError{loc: fmt.Sprintf("items[%d]", i), err: errors.New("empty item")}
		}
		got, err := decodeObject(item.Raw, item.Raw, true, kinds, depth+1)
		loc := fmt.Sprintf("items[%d]", i)
		if ie := (*itemError)(nil); errors.As(err, &ie) {
			return nil, &itemError{loc: loc + "." + ie.loc, err: ie.err}
		} else if err != nil {
			return nil, &itemError{loc: loc, err: err}
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func unsupportedKind(gvk schema.GroupVersionKind, kinds Kinds) string {
	msg := fmt.Sprintf("kind %s (%s) is not supported: podbox runs kind Pod (apiVersion v1)", gvk.Kind, gvk.GroupVersion().String())
	if len(kinds) > 1 {
		msg = fmt.Sprintf("kind %s (%s) is not supported: podbox supports kinds %s (apiVersion v1)", gvk.Kind, gvk.GroupVersion().String(), kinds)
	}
	switch {
	case kinds.has(corev1.SchemeGroupVersion.WithKind(gvk.Kind)):
		msg += `; set "apiVersion: v1"`
	case gvk.Kind == "CronJob":
		msg += "; to run its pod template, copy the metadata and spec of spec.jobTemplate.spec.template into a manifest with apiVersion: v1 and kind: Pod"
	case templateKinds[gvk.Kind]:
		msg += "; to run its pod template, copy the metadata and spec of spec.template into a manifest with apiVersion: v1 and kind: Pod"
	case len(kinds) == 1:
		msg += "; a file may hold several Pods as YAML documents separated by --- or as a kind: List"
	}
	return msg
}

// goType is the Go type objects of gvk decode into, for suggesting the
// nearest field name; nil when the scheme does not know gvk.
func goType(gvk schema.GroupVersionKind) reflect.Type {
	obj, err := codecs().scheme.New(gvk)
	if err != nil {
		return nil
	}
	return reflect.TypeOf(obj).Elem()
}
