package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"podbox.dev/podbox/objects"
)

// Option configures a Server.
type Option func(*Server)

// WithObjects serves the ConfigMaps and Secrets of store under their
// Kubernetes paths (/api/v1/[namespaces/NS/]configmaps, .../secrets).
// Without it those paths are not found, as on a server without the resource.
func WithObjects(store *objects.Store) Option {
	return func(s *Server) { s.objects = store }
}

// maxObjectBody bounds a ConfigMap or Secret request body: the data limit
// plus room for metadata and base64 (which grows data by a third).
const maxObjectBody = 3 << 20

// objectAPI is how one kind of stored object, T, is read and written: the
// Store's methods as method expressions, so that a dry-run request can run
// them on the store's dry-run view.
type objectAPI[T any] struct {
	list   func(s *objects.Store, namespace string) ([]T, error)
	get    func(s *objects.Store, namespace, name string) (*T, error)
	create func(s *objects.Store, obj *T) (*T, error)
	update func(s *objects.Store, obj *T) (*T, error)
}

// objectResource completes res, a resource kept in store, with its verbs:
// list (in all namespaces and one), get, create (POST), replace (PUT) and
// delete.
func objectResource[T any, P interface {
	*T
	metav1.Object
}](res apiResource, store *objects.Store, api objectAPI[T]) apiResource {
	// view is the store a write goes to: its dry-run view for dryRun=All.
	view := func(dryRun []string) *objects.Store {
		if isDryRun(dryRun) {
			return store.DryRun()
		}
		return store
	}
	res.list = func(w http.ResponseWriter, r *http.Request) {
		listObjects[T, P](w, r, res.kind, func(ns string) ([]T, error) { return api.list(store, ns) })
	}
	res.get = func(w http.ResponseWriter, r *http.Request) {
		obj, err := api.get(store, r.PathValue("ns"), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeObject(w, http.StatusOK, res.kind, obj)
	}
	res.create = func(w http.ResponseWriter, r *http.Request, opts *metav1.CreateOptions) {
		obj, err := readObject[T, P](r, res.kind, "")
		if err == nil {
			obj, err = api.create(view(opts.DryRun), obj)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeObject(w, http.StatusCreated, res.kind, obj)
	}
	res.update = func(w http.ResponseWriter, r *http.Request, opts *metav1.UpdateOptions) {
		obj, err := readObject[T, P](r, res.kind, r.PathValue("name"))
		if err == nil {
			obj, err = api.update(view(opts.DryRun), obj)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeObject(w, http.StatusOK, res.kind, obj)
	}
	res.delete = func(w http.ResponseWriter, r *http.Request, opts *metav1.DeleteOptions) {
		name := r.PathValue("name")
		obj, err := api.get(store, r.PathValue("ns"), name)
		if err == nil {
			err = view(opts.DryRun).Delete(objects.Ref{Resource: objects.Resource(res.name), Namespace: r.PathValue("ns"), Name: name})
		}
		if err != nil {
			writeError(w, err)
			return
		}
		// As the API server: a Success Status naming what was deleted.
		writeJSON(w, http.StatusOK, &metav1.Status{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
			Status:   metav1.StatusSuccess,
			Details:  &metav1.StatusDetails{Name: name, Kind: res.name, UID: P(obj).GetUID()},
		})
	}
	return res
}

// listObjects answers a list, honouring labelSelector as the API server
// does.
func listObjects[T any, P interface {
	*T
	metav1.Object
}](w http.ResponseWriter, r *http.Request, kind string, list func(namespace string) ([]T, error)) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err)))
		return
	}
	items, err := list(r.PathValue("ns"))
	if err != nil {
		writeError(w, err)
		return
	}
	kept := make([]T, 0, len(items))
	for i := range items {
		if sel.Matches(labels.Set(P(&items[i]).GetLabels())) {
			kept = append(kept, items[i])
		}
	}
	for i := range kept {
		// List items carry no apiVersion/kind, as the API server's.
		clearTypeMeta(any(&kept[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"apiVersion": "v1",
		"kind":       kind + "List",
		"metadata":   metav1.ListMeta{},
		"items":      kept,
	})
}

// readObject decodes a request body holding one T strictly (an unknown field
// is an error, as with fieldValidation=Strict). apiVersion and kind may be
// left out but, if set, must be v1 and kind. A body naming another namespace
// than the path, or (for PUT) another name, is refused as the API server
// refuses it.
func readObject[T any, P interface {
	*T
	metav1.Object
}](r *http.Request, kind, name string) (*T, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxObjectBody+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if len(body) > maxObjectBody {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxObjectBody))
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(body, &tm); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %v", kind, err))
	}
	if (tm.APIVersion != "" && tm.APIVersion != "v1") || (tm.Kind != "" && tm.Kind != kind) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request was in an unknown format: expected apiVersion v1, kind %s; got %s, %s", kind, tm.APIVersion, tm.Kind))
	}
	obj := new(T)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version \"v1\" cannot be handled as a %s: strict decoding error: %v", kind, kind, err))
	}
	meta := P(obj)
	ns := r.PathValue("ns")
	if meta.GetNamespace() == "" {
		meta.SetNamespace(ns)
	}
	if meta.GetNamespace() != ns {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if name != "" && meta.GetName() != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", meta.GetName(), name))
	}
	return obj, nil
}

func writeObject(w http.ResponseWriter, code int, kind string, obj any) {
	if o, ok := obj.(interface {
		GetObjectKind() schema.ObjectKind
	}); ok {
		o.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	}
	writeJSON(w, code, obj)
}

func clearTypeMeta(obj any) {
	if o, ok := obj.(interface {
		GetObjectKind() schema.ObjectKind
	}); ok {
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	}
}
