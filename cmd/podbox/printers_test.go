package main

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// now is the instant every test table is printed at.
var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func running(ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}
}

func waiting(reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(code int32, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}
}

func named(s corev1.ContainerStatus, name string) corev1.ContainerStatus {
	s.Name = name
	return s
}

func restarted(s corev1.ContainerStatus, n int32, last time.Duration) corev1.ContainerStatus {
	s.RestartCount = n
	s.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(last)}}
	return s
}

// testPod builds a pod with one app container per status (named c0, c1, ...
// unless the status names it) and the given phase.
func testPod(name string, created time.Duration, phase corev1.PodPhase, statuses ...corev1.ContainerStatus) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(created)},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for i, s := range statuses {
		if s.Name == "" {
			s.Name = "c" + string(rune('0'+i))
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: s.Name, Image: "busybox"})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, s)
	}
	return p
}

func withCondition(p corev1.Pod, t corev1.PodConditionType, s corev1.ConditionStatus) corev1.Pod {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: s})
	return p
}

// withInit adds init containers (regular unless sidecar) with their statuses.
func withInit(p corev1.Pod, sidecar bool, statuses ...corev1.ContainerStatus) corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	for i, s := range statuses {
		if s.Name == "" {
			s.Name = "init" + string(rune('0'+i))
		}
		c := corev1.Container{Name: s.Name, Image: "busybox"}
		if sidecar {
			c.RestartPolicy = &always
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, s)
	}
	return p
}

func TestPodTableStatuses(t *testing.T) {
	started := true
	sidecar := running(true)
	sidecar.Started = &started
	sidecar.Name = "proxy"

	deleting := testPod("going", 2*time.Hour, corev1.PodRunning, running(true))
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	deletedDone := testPod("gone-done", 50*time.Hour, corev1.PodSucceeded, terminated(0, "Completed"))
	deletedDone.DeletionTimestamp = &metav1.Time{Time: now}
	evicted := testPod("evicted", 26*time.Hour, corev1.PodFailed)
	evicted.Status.Reason = "Evicted"
	gated := withCondition(testPod("gated", 5*time.Second, corev1.PodPending), corev1.PodScheduled, corev1.ConditionFalse)
	gated.Status.Conditions[0].Reason = corev1.PodReasonSchedulingGated
	signalled := terminated(0, "")
	signalled.State.Terminated.Signal = 9
	signalled.State.Terminated.ExitCode = 137

	pods := []corev1.Pod{
		testPod("pending", 3*time.Second, corev1.PodPending),
		testPod("creating", 12*time.Second, corev1.PodPending, waiting("ContainerCreating")),
		withCondition(testPod("web", 3*time.Minute+12*time.Second, corev1.PodRunning, running(true)), corev1.PodReady, corev1.ConditionTrue),
		testPod("two", 45*time.Minute, corev1.PodRunning, running(true), running(false)),
		testPod("crash", 10*time.Minute, corev1.PodRunning, restarted(waiting("CrashLoopBackOff"), 4, 30*time.Second)),
		testPod("pull", 90*time.Second, corev1.PodPending, waiting("ErrImagePull")),
		testPod("backoff", 2*time.Minute, corev1.PodPending, waiting("ImagePullBackOff")),
		testPod("done", 50*time.Hour, corev1.PodSucceeded, terminated(0, "Completed")),
		testPod("failed", 8*24*time.Hour, corev1.PodFailed, terminated(1, "Error")),
		testPod("oom", 3*time.Hour, corev1.PodRunning, restarted(terminated(137, "OOMKilled"), 1, 2*time.Minute)),
		testPod("exitcode", time.Minute, corev1.PodFailed, terminated(3, "")),
		testPod("signal", time.Minute, corev1.PodFailed, signalled),
		// The first container by status order decides among reasons.
		testPod("mixed", time.Minute, corev1.PodRunning, named(waiting("CrashLoopBackOff"), "a"), named(waiting("ErrImagePull"), "b")),
		// A finished container beside a running one: NotReady without a
		// Ready condition, Running with one.
		testPod("half", 4*time.Minute, corev1.PodRunning, named(terminated(0, "Completed"), "a"), named(running(true), "b")),
		withCondition(testPod("half-ready", 4*time.Minute, corev1.PodRunning, named(terminated(0, "Completed"), "a"), named(running(true), "b")), corev1.PodReady, corev1.ConditionTrue),
		withInit(testPod("init-wait", 20*time.Second, corev1.PodPending, waiting("PodInitializing")), false, running(false), waiting("PodInitializing")),
		withInit(testPod("init-second", 20*time.Second, corev1.PodPending, waiting("PodInitializing")), false, terminated(0, "Completed"), running(false)),
		withInit(testPod("init-pull", 20*time.Second, corev1.PodPending, waiting("PodInitializing")), false, waiting("ErrImagePull")),
		withInit(testPod("init-crash", 5*time.Minute, corev1.PodPending, waiting("PodInitializing")), false, restarted(waiting("CrashLoopBackOff"), 3, 10*time.Second)),
		withInit(testPod("init-error", 20*time.Second, corev1.PodFailed, waiting("PodInitializing")), false, terminated(1, "Error")),
		withInit(testPod("init-exit", 20*time.Second, corev1.PodPending, waiting("PodInitializing")), false, terminated(2, "")),
		withInit(testPod("init-done", 20*time.Second, corev1.PodPending, waiting("PodInitializing")), false, terminated(0, "Completed")),
		withInit(testPod("sidecar", 3*time.Minute, corev1.PodRunning, running(true)), true, restarted(sidecar, 2, 61*time.Second)),
		deleting,
		deletedDone,
		evicted,
		gated,
		{ObjectMeta: metav1.ObjectMeta{Name: "no-time"}},
	}
	want := `NAME          READY   STATUS                  RESTARTS      AGE
pending       0/0     Pending                 0             3s
creating      0/1     ContainerCreating       0             12s
web           1/1     Running                 0             3m12s
two           1/2     Running                 0             45m
crash         0/1     CrashLoopBackOff        4 (30s ago)   10m
pull          0/1     ErrImagePull            0             90s
backoff       0/1     ImagePullBackOff        0             2m
done          0/1     Completed               0             2d2h
failed        0/1     Error                   0             8d
oom           0/1     OOMKilled               1 (2m ago)    3h
exitcode      0/1     ExitCode:3              0             60s
signal        0/1     Signal:9                0             60s
mixed         0/2     CrashLoopBackOff        0             60s
half          1/2     NotReady                0             4m
half-ready    1/2     Running                 0             4m
init-wait     0/1     Init:0/2                0             20s
init-second   0/1     Init:1/2                0             20s
init-pull     0/1     Init:ErrImagePull       0             20s
init-crash    0/1     Init:CrashLoopBackOff   3 (10s ago)   5m
init-error    0/1     Init:Error              0             20s
init-exit     0/1     Init:ExitCode:2         0             20s
init-done     0/1     PodInitializing         0             20s
sidecar       2/2     Running                 2 (61s ago)   3m
going         1/1     Terminating             0             120m
gone-done     0/1     Completed               0             2d2h
evicted       0/0     Evicted                 0             26h
gated         0/0     SchedulingGated         0             5s
no-time       0/0                             0             <unknown>
`
	var b strings.Builder
	if err := printPodTable(&b, pods, tableOptions{}, now); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != want {
		t.Errorf("table mismatch\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPodTableWideAllNamespaces(t *testing.T) {
	a := withCondition(testPod("web", time.Hour, corev1.PodRunning, running(true)), corev1.PodReady, corev1.ConditionTrue)
	a.Status.PodIPs = []corev1.PodIP{{IP: "10.88.0.5"}}
	a.Spec.NodeName = "podbox"
	b := testPod("db", 20*time.Minute, corev1.PodPending, waiting("ContainerCreating"))
	b.Namespace = "team-a"
	b.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/ok"}, {ConditionType: "example.com/lb"}}
	b = withCondition(b, "example.com/ok", corev1.ConditionTrue)
	b = withCondition(b, "example.com/lb", corev1.ConditionFalse)

	want := `NAMESPACE   NAME   READY   STATUS              RESTARTS   AGE   IP          NODE     NOMINATED NODE   READINESS GATES
default     web    1/1     Running             0          60m   10.88.0.5   podbox   <none>           <none>
team-a      db     0/1     ContainerCreating   0          20m   <none>      <none>   <none>           1/2
`
	var out strings.Builder
	if err := printPodTable(&out, []corev1.Pod{a, b}, tableOptions{allNamespaces: true, wide: true}, now); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want {
		t.Errorf("table mismatch\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrintPodObjects(t *testing.T) {
	p := testPod("web", time.Minute, corev1.PodRunning, running(true))
	p.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning}

	var single strings.Builder
	if err := printPodObjects(&single, "yaml", []corev1.Pod{p}, true); err != nil {
		t.Fatal(err)
	}
	wantSingle := `apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2026-05-01T11:59:00Z"
  name: web
  namespace: default
spec:
  containers:
  - image: nginx
    name: web
    resources: {}
status:
  phase: Running
`
	if single.String() != wantSingle {
		t.Errorf("single yaml\n got:\n%s\nwant:\n%s", single.String(), wantSingle)
	}

	var list strings.Builder
	if err := printPodObjects(&list, "json", nil, false); err != nil {
		t.Fatal(err)
	}
	wantList := `{
    "apiVersion": "v1",
    "items": [],
    "kind": "List",
    "metadata": {
        "resourceVersion": ""
    }
}
`
	if list.String() != wantList {
		t.Errorf("empty json list\n got:\n%s\nwant:\n%s", list.String(), wantList)
	}

	list.Reset()
	if err := printPodObjects(&list, "json", []corev1.Pod{p, p}, false); err != nil {
		t.Fatal(err)
	}
	if got := list.String(); strings.Count(got, `"kind": "Pod"`) != 2 || !strings.Contains(got, `"kind": "List"`) {
		t.Errorf("json list should hold two typed pods:\n%s", got)
	}
}
