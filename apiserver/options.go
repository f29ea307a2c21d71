package apiserver

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The options of writes (CreateOptions, UpdateOptions, PatchOptions,
// DeleteOptions) are decoded from the query (and, for a delete, the body)
// with apimachinery's generated conversions and validated with its
// validation, as the API server's handlers do: an unknown dryRun value, say,
// is the same 422 Invalid error naming CreateOptions.meta.k8s.io.

// withOptions decodes and validates a write's options before handing them
// to m; a request whose options are refused does not reach it.
func withOptions[O any](m mutation[O], decode func(*http.Request) (*O, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		opts, err := decode(r)
		if err != nil {
			writeError(w, err)
			return
		}
		m(w, r, opts)
	}
}

// isDryRun reports whether validated options ask for a dry run: dryRun
// holds only "All" then, which means every stage is dry.
func isDryRun(dryRun []string) bool {
	return slices.Contains(dryRun, metav1.DryRunAll)
}

func createOptions(r *http.Request) (*metav1.CreateOptions, error) {
	opts := &metav1.CreateOptions{}
	q := r.URL.Query()
	if err := metav1.Convert_url_Values_To_v1_CreateOptions(&q, opts, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return opts, invalidOptions("CreateOptions", metav1validation.ValidateCreateOptions(opts))
}

func updateOptions(r *http.Request) (*metav1.UpdateOptions, error) {
	opts := &metav1.UpdateOptions{}
	q := r.URL.Query()
	if err := metav1.Convert_url_Values_To_v1_UpdateOptions(&q, opts, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return opts, invalidOptions("UpdateOptions", metav1validation.ValidateUpdateOptions(opts))
}

// patchOptions are a patch's options and its type, from the Content-Type.
type patchOptions struct {
	metav1.PatchOptions
	Type types.PatchType
}

// servedPatchTypes are the patch types podbox applies: not server-side
// apply, whose field ownership it does not track.
var servedPatchTypes = []types.PatchType{types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType}

// decodePatchOptions reads a patch's type, refusing one that is not served
// with 415 before looking at the options, in the API server's order.
func decodePatchOptions(r *http.Request) (*patchOptions, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	opts := &patchOptions{Type: types.PatchType(mediaType)}
	if !slices.Contains(servedPatchTypes, opts.Type) {
		accepted := make([]string, len(servedPatchTypes))
		for i, t := range servedPatchTypes {
			accepted[i] = string(t)
		}
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
			"the body of the request was in an unknown format - accepted media types include: "+strings.Join(accepted, ", "), 0, false)
	}
	q := r.URL.Query()
	if err := metav1.Convert_url_Values_To_v1_PatchOptions(&q, &opts.PatchOptions, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return opts, invalidOptions("PatchOptions", metav1validation.ValidatePatchOptions(&opts.PatchOptions, opts.Type))
}

// maxDeleteOptions bounds a DeleteOptions body.
const maxDeleteOptions = 1 << 20

// deleteOptions reads DeleteOptions from the query and then the body
// (kubectl and client-go send a body; curl users the query), the body
// winning for a field both set.
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	q := r.URL.Query()
	if err := metav1.Convert_url_Values_To_v1_DeleteOptions(&q, opts, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDeleteOptions))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, opts); err != nil {
			return nil, apierrors.NewBadRequest("DeleteOptions: " + err.Error())
		}
	}
	return opts, invalidOptions("DeleteOptions", metav1validation.ValidateDeleteOptions(opts))
}

// invalidOptions is the API server's error for options that fail
// validation, or nil.
func invalidOptions(kind string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: kind}, "", errs)
}
