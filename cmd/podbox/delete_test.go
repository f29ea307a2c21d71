package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestDeleteCommandLine(t *testing.T) {
	a, b := testPod("a", time.Minute, corev1.PodRunning), testPod("b", time.Minute, corev1.PodRunning)
	cs := newFake(&a, &b)
	stdout, stderr, code := podbox(t, cs, "", "delete", "pods", "a", "ghost", "b", "--grace-period=5")
	if code != 1 {
		t.Errorf("exit %d, want 1 for the missing pod", code)
	}
	if stdout != "pod \"a\" deleted\npod \"b\" deleted\n" {
		t.Errorf("stdout = %q", stdout)
	}
	if stderr != "Error from server (NotFound): pods \"ghost\" not found\n" {
		t.Errorf("stderr = %q", stderr)
	}
	if got := podNames(t, cs, ""); len(got) != 0 {
		t.Errorf("pods left: %q", got)
	}
	var graces []int64
	for _, act := range cs.Actions() {
		if d, ok := act.(k8stesting.DeleteAction); ok {
			graces = append(graces, *d.GetDeleteOptions().GracePeriodSeconds)
		}
	}
	if len(graces) != 2 || graces[0] != 5 || graces[1] != 5 {
		t.Errorf("grace periods sent = %v, want [5 5]", graces)
	}
}

func TestDeleteGracePeriodRules(t *testing.T) {
	for _, tc := range []struct {
		args  string
		grace int64 // -1: none sent
		out   string
		err   string
	}{
		{"delete pod a", -1, "pod \"a\" deleted\n", ""},
		{"delete pod a --now", 1, "pod \"a\" deleted\n", ""},
		{"delete pod a --grace-period=0", 1, "pod \"a\" deleted\n", ""},
		{"delete pod a --force", 0, "pod \"a\" force deleted\n", "Warning: Immediate deletion does not wait"},
		{"delete pod/a --force --grace-period=0", 0, "pod \"a\" force deleted\n", "Warning: Immediate deletion does not wait"},
		{"delete pod a --force --grace-period=3", 3, "pod \"a\" deleted\n", ""},
	} {
		a := testPod("a", time.Minute, corev1.PodRunning)
		cs := newFake(&a)
		stdout, stderr, code := podbox(t, cs, "", strings.Fields(tc.args)...)
		if code != 0 || stdout != tc.out || !strings.HasPrefix(stderr, tc.err) || (tc.err == "" && stderr != "") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		for _, act := range cs.Actions() {
			if d, ok := act.(k8stesting.DeleteAction); ok {
				got := int64(-1)
				if g := d.GetDeleteOptions().GracePeriodSeconds; g != nil {
					got = *g
				}
				if got != tc.grace {
					t.Errorf("%s: grace period %d, want %d", tc.args, got, tc.grace)
				}
			}
		}
	}
}

// TestDeleteWaits checks that delete reports a pod deleted only once the
// server no longer has it, as a terminating pod stays visible for its grace
// period.
func TestDeleteWaits(t *testing.T) {
	a := testPod("a", time.Minute, corev1.PodRunning)
	a.UID = "uid-a"
	cs := newFake(&a)
	// The server keeps the pod, marked for deletion, for a few polls.
	polls := 0
	cs.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil
	})
	cs.PrependReactor("get", "pods", func(act k8stesting.Action) (bool, runtime.Object, error) {
		polls++
		if polls == 4 {
			if err := cs.Tracker().Delete(act.GetResource(), "default", "a"); err != nil {
				t.Error(err)
			}
		}
		return false, nil, nil
	})
	var out, errOut strings.Builder
	opts := deleteOptions{namespace: "default", names: []string{"a"}, grace: -1, wait: true}
	if err := runDelete(t.Context(), core(cs), opts, &out, &errOut, time.Millisecond); err != nil {
		t.Fatal(err, errOut.String())
	}
	if polls < 4 || out.String() != "pod \"a\" deleted\n" {
		t.Errorf("polls %d, stdout %q", polls, out.String())
	}

	// With a timeout, a pod that never goes away is reported.
	b := testPod("b", time.Minute, corev1.PodRunning)
	cs = newFake(&b)
	cs.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil
	})
	out.Reset()
	errOut.Reset()
	opts = deleteOptions{namespace: "default", names: []string{"b"}, grace: -1, wait: true, timeout: 20 * time.Millisecond}
	err := runDelete(t.Context(), core(cs), opts, &out, &errOut, time.Millisecond)
	if err != errReported || out.String() != "" || errOut.String() != "error: timed out waiting for the condition on pods/b\n" {
		t.Errorf("got %v, %q, %q", err, out.String(), errOut.String())
	}
}

func TestDeleteAll(t *testing.T) {
	a, b := testPod("a", time.Minute, corev1.PodRunning), testPod("b", time.Minute, corev1.PodRunning)
	other := testPod("c", time.Minute, corev1.PodRunning)
	other.Namespace = "team"
	cs := newFake(&a, &b, &other)
	stdout, stderr, code := podbox(t, cs, "", "delete", "pods", "--all")
	if code != 0 || stdout != "pod \"a\" deleted\npod \"b\" deleted\n" || stderr != "" {
		t.Errorf("exit %d, %q, %q", code, stdout, stderr)
	}
	if _, err := cs.CoreV1().Pods("team").Get(context.Background(), "c", metav1.GetOptions{}); err != nil {
		t.Errorf("--all reached into another namespace: %v", err)
	}
}
