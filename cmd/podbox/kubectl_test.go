package main

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// getGolden runs get against the fixture (web Running app=web, db Pending
// app=db tier=data, api in team) at the fixed instant now.
func getGolden(t *testing.T, opts getOptions) string {
	t.Helper()
	fx := getFixture()
	fx[1].Labels = map[string]string{"app": "db", "tier": "data"}
	fx[1].Status.PodIP = "10.88.0.9"
	fx[0].Status.PodIP = "10.88.0.10"
	cs := newFake(&fx[0], &fx[1], &fx[2])
	if opts.namespace == "" {
		opts.namespace = "default"
	}
	if opts.selector == nil {
		opts.selector = labels.Everything()
	}
	var out, errOut strings.Builder
	if err := runGet(t.Context(), core(cs), opts, &out, &errOut, now); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	return out.String()
}

func mustSelector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestGetTableGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts getOptions
		want string
	}{
		{"show-labels", getOptions{print: printSpec{showLabels: true}}, `
NAME   READY   STATUS              RESTARTS   AGE   LABELS
db     0/1     ContainerCreating   0          2m    app=db,tier=data
web    1/1     Running             0          60s   app=web
`},
		{"label columns", getOptions{print: printSpec{labelColumns: []string{"tier", "app"}}}, `
NAME   READY   STATUS              RESTARTS   AGE   TIER   APP
db     0/1     ContainerCreating   0          2m    data   db
web    1/1     Running             0          60s          web
`},
		{"no headers", getOptions{print: printSpec{noHeaders: true}}, `
db    0/1   ContainerCreating   0     2m
web   1/1   Running             0     60s
`},
		{"wide sorted by IP text", getOptions{print: printSpec{format: "wide"}, sortBy: "{.status.podIP}"}, `
NAME   READY   STATUS              RESTARTS   AGE   IP           NODE     NOMINATED NODE   READINESS GATES
web    1/1     Running             0          60s   10.88.0.10   <none>   <none>           <none>
db     0/1     ContainerCreating   0          2m    10.88.0.9    <none>   <none>           <none>
`},
		{"sort by age", getOptions{sortBy: ".metadata.creationTimestamp", allNamespaces: true}, `
NAMESPACE   NAME   READY   STATUS              RESTARTS   AGE
team        api    1/1     Running             0          3m
default     db     0/1     ContainerCreating   0          2m
default     web    1/1     Running             0          60s
`},
		{"set-based selector", getOptions{selector: mustSelector(t, "app in (web,db),tier notin (data)")}, `
NAME   READY   STATUS    RESTARTS   AGE
web    1/1     Running   0          60s
`},
		{"!key selector", getOptions{selector: mustSelector(t, "!tier")}, `
NAME   READY   STATUS    RESTARTS   AGE
web    1/1     Running   0          60s
`},
		{"field selector", getOptions{fieldSelector: fields.OneTermNotEqualSelector("status.phase", "Running")}, `
NAME   READY   STATUS              RESTARTS   AGE
db     0/1     ContainerCreating   0          2m
`},
		{"custom columns", getOptions{print: mustOutput(t, "custom-columns=NAME:.metadata.name,IP:status.podIP,CONTAINERS:{.spec.containers[*].name},NODE:.spec.nodeName")}, `
NAME   IP           CONTAINERS   NODE
db     10.88.0.9    c0           <none>
web    10.88.0.10   c0           <none>
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := getGolden(t, tc.opts); got != strings.TrimPrefix(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", got, strings.TrimPrefix(tc.want, "\n"))
			}
		})
	}
}

func mustOutput(t *testing.T, o string) printSpec {
	t.Helper()
	s, err := parseOutput(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGetCommandLineFormats(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1], &fx[2])
	for _, tc := range []struct {
		args       []string
		out, err   string
		exit       int
		errPrefix  bool
		outPrefix  bool
		outContain string
	}{
		{args: []string{"get", "pods", "-o", "jsonpath={.items[*].metadata.name}"}, out: "db web"},
		{args: []string{"get", "pod", "web", "-o", "jsonpath={.status.phase}{\"\\n\"}"}, out: "Running\n"},
		{args: []string{"get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\n"}{end}`}, out: "db\tPending\nweb\tRunning\n"},
		{args: []string{"get", "po", "-A", "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name", "--no-headers", "--sort-by=.metadata.name"},
			out: "team      api\ndefault   db\ndefault   web\n"},
		{args: []string{"get", "all", "-o", "name"}, out: "pod/db\npod/web\n"},
		{args: []string{"get", "pods", "--field-selector", "status.phase=Running", "-o", "name"}, out: "pod/web\n"},
		{args: []string{"get", "pods", "-l", "app", "-o", "name"}, out: "pod/web\n"},
		{args: []string{"get", "pods", "-l", "!app", "-o", "name"}, out: "pod/db\n"},
		{args: []string{"get", "pods", "-l", "app notin (web)", "-o", "name"}, out: "pod/db\n"},
		{args: []string{"get", "pods", "-l", "app=nothing"}, err: "No resources found in default namespace.\n"},
		{args: []string{"get", "pods", "--field-selector", "spec.containers=x"}, exit: 1,
			err: "Error from server (BadRequest): field label not supported: spec.containers\n"},
		{args: []string{"get", "pods", "-l", "app in (web"}, exit: 1, err: "error: invalid selector", errPrefix: true},
		{args: []string{"get", "pods", "-o", "go-template={{.}}"}, exit: 1,
			err: `error: unable to match a printer suitable for the output format "go-template={{.}}", allowed formats are: custom-columns,custom-columns-file,json,jsonpath,jsonpath-file,name,wide,yaml` + "\n"},
		{args: []string{"get", "pods", "-o", "custom-columns=NAME"}, exit: 1,
			err: "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>\n"},
		{args: []string{"get", "pods", "--sort-by=.spec.nothing"}, exit: 1,
			err: "error: couldn't find any field with path \"{.spec.nothing}\" in the list of objects\n"},
		{args: []string{"get", "pods", "web", "db", "-w"}, exit: 1, err: "error: watch is only supported on individual resources and resource collections, but 2 resources were found\n"},
	} {
		stdout, stderr, code := podbox(t, cs, "", tc.args...)
		okErr := stderr == tc.err || (tc.errPrefix && strings.HasPrefix(stderr, tc.err))
		if code != tc.exit || stdout != tc.out || !okErr {
			t.Errorf("podbox %s: exit %d, stdout %q, stderr %q; want %d %q %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.exit, tc.out, tc.err)
		}
	}
}

// TestGetJSONRoundTrip checks that -o json and -o yaml output is accepted
// back by apply (unchanged, since it is the same pod).
func TestGetJSONRoundTrip(t *testing.T) {
	cs := newFake()
	if _, stderr, code := podbox(t, cs, podManifest("web", "nginx"), "apply", "-f", "-"); code != 0 {
		t.Fatal(stderr)
	}
	// The first round trip records the pod as the server shows it (with
	// defaults) as the last applied manifest; after that, nothing changes.
	for i, format := range []string{"json", "yaml", "json", "yaml"} {
		for _, args := range [][]string{{"get", "pod", "web", "-o", format}, {"get", "pods", "-o", format}} {
			out, _, _ := podbox(t, cs, "", args...)
			stdout, stderr, code := podbox(t, cs, out, "apply", "-f", "-")
			want := "pod/web unchanged\n"
			if i == 0 && args[1] == "pod" {
				want = "pod/web configured\n"
			}
			if code != 0 || stdout != want || stderr != "" {
				t.Errorf("%v | apply: exit %d %q %q, want %q", args, code, stdout, stderr, want)
			}
		}
	}
}

// syncBuffer is a strings.Builder safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput waits until buf holds want (the command runs concurrently).
func waitOutput(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for buf.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output\n%s\nwant\n%s", buf.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGetWatch(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1])
	watching := watched(cs)
	pods := cs.CoreV1().Pods("default")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	opts := getOptions{namespace: "default", selector: labels.Everything(), fieldSelector: fields.Everything(), watch: true, watchEvents: true}
	// Watches are set up by the fake only once Watch was called: wait for
	// the initial table, which is printed before.
	go func() { done <- watchGet(ctx, core(cs), opts, &out, &out, func() time.Time { return now }) }()
	want := "" +
		"EVENT   NAME   READY   STATUS              RESTARTS   AGE\n" +
		"ADDED   db     0/1     ContainerCreating   0          2m\n" +
		"ADDED   web    1/1     Running             0          60s\n"
	waitOutput(t, &out, want)
	waitWatching(t, watching)

	db := fx[1].DeepCopy()
	db.Status.Phase = corev1.PodRunning
	db.Status.ContainerStatuses[0] = running(true)
	db.Status.ContainerStatuses[0].Name = "c0"
	if _, err := pods.UpdateStatus(t.Context(), db, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Each change is a table of its own, as kubectl flushes its tab writer
	// per event.
	want += "MODIFIED   db    1/1   Running   0     2m\n"
	waitOutput(t, &out, want)
	if err := pods.Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want += "DELETED   web   1/1   Running   0     60s\n"
	waitOutput(t, &out, want)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("watch ended with %v", err)
	}
}

// watched makes the fake report each watch it has set up, so a test changes
// pods only once the command is watching (the fake delivers changes only to
// existing watches).
func watched(cs *fake.Clientset) <-chan struct{} {
	ch := make(chan struct{}, 16)
	cs.PrependWatchReactor("pods", func(action k8stesting.Action) (bool, watch.Interface, error) {
		wa := action.(k8stesting.WatchActionImpl)
		w, err := cs.Tracker().Watch(action.GetResource(), action.GetNamespace(), wa.ListOptions)
		ch <- struct{}{}
		return true, w, err
	})
	return ch
}

func waitWatching(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the command never started watching")
	}
}

func TestGetWatchOutputFormats(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0])
	watching := watched(cs)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	spec := mustOutput(t, "jsonpath={.metadata.name} {.status.phase}{\"\\n\"}")
	opts := getOptions{namespace: "default", names: []string{"web"}, selector: labels.Everything(), fieldSelector: fields.Everything(), watch: true, print: spec}
	done := make(chan error, 1)
	go func() { done <- watchGet(ctx, core(cs), opts, &out, &out, func() time.Time { return now }) }()
	waitOutput(t, &out, "web Running\n")
	waitWatching(t, watching)
	web := fx[0].DeepCopy()
	web.Status.Phase = corev1.PodSucceeded
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(t.Context(), web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, "web Running\nweb Succeeded\n")
	cancel()
	<-done
}

func TestLabelAnnotate(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1])
	get := func() *corev1.Pod {
		p, err := cs.CoreV1().Pods("default").Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		args     []string
		out, err string
		exit     int
	}{
		{[]string{"label", "pods", "web", "tier=front"}, "pod/web labeled\n", "", 0},
		{[]string{"label", "pod/web", "tier=back"}, "", "error: 'tier' already has a value (front), and --overwrite is false\n", 1},
		{[]string{"label", "pod/web", "tier=back", "--overwrite"}, "pod/web labeled\n", "", 0},
		{[]string{"label", "pod/web", "tier=back"}, "pod/web not labeled\n", "", 0},
		{[]string{"label", "pods", "web", "tier-"}, "pod/web unlabeled\n", "", 0},
		{[]string{"label", "pods", "web", "tier-"}, "label \"tier\" not found.\npod/web not labeled\n", "", 0},
		{[]string{"label", "pods", "-l", "app=web", "env=dev"}, "pod/web labeled\n", "", 0},
		{[]string{"label", "pods", "--all", "team=x"}, "pod/db labeled\npod/web labeled\n", "", 0},
		{[]string{"label", "pods", "ghost", "a=b"}, "", "Error from server (NotFound): pods \"ghost\" not found\n", 1},
		{[]string{"label", "pods", "web"}, "", "at least one label update is required\nSee 'podbox label --help' for usage.\n", 1},
		{[]string{"annotate", "pods", "web", "note=hello world"}, "pod/web annotated\n", "", 0},
		{[]string{"annotate", "pods", "web", "note=bye"}, "", "error: --overwrite is false but found the following declared annotation(s): 'note' already has a value (hello world)\n", 1},
		{[]string{"annotate", "pods", "web", "note-"}, "pod/web annotated\n", "", 0},
	} {
		stdout, stderr, code := podbox(t, cs, "", tc.args...)
		if stderr != tc.err && strings.HasPrefix(tc.err, "at least") {
			stderr = strings.TrimPrefix(stderr, "error: ")
		}
		if code != tc.exit || stdout != tc.out || stderr != tc.err {
			t.Errorf("podbox %s: exit %d, stdout %q, stderr %q; want %d %q %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.exit, tc.out, tc.err)
		}
	}
	p := get()
	if want := map[string]string{"app": "web", "env": "dev", "team": "x"}; !labels.Equals(p.Labels, want) {
		t.Errorf("labels %v, want %v", p.Labels, want)
	}
	if len(p.Annotations) != 0 {
		t.Errorf("annotations %v", p.Annotations)
	}
}

func TestWait(t *testing.T) {
	fx := getFixture() // web is Ready, db is not
	cs := newFake(&fx[0], &fx[1])
	for _, tc := range []struct {
		args     []string
		out, err string
		exit     int
	}{
		{[]string{"wait", "--for=condition=Ready", "pod/web"}, "pod/web condition met\n", "", 0},
		{[]string{"wait", "--for=condition=ready=True", "pods", "web"}, "pod/web condition met\n", "", 0},
		{[]string{"wait", "--for=jsonpath={.status.phase}=Running", "pod/web"}, "pod/web condition met\n", "", 0},
		{[]string{"wait", "--for=jsonpath=.status.phase=Running", "pods", "-l", "app=web"}, "pod/web condition met\n", "", 0},
		{[]string{"wait", "--for=jsonpath={.status.phase}", "pod/db"}, "pod/db condition met\n", "", 0},
		{[]string{"wait", "--for=condition=Ready", "pod/db", "--timeout=0"}, "", "error: timed out waiting for the condition on pods/db\n", 1},
		{[]string{"wait", "--for=condition=Ready", "pod/db", "--timeout=50ms"}, "", "error: timed out waiting for the condition on pods/db\n", 1},
		{[]string{"wait", "--for=delete", "pod/ghost"}, "pod/ghost condition met\n", "", 0},
		{[]string{"wait", "--for=condition=Ready", "pod/ghost"}, "", "Error from server (NotFound): pods \"ghost\" not found\n", 1},
		{[]string{"wait", "--for=condition=Ready", "pods", "-l", "app=none"}, "", "error: no matching resources found\n", 1},
		{[]string{"wait", "--for=ready", "pod/web"}, "", "error: unrecognized condition: \"ready\"\n", 1},
	} {
		stdout, stderr, code := podbox(t, cs, "", tc.args...)
		if code != tc.exit || stdout != tc.out || stderr != tc.err {
			t.Errorf("podbox %s: exit %d, stdout %q, stderr %q; want %d %q %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.exit, tc.out, tc.err)
		}
	}
}

// TestWaitWatches checks that wait notices changes through the watch: a pod
// becoming ready, and one being deleted.
func TestWaitWatches(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1])
	watching := watched(cs)
	pods := cs.CoreV1().Pods("default")
	type result struct {
		out  string
		code int
	}
	start := func(args ...string) chan result {
		opts := parseWait(t, args...)
		ch := make(chan result, 1)
		go func() {
			var out strings.Builder
			code := 0
			if err := runWait(t.Context(), core(cs), opts, &out, &out); err != nil {
				code = printError(&out, err)
			}
			ch <- result{out.String(), code}
		}()
		return ch
	}
	ready := start("--for=condition=Ready", "--timeout=20s", "pod/db")
	gone := start("--for=delete", "--timeout=20s", "pod/web")
	waitWatching(t, watching)
	waitWatching(t, watching)
	db := withCondition(fx[1], corev1.PodReady, corev1.ConditionTrue)
	if _, err := pods.UpdateStatus(t.Context(), &db, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := <-ready; r.code != 0 || r.out != "pod/db condition met\n" {
		t.Errorf("ready: %+v", r)
	}
	if r := <-gone; r.code != 0 || r.out != "pod/web condition met\n" {
		t.Errorf("delete: %+v", r)
	}
}

// parseWait parses wait's arguments as the command does, without running
// it (or swapping connect). Concurrent waits parse first: urfave/cli is not
// safe for concurrent use (its help flag and command are package variables).
func parseWait(t *testing.T, args ...string) waitOptions {
	t.Helper()
	w := waitCommand()
	var opts waitOptions
	w.Action = func(c *cli.Context) (err error) {
		opts, err = parseWaitArgs(c)
		return err
	}
	app := newApp(strings.NewReader(""), io.Discard, io.Discard)
	app.Commands = []*cli.Command{w}
	if err := app.Run(append([]string{"podbox", "wait"}, args...)); err != nil {
		t.Fatalf("wait %s: %v", strings.Join(args, " "), err)
	}
	return opts
}

func TestDeleteSelectorAndFile(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1], &fx[2])
	stdout, stderr, code := podbox(t, cs, "", "delete", "pods", "-l", "app=web", "--wait=false")
	if code != 0 || stdout != "pod \"web\" deleted\n" || stderr != "" {
		t.Errorf("delete -l: %d %q %q", code, stdout, stderr)
	}
	manifest := strings.Replace(podManifest("api", "nginx"), "  name: api\n", "  name: api\n  namespace: team\n", 1) + "---\n" + podManifest("db", "nginx")
	stdout, stderr, code = podbox(t, cs, manifest, "delete", "-f", "-")
	if code != 0 || stdout != "pod \"api\" deleted\npod \"db\" deleted\n" || stderr != "" {
		t.Errorf("delete -f: %d %q %q", code, stdout, stderr)
	}
	_, stderr, code = podbox(t, cs, "", "delete", "pods", "-l", "app=web")
	if code != 0 || stderr != "No resources found in default namespace.\n" {
		t.Errorf("nothing selected: %d %q", code, stderr)
	}
	_, stderr, code = podbox(t, cs, "", "delete", "pod", "web", "--ignore-not-found")
	if code != 0 || stderr != "" {
		t.Errorf("--ignore-not-found: %d %q", code, stderr)
	}
	_, stderr, code = podbox(t, cs, "", "delete", "pod", "web", "-l", "a=b")
	if code != 1 || stderr != "error: names cannot be given together with --all or a selector\n" {
		t.Errorf("names and selector: %d %q", code, stderr)
	}
}

func TestCompletion(t *testing.T) {
	fx := getFixture()
	cs := newFake(&fx[0], &fx[1], &fx[2])
	saved := completionPods
	t.Cleanup(func() { completionPods = saved })
	completionPods = func(context.Context) (podsGetter, error) { return core(cs), nil }
	complete := func(args ...string) string {
		var out, errOut strings.Builder
		run(append(append([]string{"podbox"}, args...), completeFlag), strings.NewReader(""), &out, &errOut)
		return out.String()
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs"}, "db\nweb\n"},
		{[]string{"logs", "-n", "team"}, "api\n"},
		{[]string{"exec", "web", "-c"}, "c0\n"},
		{[]string{"get"}, "all\nevents\npods\n"},
		{[]string{"get", "pods"}, "db\nweb\n"},
		{[]string{"get", "pods", "--sho"}, "--show-labels\n"},
		{[]string{"delete", "pod"}, "db\nweb\n"},
		{[]string{"completion"}, "bash\nfish\nzsh\n"},
	} {
		if got := complete(tc.args...); got != tc.want {
			t.Errorf("complete %v: got %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := complete(); !strings.Contains(got, "apply") || !strings.Contains(got, "wait") {
		t.Errorf("top-level completion: %q", got)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		stdout, _, code := podbox(t, nil, "", "completion", sh)
		if code != 0 || !strings.Contains(stdout, completeFlag) {
			t.Errorf("completion %s: %d %q", sh, code, stdout)
		}
	}
	if _, stderr, code := podbox(t, nil, "", "completion", "tcsh"); code != 1 || !strings.Contains(stderr, `Unsupported shell type "tcsh"`) {
		t.Errorf("tcsh: %d %q", code, stderr)
	}
}

func TestRelaxedJSONPath(t *testing.T) {
	for in, want := range map[string]string{
		".metadata.name":   "{.metadata.name}",
		"metadata.name":    "{.metadata.name}",
		"{.metadata.name}": "{.metadata.name}",
		"{metadata.name}":  "{.metadata.name}",
	} {
		if got, err := relaxedJSONPath(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := relaxedJSONPath("{.a}{.b}"); err == nil {
		t.Error("two expressions accepted")
	}
}
