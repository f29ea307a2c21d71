package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// TestCoreAPI: the core/v1 client sends the requests client-go's typed client
// sends (paths, options as query parameters, the Accept header) and decodes
// protobuf and JSON answers and API errors.
func TestCoreAPI(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI()+" accept="+r.Header.Get("Accept"))
		switch {
		case r.URL.Path == "/api/v1/namespaces/team/pods":
			list := &corev1.PodList{Items: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team"}}}}
			list.APIVersion, list.Kind = "v1", "PodList"
			var b bytes.Buffer
			if err := protobuf.NewSerializer(nil, nil).Encode(list, &b); err != nil {
				t.Error(err)
			}
			w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
			w.Write(b.Bytes())
		case r.URL.Path == "/api/v1/namespaces/team/pods/web/log":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("hello\n"))
		case r.URL.Path == "/api/v1/namespaces/team/events":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"apiVersion":"v1","kind":"EventList","items":[{"metadata":{"name":"e1"},"reason":"Started"}]}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404,"message":"pods \"gone\" not found","details":{"name":"gone","kind":"pods"}}`))
		}
	}))
	defer srv.Close()
	cfg := restConfig("/nonexistent")
	cfg.Host, cfg.Dial = srv.URL, nil
	rc, err := newCoreREST(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := coreAPI{rest: rc}
	ctx := context.Background()

	list, err := api.Pods("team").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "web" {
		t.Fatalf("list: %v %+v", err, list)
	}
	logs, err := api.Pods("team").GetLogs("web", &corev1.PodLogOptions{Container: "c", Follow: true}).DoRaw(ctx)
	if err != nil || string(logs) != "hello\n" {
		t.Fatalf("logs: %v %q", err, logs)
	}
	events, err := api.Events("team").List(ctx, metav1.ListOptions{})
	if err != nil || len(events.Items) != 1 || events.Items[0].Reason != "Started" {
		t.Fatalf("events: %v %+v", err, events)
	}
	_, err = api.Pods("team").Get(ctx, "gone", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `pods "gone" not found` {
		t.Fatalf("get of a missing pod: %v", err)
	}

	const accept = " accept=application/vnd.kubernetes.protobuf,application/json"
	want := []string{
		"GET /api/v1/namespaces/team/pods?labelSelector=app%3Dweb" + accept,
		"GET /api/v1/namespaces/team/pods/web/log?container=c&follow=true" + accept,
		"GET /api/v1/namespaces/team/events" + accept,
		"GET /api/v1/namespaces/team/pods/gone" + accept,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
