package staticpods

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"

	"podbox.dev/podbox/pod"
)

// fakePods is an in-memory supervisor; deletions are immediate.
type fakePods struct {
	mu      sync.Mutex
	pods    map[string]corev1.Pod
	created int
}

var podsGR = schema.GroupResource{Resource: "pods"}

func (f *fakePods) Create(in *corev1.Pod) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := pod.Key(in.Namespace, in.Name)
	if _, ok := f.pods[key]; ok {
		return nil, apierrors.NewAlreadyExists(podsGR, in.Name)
	}
	p := *in.DeepCopy()
	p.UID = uuid.NewUUID()
	f.pods[key] = p
	f.created++
	return &p, nil
}

func (f *fakePods) Get(ns, name string) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[pod.Key(ns, name)]
	if !ok {
		return nil, apierrors.NewNotFound(podsGR, name)
	}
	return &p, nil
}

func (f *fakePods) List(string) []corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []corev1.Pod
	for _, p := range f.pods {
		out = append(out, p)
	}
	return out
}

func (f *fakePods) Delete(ns, name string, _ *int64) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := pod.Key(ns, name)
	p, ok := f.pods[key]
	if !ok {
		return nil, apierrors.NewNotFound(podsGR, name)
	}
	delete(f.pods, key)
	return &p, nil
}

func manifest(name, image string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  containers:\n  - name: c\n    image: " + image + "\n"
}

func TestReconcile(t *testing.T) {
	dir := t.TempDir()
	fake := &fakePods{pods: map[string]corev1.Pod{}}
	var logs bytes.Buffer
	w := New(dir, fake, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	write := func(file, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) *corev1.Pod {
		t.Helper()
		p, err := fake.Get("default", name)
		if err != nil {
			return nil
		}
		return p
	}

	write("web.yaml", manifest("web", "nginx:1"))
	write("two.yaml", manifest("a", "busybox")+"---\n"+manifest("b", "busybox"))
	write("notes.txt", "not a manifest")
	write(".hidden.yaml", manifest("hidden", "busybox"))
	w.Reconcile(ctx)
	web := get("web")
	if web == nil || get("a") == nil || get("b") == nil || get("hidden") != nil || len(fake.pods) != 3 {
		t.Fatalf("after the first pass: %v", fake.pods)
	}
	if web.Annotations[AnnotationSource] != "file" || web.Annotations[AnnotationHash] == "" || web.Annotations[AnnotationFile] != filepath.Join(dir, "web.yaml") {
		t.Errorf("annotations: %v", web.Annotations)
	}

	// Nothing changed (as after a supervisor restart): nothing is recreated.
	w.Reconcile(ctx)
	if fake.created != 3 || get("web").UID != web.UID {
		t.Errorf("an unchanged file recreated its pod (%d creations)", fake.created)
	}

	// A changed file replaces its pod.
	write("web.yaml", manifest("web", "nginx:2"))
	w.Reconcile(ctx)
	if p := get("web"); p == nil || p.UID == web.UID || p.Spec.Containers[0].Image != "nginx:2" {
		t.Errorf("changed file: %+v", p)
	}

	// A broken file is reported once and its running pod is left alone.
	web = get("web")
	write("web.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: c\n    imagee: x\n")
	w.Reconcile(ctx)
	w.Reconcile(ctx)
	if p := get("web"); p == nil || p.UID != web.UID {
		t.Errorf("a broken file disturbed its pod: %+v", p)
	}
	if n := strings.Count(logs.String(), `unknown field \"spec.containers[0].imagee\"`); n != 1 {
		t.Errorf("the broken file was reported %d times:\n%s", n, logs.String())
	}
	// An invalid pod is reported too, with the field.
	write("bad.yaml", manifest("bad", ""))
	w.Reconcile(ctx)
	if get("bad") != nil || !strings.Contains(logs.String(), "spec.containers[0].image") {
		t.Errorf("invalid pod: %v\n%s", get("bad"), logs.String())
	}

	// A pod deleted through the API comes back from its file.
	fake.Delete("default", "a", nil)
	w.Reconcile(ctx)
	if get("a") == nil {
		t.Error("a deleted static pod was not recreated")
	}

	// Removing a file deletes its pods; other pods are not touched.
	fake.pods["default/mine"] = corev1.Pod{}
	os.Remove(filepath.Join(dir, "two.yaml"))
	w.Reconcile(ctx)
	if get("a") != nil || get("b") != nil {
		t.Error("pods of a removed file still exist")
	}
	if _, ok := fake.pods["default/mine"]; !ok {
		t.Error("a pod not made from a file was deleted")
	}

	// A file naming an existing pod that is not static is refused.
	fake.pods["default/taken"] = corev1.Pod{}
	write("taken.yaml", manifest("taken", "busybox"))
	w.Reconcile(ctx)
	if !strings.Contains(logs.String(), "not made from a file exists already") {
		t.Errorf("conflict not reported:\n%s", logs.String())
	}
}
