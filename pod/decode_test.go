package pod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: nginx
    image: nginx:1.27
`

func TestDecode(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   []string // pod names in order
		images []string // image of the first container of each pod
	}{
		{name: "yaml", in: podYAML, want: []string{"web"}, images: []string{"nginx:1.27"}},
		{
			name: "json",
			in:   `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`,
			want: []string{"j"}, images: []string{"busybox"},
		},
		{
			name: "json stream",
			in: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"x"}]}}
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"},"spec":{"containers":[{"name":"c","image":"y"}]}}`,
			want: []string{"a", "b"}, images: []string{"x", "y"},
		},
		{
			name: "multi-doc with empty docs",
			in:   "---\n" + podYAML + "---\n---\n# only a comment\n---\n" + strings.Replace(podYAML, "name: web", "name: api", 1) + "---\n",
			want: []string{"web", "api"}, images: []string{"nginx:1.27", "nginx:1.27"},
		},
		{
			name: "List",
			in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: one}
  spec: {containers: [{name: c, image: a}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: two}
  spec: {containers: [{name: c, image: b}]}
`,
			want: []string{"one", "two"}, images: []string{"a", "b"},
		},
		{
			name: "PodList",
			in: `apiVersion: v1
kind: PodList
items:
- metadata: {name: p}
  spec: {containers: [{name: c, image: a}]}
`,
			want: []string{"p"}, images: []string{"a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pods, err := Decode([]byte(tc.in), "pod.yaml")
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(pods) != len(tc.want) {
				t.Fatalf("got %d pods, want %d", len(pods), len(tc.want))
			}
			for i, p := range pods {
				if p.Name != tc.want[i] {
					t.Errorf("pod %d name = %q, want %q", i, p.Name, tc.want[i])
				}
				if got := p.Spec.Containers[0].Image; got != tc.images[i] {
					t.Errorf("pod %d image = %q, want %q", i, got, tc.images[i])
				}
				if p.APIVersion != "v1" || p.Kind != "Pod" {
					t.Errorf("pod %d TypeMeta = %q/%q, want v1/Pod", i, p.APIVersion, p.Kind)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error
	}{
		{
			name: "unknown field in second document",
			in:   podYAML + "---\n" + strings.Replace(podYAML, "image:", "imagee:", 1),
			want: []string{`pod.yaml (document 2): strict decoding error: unknown field "spec.containers[0].imagee"`},
		},
		{
			name: "document numbering skips empty documents",
			in:   "---\n---\n" + strings.Replace(podYAML, "spec:", "spec:\n  restartPolicyy: Never", 1),
			want: []string{`pod.yaml (document 1): strict decoding error: unknown field "spec.restartPolicyy"`},
		},
		{
			name: "duplicate field yaml",
			in:   strings.Replace(podYAML, "  name: web\n", "  name: web\n  name: web2\n", 1),
			want: []string{"pod.yaml (document 1): strict decoding error:", `"name" already set`},
		},
		{
			name: "duplicate field json",
			in:   `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b"},"spec":{"containers":[{"name":"c","image":"x"}]}}`,
			want: []string{"pod.yaml (document 1): strict decoding error:", `duplicate field "metadata.name"`},
		},
		{
			name: "unknown field in List item",
			in: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: one}
  spec: {containers: [{name: c, image: a, portz: []}]}
`,
			want: []string{`pod.yaml (document 1, items[0]): strict decoding error: unknown field "spec.containers[0].portz"`},
		},
		{
			name: "wrong kind",
			in:   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
			want: []string{"pod.yaml (document 1): kind Deployment (apps/v1) is not supported: podbox runs kind Pod (apiVersion v1)", "spec.template"},
		},
		{
			name: "wrong kind in List",
			in:   "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n",
			want: []string{"pod.yaml (document 1, items[0]): kind Service (v1) is not supported"},
		},
		{
			name: "Pod in wrong apiVersion",
			in:   strings.Replace(podYAML, "apiVersion: v1", "apiVersion: v2", 1),
			want: []string{"kind Pod (v2) is not supported"},
		},
		{
			name: "missing kind and apiVersion",
			in:   "metadata: {name: x}\n",
			want: []string{"pod.yaml (document 1): apiVersion and kind are not set"},
		},
		{
			name: "missing apiVersion",
			in:   "kind: Pod\nmetadata: {name: x}\n",
			want: []string{"pod.yaml (document 1): apiVersion is not set"},
		},
		{
			name: "missing kind",
			in:   "apiVersion: v1\nmetadata: {name: x}\n",
			want: []string{"pod.yaml (document 1): kind is not set"},
		},
		{
			name: "not an object",
			in:   "- a\n- b\n",
			want: []string{"pod.yaml (document 1): not an object"},
		},
		{
			name: "yaml syntax error",
			in:   podYAML + "---\nkind: Pod\n  bad: [\n",
			want: []string{"pod.yaml (document 2): "},
		},
		{
			name: "wrong type",
			in:   strings.Replace(podYAML, "image: nginx:1.27", "image: [a]", 1),
			want: []string{"pod.yaml (document 1): ", "spec.containers"},
		},
		{
			name: "empty input",
			in:   "---\n# nothing\n",
			want: []string{"pod.yaml: no Pod found"},
		},
		{
			name: "invalid json in stream",
			in:   `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"x"}]}} {"a":`,
			want: []string{"pod.yaml (document 2): invalid JSON"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pods, err := Decode([]byte(tc.in), "pod.yaml")
			if err == nil {
				t.Fatalf("Decode succeeded with %d pods, want error", len(pods))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDecodeStdinSourceName(t *testing.T) {
	_, err := Decode([]byte("kind: Pod\n"), "-")
	if err == nil || !strings.HasPrefix(err.Error(), "- (document 1): ") {
		t.Fatalf("error = %v, want it to start with the source name", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		podYAML,
		podYAML + "---\n" + podYAML,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`,
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n",
		"apiVersion: v1\nkind: PodList\nitems: [{metadata: {name: a}}]\n",
		"---\n---\n",
		"{",
		"- [",
		"&a [*a]",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: x\n    imagee: y\n    securityContext: {capabilities: {add: [ALL]}}\n    resources: {limits: {cpu: 500m, memory: 64Mi}}\n",
		"apiVersion: v1\nkind: Pod\nspec: {containers: [{livenessProbe: {httpGett: {}}}]}\n",
		"kind: Pod\napiVersion: v1\nmetadata: {name: a, labels: {'': x}}\nspec: {nodeSelector: {a: b}, runtimeClassName: x, containers: []}\n",
	} {
		f.Add([]byte(s))
	}
	// The repository's real manifests.
	files, _ := filepath.Glob("../testdata/*/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pods, err := Decode(data, "fuzz")
		if err == nil && len(pods) == 0 {
			t.Fatal("Decode returned neither pods nor an error")
		}
		for _, p := range pods {
			if p == nil {
				t.Fatal("Decode returned a nil pod")
			}
			// The rest of the pipeline must not panic on what decodes.
			SetDefaults(p)
			_ = Validate(p)
			_ = Warnings(p)
		}
	})
}
