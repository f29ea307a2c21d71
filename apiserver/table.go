package apiserver

import (
	"mime"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"podbox.dev/podbox/pod"
)

// wantsTable reports whether the client asked for a server-side Table, as
// kubectl get does (Accept: application/json;as=Table;v=v1;g=meta.k8s.io,
// then fallbacks). Only meta.k8s.io/v1 Tables are served; a client offering
// nothing else gets the objects, which kubectl prints with its own
// default printer.
func wantsTable(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" && params["as"] == "Table" && params["g"] == "meta.k8s.io" && params["v"] == "v1" {
			return true
		}
	}
	return false
}

// writePodTable answers with pods as a Table: kubectl's pod columns
// (pod.TableColumns, wide ones at priority 1) computed by pod.TableRow, the
// same cells podbox's own get prints, and each row's object as the request's
// includeObject asks (PartialObjectMetadata by default, as the API server).
func writePodTable(w http.ResponseWriter, r *http.Request, pods []corev1.Pod, rv string) {
	now := time.Now()
	include := metav1.IncludeMetadata
	if v := r.URL.Query().Get("includeObject"); v != "" {
		include = metav1.IncludeObjectPolicy(v)
	}
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"},
		ListMeta:          metav1.ListMeta{ResourceVersion: rv},
		ColumnDefinitions: pod.TableColumns,
		Rows:              []metav1.TableRow{},
	}
	for i := range pods {
		p := &pods[i]
		row := metav1.TableRow{}
		for _, c := range pod.TableRow(p, true, now) {
			row.Cells = append(row.Cells, c)
		}
		switch include {
		case metav1.IncludeObject:
			p.APIVersion, p.Kind = "v1", "Pod"
			row.Object = runtime.RawExtension{Object: p}
		case metav1.IncludeMetadata:
			row.Object = runtime.RawExtension{Object: &metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
				ObjectMeta: p.ObjectMeta,
			}}
		}
		t.Rows = append(t.Rows, row)
	}
	writeJSON(w, http.StatusOK, t)
}
