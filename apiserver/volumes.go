package apiserver

import (
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The user's persistent volumes are served as PersistentVolumeClaim
// objects: list and get, and delete, which the supervisor refuses with 409
// Conflict while a pod uses the claim. Claims are created by the first pod
// that names one (one machine has no provisioner to bind a created claim
// to), so there is no create.

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

func (s *Server) deleteClaim(w http.ResponseWriter, r *http.Request, opts *metav1.DeleteOptions) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	pvc, err := s.sup.GetClaim(ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	remove := s.sup.DeleteClaim
	if isDryRun(opts.DryRun) {
		remove = s.sup.DryRunDeleteClaim
	}
	if err := remove(ns, name); err != nil {
		writeError(w, err)
		return
	}
	// Gone at once (no finalizer waits): the deleted object, as the API
	// server returns it.
	now := metav1.Now()
	pvc.DeletionTimestamp = &now
	writeJSON(w, http.StatusOK, pvc)
}
