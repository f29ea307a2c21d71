package supervisor

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func waiting(name string) *containerRecord {
	return &containerRecord{Name: name, WaitingReason: "ContainerCreating"}
}
func runningC(name string) *containerRecord { return &containerRecord{Name: name, Running: true} }
func exited(name string, code int32) *containerRecord {
	return &containerRecord{Name: name, Terminated: true, ExitCode: code, Reason: exitReason(code)}
}

func TestPodPhase(t *testing.T) {
	tests := []struct {
		name     string
		policy   corev1.RestartPolicy
		ctrs     []*containerRecord
		terminal bool
		want     corev1.PodPhase
	}{
		{"all creating", corev1.RestartPolicyAlways, []*containerRecord{waiting("a"), waiting("b")}, false, corev1.PodPending},
		{"one waiting keeps it pending", corev1.RestartPolicyAlways, []*containerRecord{runningC("a"), waiting("b")}, false, corev1.PodPending},
		{"all running", corev1.RestartPolicyAlways, []*containerRecord{runningC("a"), runningC("b")}, false, corev1.PodRunning},
		{"one running one exited", corev1.RestartPolicyNever, []*containerRecord{runningC("a"), exited("b", 1)}, false, corev1.PodRunning},
		{"Always: exited is restarting", corev1.RestartPolicyAlways, []*containerRecord{exited("a", 0)}, false, corev1.PodRunning},
		{"Never: all succeeded", corev1.RestartPolicyNever, []*containerRecord{exited("a", 0), exited("b", 0)}, false, corev1.PodSucceeded},
		{"Never: one failed", corev1.RestartPolicyNever, []*containerRecord{exited("a", 0), exited("b", 2)}, false, corev1.PodFailed},
		{"OnFailure: succeeded", corev1.RestartPolicyOnFailure, []*containerRecord{exited("a", 0)}, false, corev1.PodSucceeded},
		{"OnFailure: failed is restarting", corev1.RestartPolicyOnFailure, []*containerRecord{exited("a", 1)}, false, corev1.PodRunning},
		{"deleted: by exit codes", corev1.RestartPolicyAlways, []*containerRecord{exited("a", 0), exited("b", 137)}, true, corev1.PodFailed},
		{"deleted: all zero", corev1.RestartPolicyAlways, []*containerRecord{exited("a", 0)}, true, corev1.PodSucceeded},
	}
	for _, tt := range tests {
		if got := podPhase(tt.policy, nil, tt.ctrs, tt.terminal, false); got != tt.want {
			t.Errorf("%s: podPhase = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestConditionsOrderReasonsAndTransitions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctrs := []*containerRecord{runningC("web"), waiting("side"), waiting("zzz")}
	got := conditions(corev1.PodPending, false, false, nil, ctrs, nil, t0)
	wantTypes := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
	for i, c := range got {
		if c.Type != wantTypes[i] {
			t.Fatalf("condition %d is %s, want %s", i, c.Type, wantTypes[i])
		}
	}
	ready := got[2]
	if ready.Status != corev1.ConditionFalse || ready.Reason != "ContainersNotReady" || ready.Message != "containers with unready status: [side zzz]" {
		t.Errorf("Ready = %+v", ready)
	}

	// An hour later everything runs: flipped conditions get the new time,
	// unchanged ones keep theirs.
	t1 := t0.Add(time.Hour)
	all := []*containerRecord{runningC("web"), runningC("side"), runningC("zzz")}
	got2 := conditions(corev1.PodRunning, true, true, nil, all, got, t1)
	for _, c := range got2 {
		if c.Status != corev1.ConditionTrue {
			t.Errorf("%s = %s, want True", c.Type, c.Status)
		}
		flipped := c.Type == corev1.PodReadyToStartContainers || c.Type == corev1.PodReady || c.Type == corev1.ContainersReady
		if want := map[bool]time.Time{true: t1, false: t0}[flipped]; !c.LastTransitionTime.Time.Equal(want) {
			t.Errorf("%s lastTransitionTime = %v, want %v", c.Type, c.LastTransitionTime, want)
		}
	}

	done := conditions(corev1.PodSucceeded, false, true, nil, []*containerRecord{exited("a", 0)}, nil, t1)
	if done[2].Reason != "PodCompleted" || done[3].Reason != "PodCompleted" {
		t.Errorf("Succeeded pod readiness reasons: %s / %s", done[2].Reason, done[3].Reason)
	}
}

func TestContainerStatus(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &containerRecord{Name: "a", Terminated: true, ExitCode: 3, Reason: exitReason(3), StartedAt: start, FinishedAt: start.Add(time.Second), ContainerID: "gvisor://x"}
	st := c.status()
	term := st.State.Terminated
	if term == nil || term.ExitCode != 3 || term.Reason != "Error" || term.ContainerID != "gvisor://x" || st.Ready || *st.Started {
		t.Errorf("terminated status = %+v", st)
	}
	if exitReason(0) != "Completed" {
		t.Errorf("exit 0 reason = %s", exitReason(0))
	}
	w := waiting("b").status()
	if w.State.Waiting == nil || w.State.Waiting.Reason != "ContainerCreating" || w.Ready {
		t.Errorf("waiting status = %+v", w)
	}
	got := sortedStatuses([]*containerRecord{waiting("web"), waiting("side")})
	if got[0].Name != "side" || got[1].Name != "web" {
		t.Errorf("statuses not sorted by name: %s, %s", got[0].Name, got[1].Name)
	}
}

func TestPodPhaseWithInitContainers(t *testing.T) {
	initC := func(c *containerRecord) *containerRecord { c.Kind = kindInit; return c }
	sidecar := func(c *containerRecord) *containerRecord { c.Kind = kindSidecar; return c }
	crashed := func(name string, code int32) *containerRecord {
		c := waiting(name)
		c.WaitingReason = "CrashLoopBackOff"
		c.Last = &terminatedInstance{ExitCode: code}
		return c
	}
	tests := []struct {
		name        string
		policy      corev1.RestartPolicy
		inits, apps []*containerRecord
		initialized bool
		want        corev1.PodPhase
	}{
		{"init running", corev1.RestartPolicyAlways, []*containerRecord{initC(runningC("i"))}, []*containerRecord{waiting("a")}, false, corev1.PodPending},
		{"init failed, Never", corev1.RestartPolicyNever, []*containerRecord{initC(exited("i", 1))}, []*containerRecord{waiting("a")}, false, corev1.PodFailed},
		{"init failed, Always retries", corev1.RestartPolicyAlways, []*containerRecord{initC(crashed("i", 1))}, []*containerRecord{waiting("a")}, false, corev1.PodPending},
		{"init done, app running", corev1.RestartPolicyAlways, []*containerRecord{initC(exited("i", 0))}, []*containerRecord{runningC("a")}, true, corev1.PodRunning},
		{"sidecar not started yet", corev1.RestartPolicyAlways, []*containerRecord{sidecar(waiting("s"))}, []*containerRecord{runningC("a")}, false, corev1.PodPending},
		{"sidecar exit codes do not count", corev1.RestartPolicyNever, []*containerRecord{sidecar(exited("s", 137))}, []*containerRecord{exited("a", 0)}, true, corev1.PodSucceeded},
	}
	for _, tt := range tests {
		if got := podPhase(tt.policy, tt.inits, tt.apps, false, tt.initialized); got != tt.want {
			t.Errorf("%s: podPhase = %s, want %s", tt.name, got, tt.want)
		}
	}

	inits := []*containerRecord{initC(exited("init1", 0)), initC(runningC("init2")), sidecar(waiting("proxy"))}
	ok, msg := initializedCondition(corev1.PodPending, false, inits)
	if ok || msg != "containers with incomplete status: [init2 proxy]" {
		t.Errorf("Initialized = %v %q", ok, msg)
	}
	if ok, _ := initializedCondition(corev1.PodRunning, true, inits); !ok {
		t.Errorf("Initialized must stay true once an app container has started")
	}
	if st := initC(runningC("i")).status(); st.Ready {
		t.Errorf("a running regular init container is not ready")
	}
	if st := initC(exited("i", 0)).status(); !st.Ready {
		t.Errorf("a completed regular init container is ready")
	}
}
