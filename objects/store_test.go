package objects

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSecretRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var changed []Ref
	s.Watch(func(r Ref) { changed = append(changed, r) })

	in := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Data:       map[string][]byte{"user": []byte("admin"), "password": []byte("old")},
		StringData: map[string]string{"password": "hunter2"},
	}
	out, err := s.CreateSecret(in)
	if err != nil {
		t.Fatalf("CreateSecret = %v", err)
	}
	if out.UID == "" || out.CreationTimestamp.IsZero() || out.ResourceVersion == "" {
		t.Errorf("identity not set: %+v", out.ObjectMeta)
	}
	got, err := s.Secret("default", "db")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["password"]) != "hunter2" || string(got.Data["user"]) != "admin" || got.StringData != nil {
		t.Errorf("stringData not merged into data: %v %v", got.Data, got.StringData)
	}
	if got.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", got.Type)
	}
	fi, err := os.Stat(filepath.Join(dir, "default", "secrets", "db.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode = %v, %v; want 0600", fi.Mode(), err)
	}

	if _, err := s.CreateSecret(in); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second CreateSecret = %v, want AlreadyExists", err)
	}
	again, err := s.UpdateSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"}})
	if err != nil {
		t.Fatalf("UpdateSecret = %v", err)
	}
	if again.UID != out.UID || !again.CreationTimestamp.Equal(&out.CreationTimestamp) {
		t.Errorf("update changed identity: %v -> %v", out.ObjectMeta, again.ObjectMeta)
	}
	if again.ResourceVersion == out.ResourceVersion {
		t.Errorf("resourceVersion unchanged by update")
	}

	if err := s.Delete(Ref{Secrets, "default", "db"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret("default", "db"); !apierrors.IsNotFound(err) {
		t.Errorf("after delete: %v, want NotFound", err)
	}
	if err := s.Delete(Ref{Secrets, "default", "db"}); !apierrors.IsNotFound(err) {
		t.Errorf("second delete: %v, want NotFound", err)
	}
	if len(changed) != 3 {
		t.Errorf("watchers saw %v, want create, update, delete", changed)
	}
}

func TestListAcrossNamespaces(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []struct{ ns, name string }{{"b", "x"}, {"a", "z"}, {"a", "y"}} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ref.ns, Name: ref.name}}
		if _, err := s.CreateConfigMap(cm); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ConfigMaps("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cm := range all {
		names = append(names, cm.Namespace+"/"+cm.Name)
	}
	if want := "[a/y a/z b/x]"; fmt.Sprint(names) != want {
		t.Errorf("ConfigMaps(\"\") = %v, want %v", names, want)
	}
	if secrets, err := s.Secrets("a"); err != nil || len(secrets) != 0 {
		t.Errorf("Secrets(a) = %v, %v; want none", secrets, err)
	}
}
