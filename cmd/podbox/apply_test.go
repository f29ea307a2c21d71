package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func podManifest(name, image string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  containers:\n  - name: main\n    image: " + image + "\n"
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func podNames(t *testing.T, cs *fake.Clientset, ns string) []string {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	slices.Sort(names)
	return names
}

func TestReadManifestsDirectory(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"b.yaml":        "b",
		"a.yml":         "a",
		"c.json":        "c",
		"notes.txt":     "ignored",
		"sub/d.yaml":    "not recursed into",
		"z.yaml.backup": "ignored",
	})
	got, err := readManifests([]string{dir, filepath.Join(dir, "notes.txt"), "-"}, strings.NewReader("stdin"), false)
	if err != nil {
		t.Fatal(err)
	}
	var sources, data []string
	for _, m := range got {
		sources = append(sources, strings.TrimPrefix(m.source, dir+"/"))
		data = append(data, string(m.data))
	}
	if want := []string{"a.yml", "b.yaml", "c.json", "notes.txt", "STDIN"}; !slices.Equal(sources, want) {
		t.Errorf("sources = %q, want %q", sources, want)
	}
	if want := []string{"a", "b", "c", "ignored", "stdin"}; !slices.Equal(data, want) {
		t.Errorf("data = %q, want %q", data, want)
	}
}

func TestApplyCreatesAll(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"web.yaml": podManifest("web", "nginx:1.27"),
		"two.yaml": podManifest("db", "postgres:17") + "---\n" + podManifest("cache", "redis:7"),
	})
	cs := newFake()
	stdout, stderr, code := podbox(t, cs, podManifest("fromstdin", "busybox:1.36"),
		"apply", "-f", filepath.Join(dir, "web.yaml"), "-f", filepath.Join(dir, "two.yaml"), "-f", "-")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := "pod/web created\npod/db created\npod/cache created\npod/fromstdin created\n"
	if stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if got, want := podNames(t, cs, ""), []string{"default/cache", "default/db", "default/fromstdin", "default/web"}; !slices.Equal(got, want) {
		t.Errorf("pods = %q, want %q", got, want)
	}
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("created pod was not defaulted: restartPolicy %q", p.Spec.RestartPolicy)
	}
}

func TestApplyBadInputCreatesNothing(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"1-good.yaml":    podManifest("good", "nginx"),
		"2-typo.yaml":    podManifest("typo", "nginx") + "    imagee: x\n",
		"3-noimage.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\nspec:\n  containers:\n  - name: main\n",
	})
	cs := newFake()
	stdout, stderr, code := podbox(t, cs, "", "apply", "-f", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	// Both bad files are reported, each naming its file.
	for _, want := range []string{"2-typo.yaml", `unknown field "spec.containers[0].imagee"`, "3-noimage.yaml: The Pod \"noimage\" is invalid", "image"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not mention %q", stderr, want)
		}
	}
	if n := strings.Count("\n"+stderr, "\nerror: "); n != 2 {
		t.Errorf("stderr has %d errors, want 2:\n%s", n, stderr)
	}
	if got := podNames(t, cs, ""); len(got) != 0 {
		t.Errorf("pods were created from a bad input set: %q", got)
	}
}

func TestApplyNamespace(t *testing.T) {
	cs := newFake()
	inNS := strings.Replace(podManifest("b", "nginx"), "  name: b\n", "  name: b\n  namespace: team\n", 1)
	stdout, stderr, code := podbox(t, cs, podManifest("a", "nginx")+"---\n"+inNS, "apply", "-f", "-", "-n", "team")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if stdout != "pod/a created\npod/b created\n" {
		t.Errorf("stdout = %q", stdout)
	}
	if got, want := podNames(t, cs, ""), []string{"team/a", "team/b"}; !slices.Equal(got, want) {
		t.Errorf("pods = %q, want %q", got, want)
	}

	// An object in another namespace than the one asked for explicitly is
	// refused, and nothing is created.
	_, stderr, code = podbox(t, cs, podManifest("c", "nginx")+"---\n"+inNS, "apply", "-f", "-", "-n", "other")
	if code != 1 || !strings.Contains(stderr, `the namespace from the provided object "team" does not match the namespace "other"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if got := podNames(t, cs, "other"); len(got) != 0 {
		t.Errorf("pods created: %q", got)
	}
}

func TestApplyUnchangedConfiguredReplaced(t *testing.T) {
	cs := newFake()
	if _, stderr, code := podbox(t, cs, podManifest("web", "nginx:1.27"), "apply", "-f", "-"); code != 0 {
		t.Fatalf("first apply: %s", stderr)
	}
	first, _ := cs.CoreV1().Pods("default").Get(t.Context(), "web", metav1.GetOptions{})
	if !strings.Contains(first.Annotations[corev1.LastAppliedConfigAnnotation], `"image":"nginx:1.27"`) {
		t.Errorf("last-applied annotation: %q", first.Annotations[corev1.LastAppliedConfigAnnotation])
	}
	stdout, stderr, code := podbox(t, cs, podManifest("web", "nginx:1.27"), "apply", "-f", "-")
	if code != 0 || stdout != "pod/web unchanged\n" || stderr != "" {
		t.Errorf("reapply: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// A label added by hand survives apply; one the manifest adds is set:
	// configured in place, same pod.
	if _, stderr, code := podbox(t, cs, "", "label", "pods", "web", "owner=me"); code != 0 {
		t.Fatal(stderr)
	}
	labelled := strings.Replace(podManifest("web", "nginx:1.27"), "  name: web\n", "  name: web\n  labels:\n    app: web\n", 1)
	stdout, stderr, code = podbox(t, cs, labelled, "apply", "-f", "-")
	if code != 0 || stdout != "pod/web configured\n" || stderr != "" {
		t.Errorf("label change: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	p, _ := cs.CoreV1().Pods("default").Get(t.Context(), "web", metav1.GetOptions{})
	if p.UID != first.UID || p.Labels["app"] != "web" || p.Labels["owner"] != "me" {
		t.Errorf("after configure: uid %s (was %s), labels %v", p.UID, first.UID, p.Labels)
	}
	// Dropping the label from the manifest removes it; the hand-made one stays.
	stdout, _, _ = podbox(t, cs, podManifest("web", "nginx:1.27"), "apply", "-f", "-")
	p, _ = cs.CoreV1().Pods("default").Get(t.Context(), "web", metav1.GetOptions{})
	if stdout != "pod/web configured\n" || p.Labels["app"] != "" || p.Labels["owner"] != "me" {
		t.Errorf("label removal: %q, labels %v", stdout, p.Labels)
	}

	// A changed spec replaces the pod and says so; the other pod is applied too.
	stdout, stderr, code = podbox(t, cs, podManifest("web", "nginx:1.28")+"---\n"+podManifest("other", "nginx"), "apply", "-f", "-")
	if code != 0 || stdout != "pod/web configured\npod/other created\n" || !strings.HasPrefix(stderr, "Warning: pod/web was replaced:") {
		t.Errorf("changed spec: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	p, _ = cs.CoreV1().Pods("default").Get(t.Context(), "web", metav1.GetOptions{})
	if p.Spec.Containers[0].Image != "nginx:1.28" {
		t.Errorf("not replaced: %s", p.Spec.Containers[0].Image)
	}
}

func TestCreate(t *testing.T) {
	cs := newFake()
	stdout, stderr, code := podbox(t, cs, podManifest("web", "nginx"), "create", "-f", "-")
	if code != 0 || stdout != "pod/web created\n" || stderr != "" {
		t.Errorf("create: %d %q %q", code, stdout, stderr)
	}
	p, _ := cs.CoreV1().Pods("default").Get(t.Context(), "web", metav1.GetOptions{})
	if _, ok := p.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("create without --save-config kept the manifest")
	}
	stdout, stderr, code = podbox(t, cs, podManifest("web", "nginx")+"---\n"+podManifest("db", "nginx"), "create", "-f", "-")
	if code != 1 || stdout != "pod/db created\n" || stderr != "Error from server (AlreadyExists): pods \"web\" already exists\n" {
		t.Errorf("create existing: %d %q %q", code, stdout, stderr)
	}
	// apply over a created pod warns about the missing annotation, as kubectl.
	_, stderr, _ = podbox(t, cs, podManifest("web", "nginx"), "apply", "-f", "-")
	if !strings.Contains(stderr, "Warning: resource pods/web is missing the kubectl.kubernetes.io/last-applied-configuration annotation") {
		t.Errorf("apply over create: %q", stderr)
	}
}

func TestApplyRecursive(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml":       podManifest("a", "nginx"),
		"sub/b.yaml":   podManifest("b", "nginx"),
		"sub/x/c.json": `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"c"},"spec":{"containers":[{"name":"m","image":"nginx"}]}}`,
	})
	cs := newFake()
	stdout, _, _ := podbox(t, cs, "", "apply", "-f", dir)
	if stdout != "pod/a created\n" {
		t.Errorf("without -R: %q", stdout)
	}
	stdout, _, _ = podbox(t, cs, "", "apply", "-R", "-f", dir)
	if stdout != "pod/a unchanged\npod/b created\npod/c created\n" {
		t.Errorf("with -R: %q", stdout)
	}
}

func TestApplyNoObjects(t *testing.T) {
	dir := writeFiles(t, map[string]string{"README.md": "no manifests here"})
	_, stderr, code := podbox(t, nil, "", "apply", "-f", dir)
	if code != 1 || stderr != "error: no objects passed to apply\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
