package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podKind and podsResource name pods in errors.
var (
	podKind      = corev1.SchemeGroupVersion.WithKind("Pod").GroupKind()
	podsResource = corev1.Resource("pods")
)

// updatableFields is what the Forbidden error lists as changeable. A pod in
// a cluster may also change its images and a few scheduling fields in
// place; podbox restarts nothing in place, so only metadata qualifies.
const updatableFields = "pod updates may not change fields other than `metadata.labels`,`metadata.annotations` " +
	"(podbox changes no spec field of an existing pod; `podbox apply` replaces the pod instead)"

// patchPod serves PATCH .../pods/NAME with the patch types kubectl sends:
// JSON merge patch (label, annotate), strategic merge patch (apply) and JSON
// patch. Only labels and annotations may change; a patch that changes the
// spec or other metadata is refused as the API server refuses it, and a
// change to status is ignored, as the API server ignores status in an update
// of the main resource. A dry run answers the pod the patch would make.
func (s *Server) patchPod(w http.ResponseWriter, r *http.Request, opts *patchOptions) {
	patch, err := io.ReadAll(io.LimitReader(r.Body, 3<<20))
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	ns, name := r.PathValue("ns"), r.PathValue("name")
	change := func(cur *corev1.Pod) (*corev1.Pod, error) { return applyPatch(cur, opts.Type, patch) }
	var updated *corev1.Pod
	if isDryRun(opts.DryRun) {
		updated, err = dryRunUpdateMetadata(s.sup, ns, name, change)
	} else {
		updated, err = s.sup.UpdateMetadata(ns, name, change)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writePod(w, r, http.StatusOK, updated)
}

// dryRunUpdateMetadata answers what sup.UpdateMetadata would: the pod with
// the labels and annotations change gives it, not stored.
func dryRunUpdateMetadata(sup Supervisor, ns, name string, change func(*corev1.Pod) (*corev1.Pod, error)) (*corev1.Pod, error) {
	cur, err := sup.Get(ns, name)
	if err != nil {
		return nil, err
	}
	want, err := change(cur.DeepCopy())
	if err != nil {
		return nil, err
	}
	cur.Labels, cur.Annotations = want.Labels, want.Annotations
	return cur, nil
}

// applyPatch returns cur with the patch applied, after checking that only
// labels and annotations change.
func applyPatch(cur *corev1.Pod, pt types.PatchType, patch []byte) (*corev1.Pod, error) {
	cur = cur.DeepCopy()
	cur.APIVersion, cur.Kind = "v1", "Pod"
	original, err := json.Marshal(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch pt {
	case types.JSONPatchType:
		var p jsonpatch.Patch
		if p, err = jsonpatch.DecodePatch(patch); err == nil {
			patched, err = p.Apply(original)
		}
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(original, patch)
	case types.StrategicMergePatchType:
		patched, err = strategicpatch.StrategicMergePatch(original, patch, corev1.Pod{})
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the patch could not be applied: %v", err))
	}
	var want, was corev1.Pod
	if err := json.Unmarshal(patched, &want); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the patched pod is not a valid Pod: %v", err))
	}
	// Compared with the pod as it went through JSON too, which keeps
	// timestamps to the second only.
	if err := json.Unmarshal(original, &was); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if rv := want.ResourceVersion; rv != "" && rv != cur.ResourceVersion {
		return nil, apierrors.NewConflict(podsResource, cur.Name,
			fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
	}
	if errs := checkUpdate(&was, &want); len(errs) > 0 {
		return nil, apierrors.NewInvalid(podKind, cur.Name, errs)
	}
	return &want, nil
}

// checkUpdate validates the new labels and annotations and refuses changes to
// anything else but status.
func checkUpdate(cur, want *corev1.Pod) field.ErrorList {
	meta := field.NewPath("metadata")
	errs := metav1validation.ValidateLabels(want.Labels, meta.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(want.Annotations, meta.Child("annotations"))...)
	if !equality.Semantic.DeepEqual(cur.Spec, want.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), updatableFields))
	}
	a, b := fixedMeta(cur.ObjectMeta), fixedMeta(want.ObjectMeta)
	if !equality.Semantic.DeepEqual(a, b) {
		errs = append(errs, field.Forbidden(meta, "podbox lets a patch change only `metadata.labels` and `metadata.annotations` of a pod"))
	}
	return errs
}

// fixedMeta is the metadata a patch must leave alone: all but labels,
// annotations, the resource version (a precondition, checked separately)
// and managed fields (which podbox does not track).
func fixedMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	m.Labels, m.Annotations, m.ResourceVersion, m.ManagedFields = nil, nil, "", nil
	return m
}

// checkPreconditions refuses a deletion meant for another incarnation of the
// pod (apply deletes the pod it read by UID, so it never deletes a newer one
// of the same name) or another version of it.
func (s *Server) checkPreconditions(ns, name string, pre *metav1.Preconditions) error {
	if pre == nil || (pre.UID == nil && pre.ResourceVersion == nil) {
		return nil
	}
	p, err := s.sup.Get(ns, name)
	if err != nil {
		return err
	}
	if pre.UID != nil && *pre.UID != p.UID {
		return apierrors.NewConflict(podsResource, name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *pre.UID, p.UID))
	}
	if pre.ResourceVersion != nil && *pre.ResourceVersion != p.ResourceVersion {
		return apierrors.NewConflict(podsResource, name,
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *pre.ResourceVersion, p.ResourceVersion))
	}
	return nil
}
