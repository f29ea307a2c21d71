//go:build integration

package integration

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// The API as unmodified client-go code sees it: discovery, dry runs and
// watch-list informers against the real supervisor, over its socket.

// restConfig is a client-go configuration for the installation's socket,
// as any Go program would write one. Request bodies are JSON: the
// supervisor does not read protobuf, which the typed clientset sends by
// default.
func (e *env) restConfig() *rest.Config {
	sock := filepath.Join(e.runtime, "podbox", "podbox.sock")
	return &rest.Config{
		Host: "http://podbox",
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		ContentConfig: rest.ContentConfig{ContentType: "application/json"},
	}
}

func (e *env) clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(e.restConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestAPIDiscovery: client-go's discovery (aggregated first, and legacy as
// the Python client reads it) finds the served resources, and its
// RESTMapper maps what users type to kinds.
func TestAPIDiscovery(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		dc := discovery.NewDiscoveryClientForConfigOrDie(shared.restConfig())
		dc.UseLegacyDiscovery = legacy
		_, lists, err := dc.ServerGroupsAndResources()
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		found := map[string][]string{}
		for _, l := range lists {
			for _, r := range l.APIResources {
				found[l.GroupVersion+" "+r.Name] = r.Verbs
			}
		}
		for res, verbs := range map[string][]string{
			"v1 pods":                     {"create", "delete", "get", "list", "patch", "watch"},
			"v1 pods/exec":                {"create", "get"},
			"v1 pods/log":                 {"get"},
			"v1 configmaps":               {"create", "delete", "get", "list", "update"},
			"v1 secrets":                  {"create", "delete", "get", "list", "update"},
			"v1 events":                   {"list"},
			"v1 persistentvolumeclaims":   {"delete", "get", "list"},
			"metrics.k8s.io/v1beta1 pods": {"get", "list"},
		} {
			if !slices.Equal(found[res], verbs) {
				t.Errorf("legacy=%v: %s verbs %v, want %v", legacy, res, found[res], verbs)
			}
		}
	}
	dc := discovery.NewDiscoveryClientForConfigOrDie(shared.restConfig())
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dc, nil)
	for _, in := range []string{"po", "pods"} {
		gvk, err := mapper.KindFor(schema.GroupVersionResource{Resource: in})
		if err != nil || gvk != corev1.SchemeGroupVersion.WithKind("Pod") {
			t.Errorf("%s maps to %v, %v", in, gvk, err)
		}
	}
}

// TestAPIDryRunCreate: a pod created with dryRun=All (kubectl
// --dry-run=server, kubectl diff) is answered as created and never exists:
// no pod, no event, nothing started.
func TestAPIDryRunCreate(t *testing.T) {
	t.Parallel()
	pods := shared.clientset(t).CoreV1().Pods("apitest")
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dry"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: busyboxRef, Command: []string{"sleep", "1d"}}}}}
	got, err := pods.Create(t.Context(), p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID == "" || got.Status.Phase != corev1.PodPending {
		t.Errorf("dry-run answer: uid %q phase %q", got.UID, got.Status.Phase)
	}
	time.Sleep(time.Second) // what a started pod would do by now
	if _, err := pods.Get(t.Context(), "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the dry-run pod exists: %v", err)
	}
	if evs := shared.events(t, got.UID); len(evs) > 0 {
		t.Errorf("events about the dry-run pod: %+v", evs)
	}
	if procs := processesMentioning(string(got.UID)); len(procs) > 0 {
		t.Errorf("processes of the dry-run pod: %q", procs)
	}
}
