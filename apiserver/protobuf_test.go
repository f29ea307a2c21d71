package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// coreClient is a client-go core/v1 client of s accepting accept.
func coreClient(t *testing.T, f *fakePods, accept string) *typedcorev1.CoreV1Client {
	t.Helper()
	s := &Server{sup: f, mux: http.NewServeMux()}
	const pods = "/api/v1/namespaces/{ns}/pods"
	s.mux.HandleFunc("GET "+pods, s.listPods)
	s.mux.HandleFunc("GET "+pods+"/{name}", s.getPod)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := typedcorev1.NewForConfig(&rest.Config{Host: srv.URL,
		ContentConfig: rest.ContentConfig{ContentType: "application/json", AcceptContentTypes: accept}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestProtobufPods: a client that asks for protobuf first gets the same pods,
// the same list and the same errors as a JSON client.
func TestProtobufPods(t *testing.T) {
	f := newFakePods(
		testPod("default", "web", corev1.PodRunning, map[string]string{"app": "web"}),
		testPod("default", "db", corev1.PodPending, nil),
	)
	ctx := context.Background()
	pb := coreClient(t, f, "application/vnd.kubernetes.protobuf,application/json")
	js := coreClient(t, f, "application/json")

	pl, err := pb.Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jl, err := js.Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The fake lists in map order.
	byName := func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(pl.Items, byName)
	slices.SortFunc(jl.Items, byName)
	if len(pl.Items) != 2 || pl.ResourceVersion != "42" || !equality.Semantic.DeepEqual(pl, jl) {
		t.Errorf("protobuf list differs from JSON:\n%+v\n%+v", pl, jl)
	}

	pp, err := pb.Pods("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jp, err := js.Pods("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pp.Labels["app"] != "web" || !pp.CreationTimestamp.Equal(&jp.CreationTimestamp) || !equality.Semantic.DeepEqual(pp, jp) {
		t.Errorf("protobuf pod differs from JSON:\n%+v\n%+v", pp, jp)
	}

	_, err = pb.Pods("default").Get(ctx, "nope", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("missing pod with protobuf accepted: %v, want NotFound", err)
	}
}

// TestProtobufNegotiation: protobuf only for a client that prefers it.
func TestProtobufNegotiation(t *testing.T) {
	s := &Server{sup: newFakePods(testPod("default", "web", corev1.PodRunning, nil)), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods", s.listPods)
	for accept, want := range map[string]string{
		"":                 "application/json",
		"application/json": "application/json",
		"application/vnd.kubernetes.protobuf,application/json":  "application/vnd.kubernetes.protobuf",
		"application/vnd.kubernetes.protobuf, application/json": "application/vnd.kubernetes.protobuf",
		"application/json, application/vnd.kubernetes.protobuf": "application/json",
		"*/*": "application/json",
	} {
		req := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Type"); got != want || rec.Code != http.StatusOK {
			t.Errorf("Accept %q: %d %s, want 200 %s", accept, rec.Code, got, want)
		}
		if want == "application/vnd.kubernetes.protobuf" && string(rec.Body.Bytes()[:4]) != "k8s\x00" {
			t.Errorf("Accept %q: body does not start with the protobuf magic: %q", accept, rec.Body.Bytes()[:8])
		}
	}
}
