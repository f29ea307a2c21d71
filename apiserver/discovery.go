package apiserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Discovery: what clients read before anything else to learn which
// resources exist and what they can do with them (kubectl maps `get po` to
// pods through it, `kubectl top` looks for metrics.k8s.io in it, informers
// and k9s list it). Both forms the API server has are served, from the
// table of served resources and nothing else:
//
//   - legacy: /api (APIVersions), /api/v1 and /apis/G/V (APIResourceList),
//     /apis (APIGroupList), /apis/G (APIGroup), which the Python client
//     and older tools read;
//   - aggregated (apidiscovery.k8s.io/v2 APIGroupDiscoveryList, every
//     resource of every group in one answer at /api and one at /apis),
//     which client-go ≥ 1.30 asks for first in its Accept header; it reads
//     the legacy documents when the Content-Type says they are what it got.
//
// The documents are built once, when the server is; nothing changes them.

// aggregatedDiscovery is the media type of aggregated discovery, which the
// client asks for and the server names in Content-Type.
const aggregatedDiscovery = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// routeDiscovery serves the discovery documents of rs.
func (s *Server) routeDiscovery(rs []apiResource) {
	var groups []*groupDiscovery // core first, then by name
	byGV := map[schema.GroupVersion]*groupDiscovery{}
	for i := range rs {
		gv := rs[i].gv
		g := byGV[gv]
		if g == nil {
			g = &groupDiscovery{gv: gv}
			byGV[gv] = g
			groups = append(groups, g)
		}
		g.resources = append(g.resources, &rs[i])
	}
	slices.SortFunc(groups, func(a, b *groupDiscovery) int { return strings.Compare(a.gv.Group, b.gv.Group) })

	// Each group serves one version: it is the preferred one.
	var core *groupDiscovery
	apis := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	aggregatedAPIs := newGroupDiscoveryList()
	for _, g := range groups {
		s.mux.HandleFunc("GET "+g.resources[0].prefix(), serveJSON(g.resourceList()))
		if g.gv.Group == "" {
			core = g
			continue
		}
		group := g.apiGroup()
		apis.Groups = append(apis.Groups, *group)
		aggregatedAPIs.Items = append(aggregatedAPIs.Items, g.aggregated())
		s.mux.HandleFunc("GET /apis/"+g.gv.Group, serveJSON(group))
	}
	s.mux.HandleFunc("GET /apis", negotiateDiscovery(apis, aggregatedAPIs))
	if core != nil {
		versions := &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{core.gv.Version},
			// The address clients should use depends on how they came
			// (unix socket or loopback); they already know it.
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{},
		}
		aggregatedCore := newGroupDiscoveryList()
		aggregatedCore.Items = append(aggregatedCore.Items, core.aggregated())
		s.mux.HandleFunc("GET /api", negotiateDiscovery(versions, aggregatedCore))
	}
}

// groupDiscovery is one served group version and its resources.
type groupDiscovery struct {
	gv        schema.GroupVersion
	resources []*apiResource
}

func (g *groupDiscovery) apiGroup() *metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: g.gv.String(), Version: g.gv.Version}
	return &metav1.APIGroup{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:     g.gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v,
	}
}

// resourceList is the legacy document of the group version: each resource
// then each of its subresources ("pods/exec"), by name, as the API server
// lists them.
func (g *groupDiscovery) resourceList() *metav1.APIResourceList {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList"}, GroupVersion: g.gv.String()}
	if g.gv.Group != "" {
		list.APIVersion = "v1"
	}
	for _, res := range g.resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.name, SingularName: res.singular, Namespaced: res.namespaced, Kind: res.kind,
			Verbs: res.verbs(), ShortNames: res.shortNames, Categories: res.categories,
		})
		for _, sub := range res.subresources {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.name + "/" + sub.name, Namespaced: res.namespaced, Kind: sub.kind, Verbs: sub.verbs(),
			})
		}
	}
	slices.SortFunc(list.APIResources, func(a, b metav1.APIResource) int { return strings.Compare(a.Name, b.Name) })
	return list
}

// aggregated is the group's entry in aggregated discovery. A responseKind
// leaves group and version empty when they are the resource's own, as the
// API server's documents do.
func (g *groupDiscovery) aggregated() apidiscoveryv2.APIGroupDiscovery {
	v := apidiscoveryv2.APIVersionDiscovery{Version: g.gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	for _, res := range g.resources {
		scope := apidiscoveryv2.ScopeCluster
		if res.namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		d := apidiscoveryv2.APIResourceDiscovery{
			Resource: res.name, SingularResource: res.singular, Scope: scope,
			ResponseKind: &metav1.GroupVersionKind{Kind: res.kind},
			Verbs:        res.verbs(), ShortNames: res.shortNames, Categories: res.categories,
		}
		for _, sub := range res.subresources {
			d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource: sub.name, ResponseKind: &metav1.GroupVersionKind{Kind: sub.kind}, Verbs: sub.verbs(),
			})
		}
		v.Resources = append(v.Resources, d)
	}
	slices.SortFunc(v.Resources, func(a, b apidiscoveryv2.APIResourceDiscovery) int { return strings.Compare(a.Resource, b.Resource) })
	return apidiscoveryv2.APIGroupDiscovery{
		ObjectMeta: metav1.ObjectMeta{Name: g.gv.Group},
		Versions:   []apidiscoveryv2.APIVersionDiscovery{v},
	}
}

func newGroupDiscoveryList() *apidiscoveryv2.APIGroupDiscoveryList {
	return &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: apidiscoveryv2.SchemeGroupVersion.String()},
		Items:    []apidiscoveryv2.APIGroupDiscovery{},
	}
}

func serveJSON(doc any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, doc) }
}

// negotiateDiscovery answers with the aggregated document to a client that
// asks for it before plain JSON, and with the legacy one otherwise.
func negotiateDiscovery(legacy, aggregated any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The answer depends on Accept: caches must key on it.
		w.Header().Set("Vary", "Accept")
		if !wantsAggregated(r.Header.Get("Accept")) {
			writeJSON(w, http.StatusOK, legacy)
			return
		}
		w.Header().Set("Content-Type", aggregatedDiscovery)
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(aggregated)
	}
}

// wantsAggregated reports whether the first media type in accept that the
// server can produce is aggregated discovery v2 (with or without the
// nopeer profile: podbox has no peer servers), as the API server's
// negotiation picks the first acceptable type (client-go sends no
// q-values).
func wantsAggregated(accept string) bool {
	for _, a := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(a))
		if err != nil {
			continue
		}
		switch {
		case mt == "application/json" && params["as"] == "APIGroupDiscoveryList":
			if params["g"] == apidiscoveryv2.SchemeGroupVersion.Group && params["v"] == apidiscoveryv2.SchemeGroupVersion.Version {
				return true
			}
		case mt == "application/json" && params["as"] == "", mt == "application/*", mt == "*/*":
			return false
		}
	}
	return false
}
