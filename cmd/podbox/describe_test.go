package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

// describeEvent is an event about pod, first seen first ago and last seen
// last ago.
func describeEvent(p *corev1.Pod, name, typ, reason, from, msg string, count int32, first, last time.Duration) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: p.Name + "." + name, Namespace: p.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Type:           typ, Reason: reason, Message: msg, Count: count,
		Source:         corev1.EventSource{Component: from},
		FirstTimestamp: ago(first), LastTimestamp: ago(last),
	}
}

func probe(h corev1.ProbeHandler, delay int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: h, InitialDelaySeconds: delay, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
}

// describedPod adds what the supervisor fills in for every pod.
func describedPod(p corev1.Pod, uid string) corev1.Pod {
	zero := int32(0)
	p.UID = types.UID(uid)
	p.Spec.Priority = &zero
	p.Spec.ServiceAccountName = "default"
	p.Spec.NodeName = "laptop"
	p.Status.HostIP = "127.0.0.1"
	p.Status.StartTime = ptrTo(ago(10 * time.Minute))
	return p
}

func ptrTo[T any](v T) *T { return &v }

// runningPod is a Running two-container pod with probes, resources, an
// environment, a volume and events.
func runningPod() (corev1.Pod, []runtime.Object) {
	p := describedPod(testPod("web", 10*time.Minute, corev1.PodRunning, named(running(true), "web"), named(running(true), "side")), "uid-web")
	p.Labels = map[string]string{"app": "web", "tier": "front"}
	p.Annotations = map[string]string{"note": "hello", corev1.LastAppliedConfigAnnotation: "{}"}
	p.Status.PodIP = "10.88.0.2"
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.88.0.2"}}
	p.Status.QOSClass = corev1.PodQOSBurstable
	for _, t := range []corev1.PodConditionType{"PodReadyToStartContainers", corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		p = withCondition(p, t, corev1.ConditionTrue)
	}
	web := &p.Spec.Containers[0]
	web.Image = "localhost/demo:1"
	web.Ports = []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	web.LivenessProbe = probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}}, 0)
	web.ReadinessProbe = probe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}, 5)
	web.Resources = corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("500m")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
	}
	web.Env = []corev1.EnvVar{
		{Name: "GREETING", Value: "hello"},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
	}
	web.VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
	p.Status.ContainerStatuses[0].ContainerID = "gvisor://podbox-web-web"
	p.Status.ContainerStatuses[0].ImageID = "localhost/demo@sha256:1111"
	side := &p.Spec.Containers[1]
	side.Command = []string{"sh", "-c"}
	side.Args = []string{"while true; do date; sleep 5; done"}
	p.Status.ContainerStatuses[1].ContainerID = "gvisor://podbox-web-side"
	p.Status.ContainerStatuses[1].ImageID = "docker.io/library/busybox@sha256:2222"
	p.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}

	events := []runtime.Object{
		describeEvent(&p, "3", "Normal", "Started", "kubelet", "Started container web", 1, 9*time.Minute, 9*time.Minute),
		describeEvent(&p, "1", "Normal", "Scheduled", "default-scheduler", "Successfully assigned default/web to laptop", 1, 10*time.Minute, 10*time.Minute),
		describeEvent(&p, "4", "Warning", "Unhealthy", "kubelet", "Readiness probe failed: cat: can't open '/tmp/ready'\n", 4, 10*time.Minute, 2*time.Minute),
		describeEvent(&p, "2", "Normal", "Pulled", "kubelet", "Container image \"localhost/demo:1\" already present on machine", 1, 590*time.Second, 590*time.Second),
	}
	// An event of another pod of the same name (an earlier incarnation) is
	// not shown.
	old := describeEvent(&p, "0", "Normal", "Killing", "kubelet", "Stopping container web", 1, 20*time.Minute, 20*time.Minute)
	old.InvolvedObject.UID = "uid-old"
	events = append(events, old)
	return p, events
}

// crashingPod has a container in CrashLoopBackOff after four restarts.
func crashingPod() (corev1.Pod, []runtime.Object) {
	st := named(restarted(waiting("CrashLoopBackOff"), 4, 30*time.Second), "app")
	st.LastTerminationState.Terminated.StartedAt = ago(31 * time.Second)
	st.State.Waiting.Message = "back-off 1m20s restarting failed container=app pod=crash_default(uid-crash)"
	st.ContainerID = "gvisor://podbox-crash-app-4"
	st.ImageID = "docker.io/library/busybox@sha256:2222"
	p := describedPod(testPod("crash", 5*time.Minute, corev1.PodRunning, st), "uid-crash")
	p.Spec.Containers[0].Command = []string{"sh", "-c", "echo dying; exit 1"}
	p.Status.PodIP = "10.88.0.3"
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.88.0.3"}}
	p = withCondition(p, corev1.PodInitialized, corev1.ConditionTrue)
	p = withCondition(p, corev1.PodReady, corev1.ConditionFalse)
	p = withCondition(p, corev1.ContainersReady, corev1.ConditionFalse)
	p = withCondition(p, corev1.PodScheduled, corev1.ConditionTrue)
	p.Spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo(int64(300))},
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ci", Effect: corev1.TaintEffectNoSchedule},
	}
	p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	events := []runtime.Object{
		describeEvent(&p, "1", "Normal", "Scheduled", "default-scheduler", "Successfully assigned default/crash to laptop", 1, 5*time.Minute, 5*time.Minute),
		describeEvent(&p, "2", "Normal", "Pulled", "kubelet", "Container image \"busybox\" already present on machine", 5, 5*time.Minute, 90*time.Second),
		describeEvent(&p, "3", "Warning", "BackOff", "kubelet", "Back-off restarting failed container app in pod crash_default(uid-crash)", 12, 4*time.Minute, 10*time.Second),
	}
	return p, events
}

// initPod is still initializing: its first init container has completed,
// the second runs, the app container waits.
func initPod() corev1.Pod {
	done := named(terminated(0, "Completed"), "fetch")
	done.State.Terminated.StartedAt = ago(50 * time.Second)
	done.State.Terminated.FinishedAt = ago(45 * time.Second)
	done.ContainerID = "gvisor://podbox-setup-fetch"
	migrate := named(running(false), "migrate")
	migrate.State.Running.StartedAt = ago(44 * time.Second)
	p := describedPod(testPod("setup", time.Minute, corev1.PodPending, named(waiting("PodInitializing"), "app")), "uid-setup")
	p = withInit(p, false, done, migrate)
	p.Spec.InitContainers[0].Args = []string{"wget", "-O", "/data/seed", "http://example.com/seed"}
	p.Spec.InitContainers[1].Env = []corev1.EnvVar{{Name: "SCRIPT", Value: "line one\nline two"}}
	p.Spec.InitContainers[1].Ports = []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP, HostPort: 5353}, {ContainerPort: 53, Protocol: corev1.ProtocolTCP}}
	p = withCondition(p, corev1.PodInitialized, corev1.ConditionFalse)
	p = withCondition(p, corev1.PodReady, corev1.ConditionFalse)
	p = withCondition(p, corev1.ContainersReady, corev1.ConditionFalse)
	p = withCondition(p, corev1.PodScheduled, corev1.ConditionTrue)
	return p
}

func describeFake(t *testing.T) *fake.Clientset {
	t.Helper()
	web, webEvents := runningPod()
	crash, crashEvents := crashingPod()
	setup := initPod()
	objs := []runtime.Object{&web, &crash, &setup}
	objs = append(objs, webEvents...)
	objs = append(objs, crashEvents...)
	return newFake(objs...)
}

func describe(t *testing.T, cs *fake.Clientset, opts describeOptions) (string, string, error) {
	t.Helper()
	if opts.namespace == "" {
		opts.namespace = "default"
	}
	if opts.selector == nil {
		opts.selector = labels.Everything()
	}
	opts.showEvents = true
	var out, errOut strings.Builder
	err := runDescribe(t.Context(), core(cs), core(cs), opts, &out, &errOut, now)
	return out.String(), errOut.String(), err
}

func checkGolden(t *testing.T, name, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s: line %d:\n got %q\nwant %q", name, i+1, g, w)
			break
		}
	}
	t.Errorf("%s: got\n%s", name, got)
}

func TestDescribeRunningPod(t *testing.T) {
	out, errOut, err := describe(t, describeFake(t), describeOptions{names: []string{"web"}})
	if err != nil || errOut != "" {
		t.Fatalf("err %v, stderr %q", err, errOut)
	}
	want := `Name:             web
Namespace:        default
Priority:         0
Service Account:  default
Node:             laptop/127.0.0.1
Start Time:       Fri, 01 May 2026 11:50:00 +0000
Labels:           app=web
                  tier=front
Annotations:      note: hello
Status:           Running
IP:               10.88.0.2
IPs:
  IP:  10.88.0.2
Containers:
  web:
    Container ID:   gvisor://podbox-web-web
    Image:          localhost/demo:1
    Image ID:       localhost/demo@sha256:1111
    Port:           8080/TCP
    Host Port:      0/TCP
    State:          Running
      Started:      Fri, 01 May 2026 11:59:00 +0000
    Ready:          True
    Restart Count:  0
    Limits:
      cpu:     500m
      memory:  128Mi
    Requests:
      cpu:      250m
    Liveness:   http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3
    Readiness:  exec [cat /tmp/ready] delay=5s timeout=1s period=10s #success=1 #failure=3
    Environment:
      GREETING:  hello
      POD_NAME:  web (v1:metadata.name)
    Mounts:
      /cache from cache (rw)
  side:
    Container ID:  gvisor://podbox-web-side
    Image:         busybox
    Image ID:      docker.io/library/busybox@sha256:2222
    Port:          <none>
    Host Port:     <none>
    Command:
      sh
      -c
    Args:
      while true; do date; sleep 5; done
    State:          Running
      Started:      Fri, 01 May 2026 11:59:00 +0000
    Ready:          True
    Restart Count:  0
    Environment:    <none>
    Mounts:         <none>
Conditions:
  Type                        Status
  PodReadyToStartContainers   True 
  Initialized                 True 
  Ready                       True 
  ContainersReady             True 
  PodScheduled                True 
Volumes:
  cache:
    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:      
    SizeLimit:   <unset>
QoS Class:       Burstable
Node-Selectors:  <none>
Tolerations:     <none>
Events:
  Type     Reason     Age               From               Message
  ----     ------     ----              ----               -------
  Normal   Scheduled  10m               default-scheduler  Successfully assigned default/web to laptop
  Normal   Pulled     9m50s             kubelet            Container image "localhost/demo:1" already present on machine
  Normal   Started    9m                kubelet            Started container web
  Warning  Unhealthy  2m (x4 over 10m)  kubelet            Readiness probe failed: cat: can't open '/tmp/ready'
`
	checkGolden(t, "running pod", out, want)
}

func TestDescribeCrashLoopBackOff(t *testing.T) {
	out, _, err := describe(t, describeFake(t), describeOptions{names: []string{"crash"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `Name:             crash
Namespace:        default
Priority:         0
Service Account:  default
Node:             laptop/127.0.0.1
Start Time:       Fri, 01 May 2026 11:50:00 +0000
Labels:           <none>
Annotations:      <none>
Status:           Running
IP:               10.88.0.3
IPs:
  IP:  10.88.0.3
Containers:
  app:
    Container ID:  gvisor://podbox-crash-app-4
    Image:         busybox
    Image ID:      docker.io/library/busybox@sha256:2222
    Port:          <none>
    Host Port:     <none>
    Command:
      sh
      -c
      echo dying; exit 1
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Started:      Fri, 01 May 2026 11:59:29 +0000
      Finished:     Fri, 01 May 2026 11:59:30 +0000
    Ready:          False
    Restart Count:  4
    Environment:    <none>
    Mounts:         <none>
Conditions:
  Type              Status
  Initialized       True 
  Ready             False 
  ContainersReady   False 
  PodScheduled      True 
Volumes:            <none>
QoS Class:          BestEffort
Node-Selectors:     kubernetes.io/os=linux
Tolerations:        node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                    dedicated=ci:NoSchedule
Events:
  Type     Reason     Age                From               Message
  ----     ------     ----               ----               -------
  Normal   Scheduled  5m                 default-scheduler  Successfully assigned default/crash to laptop
  Normal   Pulled     90s (x5 over 5m)   kubelet            Container image "busybox" already present on machine
  Warning  BackOff    10s (x12 over 4m)  kubelet            Back-off restarting failed container app in pod crash_default(uid-crash)
`
	checkGolden(t, "crashing pod", out, want)
}

func TestDescribeInitContainers(t *testing.T) {
	out, _, err := describe(t, describeFake(t), describeOptions{names: []string{"setup"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `Name:             setup
Namespace:        default
Priority:         0
Service Account:  default
Node:             laptop/127.0.0.1
Start Time:       Fri, 01 May 2026 11:50:00 +0000
Labels:           <none>
Annotations:      <none>
Status:           Pending
IP:               
IPs:              <none>
Init Containers:
  fetch:
    Container ID:  gvisor://podbox-setup-fetch
    Image:         busybox
    Image ID:      
    Port:          <none>
    Host Port:     <none>
    Args:
      wget
      -O
      /data/seed
      http://example.com/seed
    State:          Terminated
      Reason:       Completed
      Exit Code:    0
      Started:      Fri, 01 May 2026 11:59:10 +0000
      Finished:     Fri, 01 May 2026 11:59:15 +0000
    Ready:          False
    Restart Count:  0
    Environment:    <none>
    Mounts:         <none>
  migrate:
    Container ID:   
    Image:          busybox
    Image ID:       
    Ports:          53/UDP, 53/TCP
    Host Ports:     5353/UDP, 0/TCP
    State:          Running
      Started:      Fri, 01 May 2026 11:59:16 +0000
    Ready:          False
    Restart Count:  0
    Environment:
      SCRIPT:  line one
               line two
    Mounts:    <none>
Containers:
  app:
    Container ID:   
    Image:          busybox
    Image ID:       
    Port:           <none>
    Host Port:      <none>
    State:          Waiting
      Reason:       PodInitializing
    Ready:          False
    Restart Count:  0
    Environment:    <none>
    Mounts:         <none>
Conditions:
  Type              Status
  Initialized       False 
  Ready             False 
  ContainersReady   False 
  PodScheduled      True 
Volumes:            <none>
QoS Class:          BestEffort
Node-Selectors:     <none>
Tolerations:        <none>
Events:             <none>
`
	checkGolden(t, "init containers", out, want)
}

func TestDescribeTerminating(t *testing.T) {
	p := describedPod(testPod("bye", time.Minute, corev1.PodRunning, named(running(true), "main")), "uid-bye")
	p.DeletionTimestamp = ptrTo(metav1.NewTime(now.Add(10 * time.Second)))
	p.DeletionGracePeriodSeconds = ptrTo(int64(30))
	out, _, err := describe(t, newFake(&p), describeOptions{names: []string{"bye"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "Status:                    Terminating (lasts 10s)\nTermination Grace Period:  30s\n"
	if !strings.Contains(out, want) {
		t.Errorf("got\n%s\nwant it to contain\n%s", out, want)
	}
}

func TestDescribeNamesAndErrors(t *testing.T) {
	cs := describeFake(t)
	// A name that is no pod matches the pods it is a prefix of; one that
	// matches nothing is NotFound.
	out, errOut, err := describe(t, cs, describeOptions{names: []string{"ghost", "cr"}})
	if err != errReported || errOut != "Error from server (NotFound): pods \"ghost\" not found\n" || !strings.HasPrefix(out, "Name:             crash\n") {
		t.Errorf("err %v, stderr %q, stdout\n%s", err, errOut, out)
	}
	// Several pods are separated by two blank lines.
	out, _, _ = describe(t, cs, describeOptions{names: []string{"setup", "crash"}})
	if n := strings.Count(out, "Name:  "); n != 2 || !strings.Contains(out, "Events:             <none>\n\n\nName:             crash\n") {
		t.Errorf("%d pods described:\n%s", n, out)
	}
	// Without names: every pod matching the selector.
	sel, _ := labels.Parse("app=web")
	out, _, _ = describe(t, cs, describeOptions{selector: sel})
	if strings.Count(out, "Name:  ") != 1 || !strings.HasPrefix(out, "Name:             web\n") {
		t.Errorf("-l app=web:\n%s", out)
	}
	_, errOut, err = describe(t, cs, describeOptions{namespace: "empty"})
	if err != nil || errOut != "No resources found in empty namespace.\n" {
		t.Errorf("empty namespace: %v %q", err, errOut)
	}
}

// podboxWithEvents runs podbox like podbox() does, with the events API too.
func podboxWithEvents(t *testing.T, cs *fake.Clientset, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	saved := connect
	t.Cleanup(func() { connect = saved })
	connect = func(context.Context) (*client, error) {
		return &client{pods: core(cs), events: core(cs)}, nil
	}
	var out, errOut strings.Builder
	code = run(append([]string{"podbox"}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestDescribeCommandLine(t *testing.T) {
	cs := describeFake(t)
	other := testPod("api", time.Minute, corev1.PodRunning, running(true))
	other.Namespace = "team"
	if _, err := cs.CoreV1().Pods("team").Create(t.Context(), &other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"describe", "pod", "web"},
		{"describe", "pods", "web"},
		{"describe", "po", "web"},
		{"describe", "pod/web"},
		{"describe", "pod", "web", "-n", "default"},
	} {
		stdout, stderr, code := podboxWithEvents(t, cs, args...)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Name:             web\n") || !strings.Contains(stdout, "Started container web") {
			t.Errorf("%q: exit %d, stderr %q, stdout\n%s", args, code, stderr, stdout)
		}
	}
	stdout, _, code := podboxWithEvents(t, cs, "describe", "pod", "api", "-n", "team")
	if code != 0 || !strings.Contains(stdout, "Namespace:        team\n") {
		t.Errorf("-n team: exit %d\n%s", code, stdout)
	}
	stdout, stderr, code := podboxWithEvents(t, cs, "describe", "pod", "x")
	if code != 1 || stdout != "" || stderr != "Error from server (NotFound): pods \"x\" not found\n" {
		t.Errorf("not found: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, _, code = podboxWithEvents(t, cs, "describe", "pod", "web", "--show-events=false")
	if code != 0 || strings.Contains(stdout, "Events:") {
		t.Errorf("--show-events=false: exit %d\n%s", code, stdout)
	}
	for _, tc := range []struct{ args, want string }{
		{"describe", "error: You must specify the type of resource to describe"},
		{"describe deployments web", `error: the server doesn't have a resource type "deployments"`},
		{"describe pods web -l app=web", "error: name cannot be provided when a selector is specified"},
	} {
		_, stderr, code := podbox(t, nil, "", strings.Fields(tc.args)...)
		if code != 1 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("podbox %s: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}
