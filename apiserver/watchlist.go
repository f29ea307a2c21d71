package apiserver

import (
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Watch-list (KEP-3157, sendInitialEvents): a client asks one watch for the
// current objects followed by the changes, instead of a list and then a
// watch. client-go's reflectors do so by default since 1.35 (the
// WatchListClient feature), and so kubectl wait, delete (which waits) and
// rollout status, and every informer: such a client counts as synced only
// when a BOOKMARK annotated k8s.io/initial-events-end arrives, and reopens a
// watch without it forever. The options are read, defaulted and validated
// with apimachinery's own code, as the API server with its WatchList
// feature on does: a watch from "" or "0" is a watch-list too, and
// sendInitialEvents requires resourceVersionMatch=NotOlderThan.

// watchOptions reads a watch's options, refusing invalid combinations with
// the API server's 422 naming ListOptions.
func watchOptions(r *http.Request) (*metainternalversion.ListOptions, error) {
	var v1opts metav1.ListOptions
	q := r.URL.Query()
	if err := metav1.Convert_url_Values_To_v1_ListOptions(&q, &v1opts, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	opts := &metainternalversion.ListOptions{}
	if err := metainternalversion.Convert_v1_ListOptions_To_internalversion_ListOptions(&v1opts, opts, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	opts.Watch = true // also for the older form, GET pods/NAME?watch=true
	const watchListEnabled = true
	metainternalversion.SetListOptionsDefaults(opts, watchListEnabled)
	return opts, invalidOptions("ListOptions", metainternalversionvalidation.ValidateListOptions(opts, watchListEnabled))
}

// bookmarkEvent is a BOOKMARK at version rv: an object of the watched kind
// with only its resourceVersion, and for the end of the initial events the
// annotation that says so.
func bookmarkEvent(rv string, initialEnd bool) watchEvent {
	p := &corev1.Pod{}
	p.APIVersion, p.Kind = "v1", "Pod"
	p.ResourceVersion = rv
	if initialEnd {
		p.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	return watchEvent{Type: watch.Bookmark, Object: p}
}
