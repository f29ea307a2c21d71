package apiserver

import (
	"mime"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// Pods and pod lists go out as Kubernetes' protobuf encoding to a client that
// asks for it first in its Accept header, as the podbox CLI does (and
// client-go can), and as JSON otherwise. Decoding JSON is most of what a
// `podbox get pods` of 100 pods costs the CLI (the reflection caches of the
// Pod types alone take milliseconds to build in every new process); the
// generated protobuf code needs no reflection. Everything else (errors,
// events, ConfigMaps, Secrets, watch streams) stays JSON, which the client
// tells apart by the Content-Type, as it does with kube-apiserver.

// protobufEncoder writes the protobuf wire form: the "k8s\x00" magic and a
// runtime.Unknown envelope whose type meta is the object's GVK. Encoding
// needs neither a creater nor a typer.
var protobufEncoder = protobuf.NewSerializer(nil, nil)

// wantsProtobuf reports whether the client prefers protobuf: the first media
// type of its Accept header that the server can produce decides, as in
// kube-apiserver's negotiation (without q-values, which client-go does not
// send).
func wantsProtobuf(r *http.Request) bool {
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(a))
		if err != nil {
			continue
		}
		switch mt {
		case runtime.ContentTypeProtobuf:
			return true
		case runtime.ContentTypeJSON, "application/*", "*/*":
			return false
		}
	}
	return false
}

// writeNegotiated writes a Pod or PodList, whose apiVersion and kind are set,
// in the encoding the client asked for.
func writeNegotiated(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	if !wantsProtobuf(r) {
		writeJSON(w, code, obj)
		return
	}
	w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
	w.WriteHeader(code)
	_ = protobufEncoder.Encode(obj, w)
}

// writePod answers with one pod.
func writePod(w http.ResponseWriter, r *http.Request, code int, p *corev1.Pod) {
	p.APIVersion, p.Kind = "v1", "Pod"
	writeNegotiated(w, r, code, p)
}
