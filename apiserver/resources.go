package apiserver

import (
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"podbox.dev/podbox/objects"
)

// The served resources. Every resource podbox serves is one entry of the
// table Server.resources returns: its names and kind as discovery lists
// them, and the handler of each verb it implements. The router registers
// exactly those handlers and discovery lists exactly those verbs, so what a
// client discovers is what it can call, and a resource added to the table
// is both routed and discovered.

// apiResource is one served resource.
type apiResource struct {
	gv         schema.GroupVersion
	name       string // plural, as in paths: "pods"
	singular   string // "" where the real server lists none (metrics.k8s.io)
	kind       string
	namespaced bool
	shortNames []string
	categories []string

	// The verbs: a nil handler is a verb not served. list serves the
	// collection (for a namespaced resource, in one namespace and in
	// all); watch marks list and get as also serving watch=true, which
	// they refuse otherwise.
	list   http.HandlerFunc
	watch  bool
	get    http.HandlerFunc
	create mutation[metav1.CreateOptions]
	update mutation[metav1.UpdateOptions]
	patch  mutation[patchOptions]
	delete mutation[metav1.DeleteOptions]

	subresources []subresource
}

// mutation handles a write whose options the router has decoded and
// validated as the API server does. Every write receives its options, among
// them dryRun, which it must honour (isDryRun) or refuse: a write that
// ignored dryRun=All would change what `kubectl diff` only asked about.
type mutation[O any] func(w http.ResponseWriter, r *http.Request, opts *O)

// subresource is a connect-style subresource of one object (pods/exec):
// get serves GET, create POST.
type subresource struct {
	name        string
	kind        string // the options kind the real server lists (PodExecOptions)
	get, create http.HandlerFunc
}

// resources is the table of what the server serves.
func (s *Server) resources() []apiResource {
	core := corev1.SchemeGroupVersion
	rs := []apiResource{
		{
			gv: core, name: "pods", singular: "pod", kind: "Pod", namespaced: true,
			shortNames: []string{"po"}, categories: []string{"all"},
			list: s.listPods, watch: true, get: s.getPod, create: s.createPod, patch: s.patchPod, delete: s.deletePod,
			subresources: []subresource{
				{name: "attach", kind: "PodAttachOptions", get: s.podAttach, create: s.podAttach},
				{name: "exec", kind: "PodExecOptions", get: s.podExec, create: s.podExec},
				{name: "log", kind: "Pod", get: s.podLogs},
				// SPDY only, which client-go's port-forward POSTs; the
				// WebSocket tunnel (GET) is not served.
				{name: "portforward", kind: "PodPortForwardOptions", create: s.podPortForward},
			},
		},
		{
			gv: core, name: "events", singular: "event", kind: "Event", namespaced: true, shortNames: []string{"ev"},
			list: s.listEvents,
		},
		{
			gv: core, name: "persistentvolumeclaims", singular: "persistentvolumeclaim", kind: "PersistentVolumeClaim",
			namespaced: true, shortNames: []string{"pvc"},
			list: s.listClaims, get: s.getClaim, delete: s.deleteClaim,
		},
		{
			gv: metricsv1beta1.SchemeGroupVersion, name: "pods", kind: "PodMetrics", namespaced: true,
			list: s.listPodMetrics, get: s.getPodMetrics,
		},
	}
	if s.objects != nil {
		rs = append(rs,
			objectResource(apiResource{gv: core, name: string(objects.ConfigMaps), singular: "configmap", kind: "ConfigMap",
				namespaced: true, shortNames: []string{"cm"}}, s.objects, objectAPI[corev1.ConfigMap]{
				list:   (*objects.Store).ConfigMaps,
				get:    (*objects.Store).ConfigMap,
				create: (*objects.Store).CreateConfigMap,
				update: (*objects.Store).UpdateConfigMap,
			}),
			objectResource(apiResource{gv: core, name: string(objects.Secrets), singular: "secret", kind: "Secret",
				namespaced: true}, s.objects, objectAPI[corev1.Secret]{
				list:   (*objects.Store).Secrets,
				get:    (*objects.Store).Secret,
				create: (*objects.Store).CreateSecret,
				update: (*objects.Store).UpdateSecret,
			}),
		)
	}
	return rs
}

// routeResources registers every served resource's handlers, and
// discovery of them all.
func (s *Server) routeResources() {
	rs := s.resources()
	for i := range rs {
		rs[i].route(s.mux)
	}
	s.routeDiscovery(rs)
}

// prefix is the path of the resource's group version: /api/v1 for the
// core group, /apis/GROUP/VERSION for the others.
func (res *apiResource) prefix() string {
	if res.gv.Group == "" {
		return "/api/" + res.gv.Version
	}
	return "/apis/" + res.gv.Group + "/" + res.gv.Version
}

// route registers the resource's handlers on their Kubernetes paths.
func (res *apiResource) route(mux *http.ServeMux) {
	collection := res.prefix() + "/" + res.name
	if res.namespaced {
		collection = res.prefix() + "/namespaces/{ns}/" + res.name
	}
	item := collection + "/{name}"
	if res.list != nil {
		list := res.watchable(res.list)
		mux.HandleFunc("GET "+collection, list)
		if res.namespaced {
			mux.HandleFunc("GET "+res.prefix()+"/"+res.name, list) // across namespaces
		}
	}
	if res.get != nil {
		mux.HandleFunc("GET "+item, res.watchable(res.get))
	}
	if res.create != nil {
		mux.HandleFunc("POST "+collection, withOptions(res.create, createOptions))
	}
	if res.update != nil {
		mux.HandleFunc("PUT "+item, withOptions(res.update, updateOptions))
	}
	if res.patch != nil {
		mux.HandleFunc("PATCH "+item, withOptions(res.patch, decodePatchOptions))
	}
	if res.delete != nil {
		mux.HandleFunc("DELETE "+item, withOptions(res.delete, deleteOptions))
	}
	for _, sub := range res.subresources {
		if sub.get != nil {
			mux.HandleFunc("GET "+item+"/"+sub.name, sub.get)
		}
		if sub.create != nil {
			mux.HandleFunc("POST "+item+"/"+sub.name, sub.create)
		}
	}
}

// watchable refuses watch=true for a resource that cannot be watched, as
// the API server refuses a verb a resource lacks, rather than answering
// with something the client would read as a stream.
func (res *apiResource) watchable(h http.HandlerFunc) http.HandlerFunc {
	if res.watch {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if isWatch(r) {
			writeError(w, apierrors.NewMethodNotSupported(res.gv.WithResource(res.name).GroupResource(), "watch"))
			return
		}
		h(w, r)
	}
}

// verbs are the verbs the resource serves, in the API server's
// (alphabetical) order.
func (res *apiResource) verbs() []string {
	var v []string
	add := func(served bool, verb string) {
		if served {
			v = append(v, verb)
		}
	}
	add(res.create != nil, "create")
	add(res.delete != nil, "delete")
	add(res.get != nil, "get")
	add(res.list != nil, "list")
	add(res.patch != nil, "patch")
	add(res.update != nil, "update")
	add(res.watch && res.list != nil, "watch")
	return v
}

// verbs of a subresource: create is its POST, get its GET.
func (sub *subresource) verbs() []string {
	var v []string
	if sub.create != nil {
		v = append(v, "create")
	}
	if sub.get != nil {
		v = append(v, "get")
	}
	return v
}
