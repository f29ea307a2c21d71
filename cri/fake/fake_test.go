package fake

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"podbox.dev/podbox/cri"
)

const sb = "0123456789abcdef"

func runSandbox(t *testing.T, f *Runtime) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u"}}
	st, err := f.RunPodSandbox(context.Background(), &cri.SandboxConfig{ID: sb, Pod: p})
	if err != nil || st.PodIP == "" {
		t.Fatalf("RunPodSandbox: %+v, %v", st, err)
	}
}

func start(t *testing.T, f *Runtime, name string, attempt int32) string {
	t.Helper()
	id, err := f.StartContainer(context.Background(), sb, &cri.ContainerConfig{Name: name, Attempt: attempt})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitExit returns the instance's exit status, failing if it has not
// exited within a second.
func waitExit(t *testing.T, f *Runtime, id string) cri.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := f.WaitContainer(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return st
}

func TestStartWaitExit(t *testing.T) {
	f := New()
	runSandbox(t, f)
	id := start(t, f, "web", 0)
	if id != cri.ContainerID(sb, "web", 0) || !f.Running(id) {
		t.Fatalf("id %s, running %t", id, f.Running(id))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.WaitContainer(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait on a running instance: %v", err)
	}
	if !f.Exit(id, 3) || f.Exit(id, 4) {
		t.Fatal("Exit should end a running instance once")
	}
	if st := waitExit(t, f, id); st.ExitCode != 3 || st.OOMKilled {
		t.Fatalf("exit status %+v", st)
	}
	// ExitByName ends the newest instance.
	start(t, f, "web", 1)
	if !f.ExitByName("web", 1) {
		t.Fatal("ExitByName")
	}
	if st := waitExit(t, f, cri.ContainerID(sb, "web", 1)); st.ExitCode != 1 {
		t.Fatalf("newest instance: %+v", st)
	}
	want := []string{"RunPodSandbox " + sb, "StartContainer web attempt=0", "WaitContainer web attempt=0", "WaitContainer web attempt=0",
		"StartContainer web attempt=1", "WaitContainer web attempt=1"}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestStopKillAndIgnoreStop(t *testing.T) {
	f := New()
	runSandbox(t, f)
	ctx := context.Background()
	term := start(t, f, "term", 0)
	quit := start(t, f, "quit", 0)
	kill := start(t, f, "kill", 0)
	stubborn := start(t, f, "stubborn", 0)
	f.IgnoreStop("stubborn")
	for id, sig := range map[string]string{term: "TERM", quit: "SIGQUIT", stubborn: "TERM"} {
		if err := f.StopContainer(ctx, id, sig); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.KillContainer(ctx, kill); err != nil {
		t.Fatal(err)
	}
	for id, code := range map[string]int32{term: 143, quit: 131, kill: 137} {
		if st := waitExit(t, f, id); st.ExitCode != code {
			t.Errorf("%s exited %d, want %d", id, st.ExitCode, code)
		}
	}
	if !f.Running(stubborn) {
		t.Fatal("a container ignoring TERM stopped")
	}
	if err := f.StopContainer(ctx, stubborn, "KILL"); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, f, stubborn); st.ExitCode != 137 {
		t.Errorf("SIGKILL: %+v", st)
	}
	if err := f.StopContainer(ctx, term, "NOSUCH"); err == nil {
		t.Error("an unknown signal was accepted")
	}
}

func TestFailStartExecDialOOM(t *testing.T) {
	f := New()
	ctx := context.Background()
	if _, err := f.StartContainer(ctx, sb, &cri.ContainerConfig{Name: "web"}); err == nil {
		t.Fatal("started a container without a sandbox")
	}
	runSandbox(t, f)
	boom := errors.New("boom")
	f.FailStart("web", boom)
	if _, err := f.StartContainer(ctx, sb, &cri.ContainerConfig{Name: "web"}); !errors.Is(err, boom) {
		t.Fatalf("FailStart: %v", err)
	}
	id := start(t, f, "web", 0) // only the next start fails
	if code, err := f.Exec(ctx, id, []string{"true"}, cri.Streams{}); code != 0 || err != nil {
		t.Fatalf("default exec: %d, %v", code, err)
	}
	f.SetExec("web", func(cmd []string) (int, error) { return len(cmd), nil })
	if code, _ := f.Exec(ctx, id, []string{"a", "b"}, cri.Streams{}); code != 2 {
		t.Fatalf("programmed exec: %d", code)
	}
	if _, err := f.Dial(ctx, "tcp", "10.88.0.2:80"); !errors.Is(err, ErrNoDial) {
		t.Fatalf("default dial: %v", err)
	}
	f.SetDial(func(context.Context, string, string) (net.Conn, error) { c, _ := net.Pipe(); return c, nil })
	if c, err := f.Dial(ctx, "tcp", "10.88.0.2:80"); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	if c, err := f.PortForward(ctx, sb, 80); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	f.OOMKill(id)
	if st := waitExit(t, f, id); st != (cri.ExitStatus{ExitCode: 137, OOMKilled: true}) {
		t.Fatalf("OOMKill: %+v", st)
	}
	if _, err := f.Exec(ctx, id, []string{"true"}, cri.Streams{}); err == nil {
		t.Error("exec in an exited instance")
	}
	if _, err := f.PortForward(ctx, sb, 80); !errors.Is(err, cri.ErrNotRunning) {
		t.Errorf("port-forward with nothing running: %v", err)
	}
}

func TestSandboxLifecycle(t *testing.T) {
	f := New()
	ctx := context.Background()
	f.SetRunning(sb)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	known := []*cri.SandboxConfig{{ID: sb, Pod: p}, {ID: "other", Pod: p}}
	if got, _ := f.Recover(ctx, known, false); len(got) != 0 {
		t.Fatalf("without adopt: %v", got)
	}
	if got, _ := f.Recover(ctx, known, true); !got[sb] || got["other"] {
		t.Fatalf("with adopt: %v", got)
	}
	st, _ := f.AdoptPodSandbox(ctx, &cri.SandboxConfig{ID: sb, Pod: p, PodIP: "10.88.0.9"})
	if st.PodIP != "10.88.0.9" {
		t.Fatalf("adopted address %q", st.PodIP)
	}
	old := cri.ContainerID(sb, "web", 2)
	if err := f.AdoptContainer(ctx, sb, old, &cri.ContainerConfig{Name: "web", Attempt: 2}); err != nil || !f.Running(old) {
		t.Fatalf("adopt container: %v", err)
	}
	if err := f.StopPodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, f, old); st.ExitCode != 137 {
		t.Fatalf("instance after the sandbox stopped: %+v", st)
	}
	if _, err := f.StartContainer(ctx, sb, &cri.ContainerConfig{Name: "web", Attempt: 3}); err == nil {
		t.Fatal("started a container in a stopped sandbox")
	}
	if err := f.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if f.Newest("web") != "" {
		t.Fatal("instances outlive their sandbox's removal")
	}
}

// TestConcurrentUse: calls from many goroutines, with waiters, are safe
// (run with -race) and each is recorded.
func TestConcurrentUse(t *testing.T) {
	f := New()
	runSandbox(t, f)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := f.StartContainer(ctx, sb, &cri.ContainerConfig{Name: "c", Attempt: int32(i)})
			if err != nil {
				t.Error(err)
				return
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				if _, err := f.WaitContainer(ctx, id); err != nil {
					t.Error(err)
				}
			}()
			_, _ = f.Exec(ctx, id, []string{"x"}, cri.Streams{})
			_ = f.KillContainer(ctx, id)
			<-done
		}()
	}
	ctx2, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := f.Await(ctx2, "KillContainer c attempt=19"); err != nil {
		t.Error(err)
	}
	wg.Wait()
	if n := len(f.Calls()); n != 1+20*4 {
		t.Errorf("%d calls recorded, want %d", n, 1+20*4)
	}
}
