package main

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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
