package apiserver

import (
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// routeClaims serves the user's persistent volumes as PersistentVolumeClaim
// objects: list and get, and delete, which the supervisor refuses with 409
// Conflict while a pod uses the claim. Claims are created by the first pod
// that names one (one machine has no provisioner to bind a created claim
// to), so there is no POST.
func (s *Server) routeClaims() {
	const ns = "/api/v1/namespaces/{ns}/persistentvolumeclaims"
	s.mux.HandleFunc("GET /api/v1/persistentvolumeclaims", s.listClaims)
	s.mux.HandleFunc("GET "+ns, s.listClaims)
	s.mux.HandleFunc("GET "+ns+"/{name}", s.getClaim)
	s.mux.HandleFunc("DELETE "+ns+"/{name}", s.deleteClaim)
}

func (s *Server) listClaims(w http.ResponseWriter, r *http.Request) {
	items, err := s.sup.ListClaims(r.PathValue("ns"))
	if err != nil {
		writeError(w, err)
		return
	}
	for i := range items {
		items[i].APIVersion, items[i].Kind = "", ""
	}
	list := &corev1.PersistentVolumeClaimList{Items: items}
	list.APIVersion, list.Kind = "v1", "PersistentVolumeClaimList"
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getClaim(w http.ResponseWriter, r *http.Request) {
	pvc, err := s.sup.GetClaim(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pvc)
}

func (s *Server) deleteClaim(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	pvc, err := s.sup.GetClaim(ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.sup.DeleteClaim(ns, name); err != nil {
		writeError(w, err)
		return
	}
	// Gone at once (no finalizer waits): the deleted object, as the API
	// server returns it.
	now := metav1.Now()
	pvc.DeletionTimestamp = &now
	writeJSON(w, http.StatusOK, pvc)
}
