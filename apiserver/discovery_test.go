package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"podbox.dev/podbox/objects"
)

// discoveryServer serves the whole API (pods, objects, claims, metrics) for
// discovery; nothing in these tests reaches the supervisor.
func discoveryServer(t *testing.T) *httptest.Server {
	t.Helper()
	store, err := objects.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(newFakePods(), Version{}, WithObjects(store)))
	t.Cleanup(srv.Close)
	return srv
}

// wantResources is what podbox serves, as discovery must list it: verbs
// are the ones the routes implement (no update or deletecollection of pods,
// no watch but of pods), names, kinds and short names as kube-apiserver and
// metrics-server list them.
var wantResources = map[string][]metav1.APIResource{
	"v1": {
		{Name: "configmaps", SingularName: "configmap", Namespaced: true, Kind: "ConfigMap", ShortNames: []string{"cm"},
			Verbs: []string{"create", "delete", "get", "list", "update"}},
		{Name: "events", SingularName: "event", Namespaced: true, Kind: "Event", ShortNames: []string{"ev"},
			Verbs: []string{"list"}},
		{Name: "persistentvolumeclaims", SingularName: "persistentvolumeclaim", Namespaced: true, Kind: "PersistentVolumeClaim",
			ShortNames: []string{"pvc"}, Verbs: []string{"delete", "get", "list"}},
		{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", ShortNames: []string{"po"}, Categories: []string{"all"},
			Verbs: []string{"create", "delete", "get", "list", "patch", "watch"}},
		{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
		{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
		{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: []string{"get"}},
		{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: []string{"create"}},
		{Name: "secrets", SingularName: "secret", Namespaced: true, Kind: "Secret",
			Verbs: []string{"create", "delete", "get", "list", "update"}},
	},
	"metrics.k8s.io/v1beta1": {
		{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: []string{"get", "list"}},
	},
}

// TestDiscovery reads the API's discovery as client-go does: aggregated
// (what client-go asks for first) and legacy (/api, /api/v1, /apis,
// /apis/G/V, what older clients and the Python client read) must both list
// exactly the served resources.
func TestDiscovery(t *testing.T) {
	srv := discoveryServer(t)
	for _, legacy := range []bool{false, true} {
		dc := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
		dc.UseLegacyDiscovery = legacy
		groups, lists, err := dc.ServerGroupsAndResources()
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		var names []string
		for _, g := range groups {
			names = append(names, g.Name+"="+g.PreferredVersion.GroupVersion)
		}
		if want := []string{"=v1", "metrics.k8s.io=metrics.k8s.io/v1beta1"}; !slices.Equal(names, want) {
			t.Errorf("legacy=%v: groups %v, want %v", legacy, names, want)
		}
		got := map[string][]metav1.APIResource{}
		for _, l := range lists {
			rs := slices.Clone(l.APIResources)
			slices.SortFunc(rs, func(a, b metav1.APIResource) int { return strings.Compare(a.Name, b.Name) })
			got[l.GroupVersion] = rs
		}
		if want := expectedResources(legacy); !reflect.DeepEqual(got, want) {
			a, _ := json.MarshalIndent(got, "", " ")
			t.Errorf("legacy=%v: resources\n%s", legacy, a)
		}
	}
}

// expectedResources is wantResources as client-go reports it: from
// aggregated discovery, a subresource carries its parent's singular name
// (discovery.convertAPISubresource), from legacy discovery none.
func expectedResources(legacy bool) map[string][]metav1.APIResource {
	out := map[string][]metav1.APIResource{}
	for gv, rs := range wantResources {
		rs = slices.Clone(rs)
		singular := map[string]string{}
		for i, r := range rs {
			parent, _, sub := strings.Cut(r.Name, "/")
			if !sub {
				singular[parent] = r.SingularName
			} else if !legacy {
				rs[i].SingularName = singular[parent]
			}
		}
		out[gv] = rs
	}
	return out
}

// TestDiscoveryRESTMapper maps what a user types (kubectl get po) to the
// served kinds, through client-go's discovery-backed RESTMapper.
func TestDiscoveryRESTMapper(t *testing.T) {
	srv := discoveryServer(t)
	dc := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dc, nil)
	for in, want := range map[string]string{
		"po": "/v1, Kind=Pod", "pods": "/v1, Kind=Pod", "pod": "/v1, Kind=Pod",
		"cm": "/v1, Kind=ConfigMap", "secrets": "/v1, Kind=Secret", "ev": "/v1, Kind=Event",
		"pvc": "/v1, Kind=PersistentVolumeClaim",
	} {
		gvk, err := mapper.KindFor(schema.GroupVersionResource{Resource: in})
		if err != nil || gvk.String() != want {
			t.Errorf("%s: %v, %v; want %s", in, gvk, err, want)
		}
	}
	gvk, err := mapper.KindFor(schema.GroupVersionResource{Group: "metrics.k8s.io", Resource: "pods"})
	if err != nil || gvk.String() != "metrics.k8s.io/v1beta1, Kind=PodMetrics" {
		t.Errorf("metrics pods: %v, %v", gvk, err)
	}
}

// TestDiscoveryDocuments checks the legacy documents as they go on the wire,
// including those client-go does not read (/apis/G).
func TestDiscoveryDocuments(t *testing.T) {
	srv := discoveryServer(t)
	for path, want := range map[string]string{
		"/api":                 `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[]}`,
		"/apis/metrics.k8s.io": `{"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io","versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}`,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var got, exp any
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s %v", path, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		_ = json.Unmarshal([]byte(want), &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s = %v\nwant %v", path, got, exp)
		}
	}
	for _, path := range []string{"/apis/apps", "/apis/apps/v1", "/apis/metrics.k8s.io/v1"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestUnservedWatch: a resource without watch refuses watch=true as the API
// server refuses a verb a resource lacks (405 MethodNotSupported), instead
// of answering with a list the client would take for a stream.
func TestUnservedWatch(t *testing.T) {
	srv := discoveryServer(t)
	for _, path := range []string{"/api/v1/namespaces/default/configmaps", "/api/v1/secrets", "/api/v1/namespaces/default/events",
		"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"} {
		resp, err := http.Get(srv.URL + path + "?watch=true")
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || st.Reason != metav1.StatusReasonMethodNotAllowed {
			t.Errorf("%s?watch=true: %d %+v", path, resp.StatusCode, st)
		}
	}
}
