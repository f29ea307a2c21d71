package main

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func multiContainerPod() corev1.Pod {
	p := testPod("web", time.Minute, corev1.PodRunning, named(running(true), "web"), named(running(true), "side"))
	return withInit(p, false, named(terminated(0, "Completed"), "setup"))
}

func TestPickContainer(t *testing.T) {
	multi := multiContainerPod()
	annotated := multiContainerPod()
	annotated.Annotations = map[string]string{defaultContainerAnnotation: "side"}
	badAnnotation := multiContainerPod()
	badAnnotation.Annotations = map[string]string{defaultContainerAnnotation: "gone"}
	single := testPod("one", time.Minute, corev1.PodRunning, named(running(true), "main"))

	for _, tc := range []struct {
		name      string
		pod       corev1.Pod
		flag      string
		want      string
		wantErr   string
		wantNotes string
	}{
		{"single", single, "", "main", "", ""},
		{"flag", multi, "side", "side", "", ""},
		{"flag init", multi, "setup", "setup", "", ""},
		{"flag unknown", multi, "nope", "", "container nope is not valid for pod web", ""},
		{"first", multi, "", "web", "", "Defaulted container \"web\" out of: web, side, setup (init)\n"},
		{"annotation", annotated, "", "side", "", ""},
		{"bad annotation", badAnnotation, "", "web", "", "Warning: default container name \"gone\" not found in pod web\nDefaulted container \"web\" out of: web, side, setup (init)\n"},
	} {
		var notes strings.Builder
		got, err := pickContainer(&tc.pod, tc.flag, &notes)
		if got != tc.want || notes.String() != tc.wantNotes || (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
			t.Errorf("%s: got %q, %v, notes %q; want %q, %q, notes %q", tc.name, got, err, notes.String(), tc.want, tc.wantErr, tc.wantNotes)
		}
	}
}

func TestLogsCommandLine(t *testing.T) {
	p := multiContainerPod()
	cs := newFake(&p)
	stdout, stderr, code := podbox(t, cs, "", "logs", "pod/web", "side", "-f", "--timestamps", "--tail", "5", "--since", "1500ms", "--limit-bytes", "100")
	if code != 0 || stdout != "fake logs" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var opts *corev1.PodLogOptions
	for _, act := range cs.Actions() {
		if a, ok := act.(k8stesting.GenericAction); ok && act.GetSubresource() == "log" {
			opts, _ = a.GetValue().(*corev1.PodLogOptions)
		}
	}
	if opts == nil {
		t.Fatalf("no log request among %v", cs.Actions())
	}
	if opts.Container != "side" || !opts.Follow || !opts.Timestamps || *opts.TailLines != 5 || *opts.SinceSeconds != 2 || *opts.LimitBytes != 100 || opts.Previous {
		t.Errorf("log options = %+v", opts)
	}

	stdout, stderr, code = podbox(t, cs, "", "logs", "web")
	if code != 0 || stdout != "fake logs" || stderr != "Defaulted container \"web\" out of: web, side, setup (init)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	_, stderr, code = podbox(t, cs, "", "logs", "ghost")
	if code != 1 || stderr != "Error from server (NotFound): pods \"ghost\" not found\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// logRequests returns the PodLogOptions of every log request cs received, in
// order.
func logRequests(cs *fake.Clientset) []*corev1.PodLogOptions {
	var reqs []*corev1.PodLogOptions
	for _, act := range cs.Actions() {
		if a, ok := act.(k8stesting.GenericAction); ok && act.GetSubresource() == "log" {
			if o, ok := a.GetValue().(*corev1.PodLogOptions); ok {
				reqs = append(reqs, o)
			}
		}
	}
	return reqs
}

func TestLogsAllContainersCommandLine(t *testing.T) {
	p := multiContainerPod()
	cs := newFake(&p)
	stdout, stderr, code := podbox(t, cs, "", "logs", "web", "--all-containers", "--since-time", "2026-05-01T11:00:00Z", "--limit-bytes", "10", "--tail", "3")
	// Each container's log starts on a line of its own, even after an
	// unterminated last line.
	if code != 0 || stderr != "" || stdout != "fake logs\nfake logs\nfake logs" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var order []string
	for _, o := range logRequests(cs) {
		order = append(order, o.Container)
		if o.SinceTime == nil || !o.SinceTime.Equal(&metav1.Time{Time: time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)}) ||
			o.SinceSeconds != nil || *o.LimitBytes != 10 || *o.TailLines != 3 {
			t.Errorf("%s: log options %+v", o.Container, o)
		}
	}
	if !slices.Equal(order, []string{"setup", "web", "side"}) {
		t.Errorf("containers asked for in order %q, want init containers first", order)
	}

	// --prefix names each source, for one container too.
	stdout, _, code = podbox(t, cs, "", "logs", "web", "-c", "side", "--prefix")
	if code != 0 || stdout != "[pod/web/side] fake logs" {
		t.Errorf("--prefix: exit %d, stdout %q", code, stdout)
	}

	for _, tc := range []struct{ args, want string }{
		{"logs web --all-containers -c side", "error: --all-containers=true should not be specified with container name side"},
		{"logs web --since 5m --since-time 2026-05-01T11:00:00Z", "error: at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{"logs web --since-time yesterday", "error: --since-time must be an RFC3339 time"},
		{"logs web --limit-bytes -1", "error: --limit-bytes must be greater than 0"},
	} {
		_, stderr, code := podbox(t, nil, "", strings.Fields(tc.args)...)
		if code != 1 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("podbox %s: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestCopyLogs(t *testing.T) {
	logs := map[string]string{"setup": "fetched\n", "web": "GET /\nGET /healthz\n", "side": "tick\nno newline"}
	open := func(c string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(logs[c])), nil }
	containers := []string{"setup", "web", "side"}

	var out strings.Builder
	if err := copyLogs("web", containers, open, true, false, &out); err != nil {
		t.Fatal(err)
	}
	want := "[pod/web/setup] fetched\n[pod/web/web] GET /\n[pod/web/web] GET /healthz\n[pod/web/side] tick\n[pod/web/side] no newline"
	if out.String() != want {
		t.Errorf("--all-containers --prefix:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if err := copyLogs("web", containers, open, false, false, &out); err != nil {
		t.Fatal(err)
	}
	if want := "fetched\nGET /\nGET /healthz\ntick\nno newline"; out.String() != want {
		t.Errorf("--all-containers: %q, want %q", out.String(), want)
	}

	// Followed, the streams are read at once: every line arrives whole,
	// each container's in its own order.
	out.Reset()
	if err := copyLogs("web", containers, open, true, true, &out); err != nil {
		t.Fatal(err)
	}
	got := strings.SplitAfter(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, l := range got {
		got[i] = strings.TrimSuffix(l, "\n")
	}
	slices.Sort(got)
	all := []string{"[pod/web/setup] fetched", "[pod/web/side] no newline", "[pod/web/side] tick", "[pod/web/web] GET /", "[pod/web/web] GET /healthz"}
	if !slices.Equal(got, all) || strings.Index(out.String(), "GET /\n") > strings.Index(out.String(), "GET /healthz") {
		t.Errorf("followed: %q", out.String())
	}

	failing := func(c string) (io.ReadCloser, error) {
		if c == "side" {
			return nil, errors.New(`container "side" in pod "web" is waiting to start: PodInitializing`)
		}
		return open(c)
	}
	if err := copyLogs("web", containers, failing, false, true, io.Discard); err == nil || !strings.Contains(err.Error(), "waiting to start") {
		t.Errorf("a failing stream: %v", err)
	}
}

// TestCopyLogsLongLine: a line longer than maxWholeLine is copied in pieces
// (the client holds no more than that of it) and still prints as one line
// with one prefix.
func TestCopyLogsLongLine(t *testing.T) {
	long := strings.Repeat("a", 5*maxWholeLine+7)
	logs := map[string]string{"big": long + "\nafter\n", "small": "hi\n"}
	open := func(c string) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(logs[c])), nil }
	out := &largestWrite{}
	if err := copyLogs("p", []string{"big", "small"}, open, true, false, out); err != nil {
		t.Fatal(err)
	}
	want := "[pod/p/big] " + long + "\n[pod/p/big] after\n[pod/p/small] hi\n"
	if out.String() != want {
		t.Errorf("got %d bytes, %d prefixes; want %d bytes", out.Len(), strings.Count(out.String(), "[pod/"), len(want))
	}
	if out.largest > maxWholeLine {
		t.Errorf("a write of %d bytes: the whole line was held", out.largest)
	}
}

// largestWrite records the largest single write.
type largestWrite struct {
	strings.Builder
	largest int
}

func (w *largestWrite) Write(p []byte) (int, error) {
	w.largest = max(w.largest, len(p))
	return w.Builder.Write(p)
}
