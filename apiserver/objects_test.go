package apiserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"podbox.dev/podbox/objects"
)

// objectClient serves a fresh object store and returns client-go's typed
// client for it, so the test speaks to the API exactly as the CLI does.
func objectClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	store, err := objects.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(nil, Version{}, WithObjects(store)))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestConfigMapAPI(t *testing.T) {
	ctx := context.Background()
	api := objectClient(t).CoreV1().ConfigMaps("default")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"tier": "web"}}, Data: map[string]string{"k": "v"}}
	created, err := api.Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.Namespace != "default" {
		t.Errorf("created = %+v", created.ObjectMeta)
	}
	if _, err := api.Create(ctx, cm, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) || err.Error() != `configmaps "app" already exists` {
		t.Errorf("second create = %v, want AlreadyExists", err)
	}
	if _, err := api.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) || err.Error() != `configmaps "nope" not found` {
		t.Errorf("get missing = %v", err)
	}

	// A stale resourceVersion is a conflict; the current one updates.
	stale := created.DeepCopy()
	stale.ResourceVersion = "1"
	if _, err := api.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale update = %v, want Conflict", err)
	}
	upd := created.DeepCopy()
	upd.Data["k"] = "v2"
	upd.Immutable = ptr(true)
	got, err := api.Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil || got.Data["k"] != "v2" || got.UID != created.UID {
		t.Fatalf("update = %+v, %v", got, err)
	}
	// Immutable now: data may not change.
	got.Data["k"] = "v3"
	_, err = api.Update(ctx, got, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "data: Forbidden: field is immutable when `immutable` is set") {
		t.Errorf("update of immutable = %v", err)
	}

	bad := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}, Data: map[string]string{"a b": "x"}, BinaryData: map[string][]byte{"c": nil}}
	bad.Data["c"] = "dup"
	_, err = api.Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("invalid create = %v", err)
	}
	for _, want := range []string{`ConfigMap "Bad_Name" is invalid`, "metadata.name: Invalid value", `data[a b]: Invalid value: "a b": a valid config key`, "data[c]: Invalid value: \"c\": duplicate of key present in binaryData"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("invalid create error %q lacks %q", err, want)
		}
	}
	big := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"a": strings.Repeat("x", objects.MaxSize), "b": "y"}}
	if _, err := api.Create(ctx, big, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Too long") {
		t.Errorf("oversized create = %v", err)
	}

	if _, err := objectClient(t).CoreV1().ConfigMaps("other").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"}}, metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("namespace mismatch = %v", err)
	}

	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: "tier=web"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "app" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if list, _ := api.List(ctx, metav1.ListOptions{LabelSelector: "tier=db"}); len(list.Items) != 0 {
		t.Errorf("selector not applied: %+v", list.Items)
	}
	if err := api.Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := api.Delete(ctx, "app", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("second delete = %v", err)
	}
}

func TestSecretAPI(t *testing.T) {
	ctx := context.Background()
	cs := objectClient(t)
	api := cs.CoreV1().Secrets("team")
	s, err := api.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": "hunter2"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["password"]) != "hunter2" || s.StringData != nil {
		t.Errorf("created = %+v", s)
	}
	s.Type = corev1.SecretTypeBasicAuth
	if _, err := api.Update(ctx, s, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "type: Invalid value") {
		t.Errorf("type change = %v", err)
	}
	_, err = api.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("c")}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "data[tls.key]: Required value") {
		t.Errorf("tls secret without key = %v", err)
	}
	all, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	if err != nil || len(all.Items) != 1 || all.Items[0].Namespace != "team" {
		t.Errorf("list all = %+v, %v", all, err)
	}
}

func ptr[T any](v T) *T { return &v }
