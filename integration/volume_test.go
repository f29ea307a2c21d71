//go:build integration

package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// sh runs a shell command in a container of a pod and returns its trimmed
// stdout, failing the test on a non-zero exit.
func (e *env) sh(t *testing.T, pod, container, script string) string {
	t.Helper()
	return strings.TrimSpace(e.ok(t, "exec", pod, "-c", container, "--", "sh", "-c", script))
}

// mustApply applies a manifest and fails the test if apply fails.
func (e *env) mustApply(t *testing.T, manifest string) {
	t.Helper()
	if r := e.apply(t, manifest); r.code != 0 {
		t.Fatalf("apply: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
}

// hasEvent reports whether the pod has an event with reason whose message
// contains msg.
func (e *env) hasEvent(t *testing.T, p *corev1.Pod, reason, msg string) bool {
	t.Helper()
	for _, ev := range e.events(t, p.UID) {
		if ev.Reason == reason && strings.Contains(ev.Message, msg) {
			return true
		}
	}
	return false
}

func waiting(reason string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Waiting != nil && c.State.Waiting.Reason == reason {
				return true
			}
		}
		return false
	}
}

// TestVolumeEmptyDir: a producer and a consumer share an emptyDir (one
// gVisor tmpfs through the pod's mount hints): what one writes, the other
// reads at once; the directory is 0777; a medium: Memory emptyDir is a tmpfs
// whose sizeLimit is enforced.
func TestVolumeEmptyDir(t *testing.T) {
	t.Parallel()
	e := shared
	name := "vol-emptydir"
	e.mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: data
    emptyDir: {}
  - name: mem
    emptyDir:
      medium: Memory
      sizeLimit: 1Mi
  containers:
  - name: producer
    image: %[2]s
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i >> /out/stream; sleep 0.2; done"]
    volumeMounts:
    - {name: data, mountPath: /out}
    - {name: mem, mountPath: /mem}
  - name: consumer
    image: %[2]s
    command: ["sh", "-c", "until [ -s /in/stream ]; do sleep 0.1; done; tail -f /in/stream"]
    volumeMounts:
    - {name: data, mountPath: /in}
    - {name: mem, mountPath: /mem}
  - name: restarts
    image: %[2]s
    command: ["sh", "-c", "if [ -f /d/ran ]; then cat /d/ran; exec sleep 100000; fi; echo before-restart > /d/ran; exit 1"]
    volumeMounts:
    - {name: data, mountPath: /d}
`, name, busyboxRef))
	e.waitFor(t, name, 2*time.Minute, "running", running)

	eventually(t, 30*time.Second, func() string {
		if out := e.ok(t, "logs", name, "-c", "consumer"); !strings.Contains(out, "line 3") {
			return "the consumer has not read the producer's lines: " + out
		}
		return ""
	})
	// The kubelet keeps an emptyDir across container restarts.
	if got := strings.TrimSpace(e.ok(t, "logs", name, "-c", "restarts")); got != "before-restart" {
		t.Errorf("after its restart the container read %q from the emptyDir", got)
	}
	if got := e.sh(t, name, "consumer", "stat -c %a /in"); got != "777" {
		t.Errorf("emptyDir mode %s, want 777", got)
	}
	// No waiting: the second exec reads what the first wrote.
	for i := 0; i < 3; i++ {
		v := fmt.Sprintf("value-%d", i)
		e.sh(t, name, "producer", "echo "+v+" > /out/now")
		if got := e.sh(t, name, "consumer", "cat /in/now"); got != v {
			t.Fatalf("consumer read %q right after the producer wrote %q", got, v)
		}
		e.sh(t, name, "consumer", "echo back-"+v+" > /mem/x")
		if got := e.sh(t, name, "producer", "cat /mem/x"); got != "back-"+v {
			t.Fatalf("producer read %q from the Memory emptyDir", got)
		}
	}
	if got := e.sh(t, name, "producer", "grep ' /mem ' /proc/mounts | cut -d' ' -f3"); got != "tmpfs" {
		t.Errorf("Memory emptyDir mounted as %q, want tmpfs", got)
	}
	r := e.run(t, nil, "exec", name, "-c", "producer", "--", "sh", "-c", "dd if=/dev/zero of=/mem/big bs=1024 count=2048")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "No space left on device") {
		t.Errorf("writing 2 MiB into a 1Mi Memory emptyDir: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	e.ok(t, "delete", "pod", name, "--grace-period=1")
}

// TestVolumeHostPath: every hostPath type against paths the test makes; a
// failed type check keeps the pod in ContainerCreating with the kubelet's
// FailedMount event until the path appears.
func TestVolumeHostPath(t *testing.T) {
	t.Parallel()
	e := shared
	d := t.TempDir()
	os.Mkdir(filepath.Join(d, "dir"), 0o755)
	os.WriteFile(filepath.Join(d, "dir", "hello"), []byte("from the host\n"), 0o644)
	os.WriteFile(filepath.Join(d, "file"), []byte("a file\n"), 0o644)
	// The socket is a datagram one: busybox's logger writes to /dev/log.
	sock := filepath.Join(d, "sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	name := "vol-hostpath"
	e.mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: dir, hostPath: {path: %[3]s/dir, type: Directory}}
  - {name: newdir, hostPath: {path: %[3]s/new/dir, type: DirectoryOrCreate}}
  - {name: file, hostPath: {path: %[3]s/file, type: File}}
  - {name: newfile, hostPath: {path: %[3]s/newfile, type: FileOrCreate}}
  - {name: sock, hostPath: {path: %[3]s/sock, type: Socket}}
  - {name: untyped, hostPath: {path: %[3]s/dir}}
  containers:
  - name: c
    image: %[2]s
    command: ["sleep", "100000"]
    volumeMounts:
    - {name: dir, mountPath: /dir, readOnly: true}
    - {name: newdir, mountPath: /newdir}
    - {name: file, mountPath: /etc/file}
    - {name: newfile, mountPath: /newfile}
    - {name: sock, mountPath: /dev/log}
    - {name: untyped, mountPath: /untyped}
`, name, busyboxRef, d))
	e.waitFor(t, name, 2*time.Minute, "running", running)
	if got := e.sh(t, name, "c", "cat /dir/hello /etc/file /untyped/hello"); got != "from the host\na file\nfrom the host" {
		t.Errorf("hostPath contents: %q", got)
	}
	r := e.run(t, nil, "exec", name, "-c", "c", "--", "sh", "-c", "echo x > /dir/new")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("write to a readOnly hostPath: exit %d %q", r.code, r.stderr)
	}
	e.sh(t, name, "c", "echo written > /newdir/out; echo appended >> /newfile")
	if b, _ := os.ReadFile(filepath.Join(d, "new/dir/out")); string(b) != "written\n" {
		t.Errorf("DirectoryOrCreate: the host sees %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "newfile")); string(b) != "appended\n" {
		t.Errorf("FileOrCreate: the host sees %q", b)
	}
	// The container connects to the host's socket.
	e.sh(t, name, "c", "logger -t podbox hello-from-the-pod")
	l.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	if n, err := l.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "hello-from-the-pod") {
		t.Errorf("the host socket got %q, %v", buf[:n], err)
	}
	e.ok(t, "delete", "pod", name, "--grace-period=1")

	// A failed check: ContainerCreating and FailedMount, retried until the
	// directory exists.
	missing := filepath.Join(d, "later")
	name = "vol-hostpath-wait"
	e.mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: later, hostPath: {path: %[3]s, type: Directory}}
  containers:
  - name: c
    image: %[2]s
    command: ["sleep", "100000"]
    volumeMounts:
    - {name: later, mountPath: /later}
`, name, busyboxRef, missing))
	p := e.waitFor(t, name, time.Minute, "failing its mount", func(p *corev1.Pod) bool {
		return waiting("ContainerCreating")(p) && e.hasEvent(t, p, "FailedMount",
			`MountVolume.SetUp failed for volume "later" : hostPath type check failed: `+missing+` is not a directory`)
	})
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s while the volume is missing, want Pending", p.Status.Phase)
	}
	os.Mkdir(missing, 0o755)
	e.waitFor(t, name, 2*time.Minute, "running once the directory exists", running)
	e.ok(t, "delete", "pod", name, "--grace-period=1")
}

// TestVolumeConfigMapSecret: items, modes, read-only files, a missing
// ConfigMap holding the pod in ContainerCreating, and an update seen through
// a new ..data version.
func TestVolumeConfigMapSecret(t *testing.T) {
	t.Parallel()
	e := shared
	name := "vol-config"
	pod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: cfg
    configMap:
      name: vol-app
      items:
      - {key: greeting, path: conf/greeting.txt}
      - {key: level, path: level, mode: 0600}
  - name: sec
    secret:
      secretName: vol-db
      defaultMode: 0400
  containers:
  - name: c
    image: %[2]s
    command: ["sleep", "100000"]
    volumeMounts:
    - {name: cfg, mountPath: /etc/app}
    - {name: sec, mountPath: /etc/db}
`, name, busyboxRef)
	e.mustApply(t, pod)
	e.waitFor(t, name, time.Minute, "waiting for its ConfigMap", func(p *corev1.Pod) bool {
		return waiting("ContainerCreating")(p) && e.hasEvent(t, p, "FailedMount", `MountVolume.SetUp failed for volume "cfg" : configmap "vol-app" not found`)
	})
	e.mustApply(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: vol-app
data:
  greeting: hello
  level: debug
  unused: x
---
apiVersion: v1
kind: Secret
metadata:
  name: vol-db
stringData:
  password: s3cret
`)
	e.waitFor(t, name, 2*time.Minute, "running once its ConfigMap exists", running)
	if got := e.sh(t, name, "c", "cat /etc/app/conf/greeting.txt; echo; cat /etc/app/level; echo; cat /etc/db/password"); got != "hello\ndebug\ns3cret" {
		t.Errorf("files: %q", got)
	}
	if got := e.sh(t, name, "c", "stat -L -c %a /etc/app/conf/greeting.txt /etc/app/level /etc/db/password"); got != "644\n600\n400" {
		t.Errorf("modes: %q, want 644 (default), 600 (item mode), 400 (defaultMode)", got)
	}
	if got := e.sh(t, name, "c", "ls /etc/app"); strings.Contains(got, "unused") {
		t.Errorf("a key not in items is in the volume: %q", got)
	}
	r := e.run(t, nil, "exec", name, "-c", "c", "--", "sh", "-c", "echo x > /etc/app/new")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("configMap volumes are read-only: exit %d %q", r.code, r.stderr)
	}
	before := e.sh(t, name, "c", "readlink /etc/app/..data")
	e.mustApply(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: vol-app
data:
  greeting: bonjour
  level: debug
`)
	eventually(t, 30*time.Second, func() string {
		if got := e.sh(t, name, "c", "cat /etc/app/conf/greeting.txt"); got != "bonjour" {
			return "after the update the file reads " + got
		}
		return ""
	})
	if after := e.sh(t, name, "c", "readlink /etc/app/..data"); after == before || !strings.HasPrefix(after, "..20") {
		t.Errorf("..data went from %q to %q, want a new timestamped version", before, after)
	}
	if got := e.sh(t, name, "c", "readlink /etc/app/conf"); got != "..data/conf" {
		t.Errorf("conf -> %q, want ..data/conf", got)
	}
	e.ok(t, "delete", "pod", name, "--grace-period=1")
}

// TestVolumeDownwardAPIProjectedSubPath: downwardAPI files, a projected
// volume combining a ConfigMap, a Secret and pod fields, subPath and
// subPathExpr (from a fieldRef variable), and a subPathExpr refused.
func TestVolumeDownwardAPIProjectedSubPath(t *testing.T) {
	t.Parallel()
	e := shared
	e.mustApply(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: vol-proj
data:
  a: alpha
---
apiVersion: v1
kind: Secret
metadata:
  name: vol-proj
stringData:
  b: beta
`)
	name := "vol-downward"
	e.mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {app: web, tier: front}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: tier, fieldRef: {fieldPath: "metadata.labels['tier']"}}
  - name: all
    projected:
      sources:
      - configMap: {name: vol-proj}
      - secret: {name: vol-proj, items: [{key: b, path: secret/b}]}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
  - name: work
    emptyDir: {}
  initContainers:
  - name: prepare
    image: %[2]s
    command: ["sh", "-c", "echo from-init > /work/file; mkdir -p /work/$(POD_NAME); echo mine > /work/$(POD_NAME)/f"]
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    volumeMounts:
    - {name: work, mountPath: /work}
  containers:
  - name: c
    image: %[2]s
    command: ["sleep", "100000"]
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    volumeMounts:
    - {name: info, mountPath: /info}
    - {name: all, mountPath: /all}
    - {name: work, mountPath: /one/file, subPath: file}
    - {name: work, mountPath: /own, subPathExpr: $(POD_NAME)}
`, name, busyboxRef))
	e.waitFor(t, name, 2*time.Minute, "running", running)
	if got := e.sh(t, name, "c", "cat /info/labels; echo; cat /info/name; echo; cat /info/tier"); got != "app=\"web\"\ntier=\"front\"\n"+name+"\nfront" {
		t.Errorf("downwardAPI files: %q", got)
	}
	if got := e.sh(t, name, "c", "cat /all/a; echo; cat /all/secret/b; echo; cat /all/ns"); got != "alpha\nbeta\ndefault" {
		t.Errorf("projected files: %q", got)
	}
	if got := e.sh(t, name, "c", "cat /one/file /own/f"); got != "from-init\nmine" {
		t.Errorf("subPath and subPathExpr: %q", got)
	}
	e.ok(t, "delete", "pod", name, "--grace-period=1")

	// A subPathExpr whose variable is unset cannot be mounted.
	name = "vol-subpath-bad"
	e.mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: work, emptyDir: {}}
  containers:
  - name: c
    image: %[2]s
    command: ["sleep", "100000"]
    volumeMounts:
    - {name: work, mountPath: /w, subPathExpr: $(NOT_SET)}
`, name, busyboxRef))
	p := e.waitFor(t, name, 2*time.Minute, "refused", waiting("CreateContainerConfigError"))
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "missing value for NOT_SET") {
		t.Errorf("message %q", msg)
	}
	e.ok(t, "delete", "pod", name, "--grace-period=1")
}

// TestVolumePersistentClaim: a claim outlives its pod, shows in `volume ls`
// with its user, cannot be removed while used, and is removed after.
func TestVolumePersistentClaim(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, true)
	pod := func(name, cmd string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: db-data}}
  containers:
  - name: c
    image: %[2]s
    command: ["sh", "-c", %[3]q]
    volumeMounts:
    - {name: data, mountPath: /data}
`, name, busyboxRef, cmd)
	}
	e.mustApply(t, pod("writer", "echo kept > /data/f; sleep 100000"))
	e.waitFor(t, "writer", 2*time.Minute, "running", running)
	ls := e.ok(t, "volume", "ls")
	if !regexpMatch(`(?m)^default\s+db-data\s+\S+\s+writer\s+\S+$`, ls) {
		t.Errorf("volume ls while the writer runs:\n%s", ls)
	}
	r := e.run(t, nil, "volume", "rm", "db-data")
	if r.code == 0 || !strings.Contains(r.stderr, `Error from server (Conflict)`) || !strings.Contains(r.stderr, `"writer"`) {
		t.Errorf("volume rm of a used volume: exit %d %q", r.code, r.stderr)
	}
	e.ok(t, "delete", "pod", "writer", "--grace-period=1")

	e.mustApply(t, pod("reader", "cat /data/f"))
	e.waitFor(t, "reader", 2*time.Minute, "completed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if got := strings.TrimSpace(e.ok(t, "logs", "reader")); got != "kept" {
		t.Errorf("the next pod reads %q from the claim", got)
	}
	e.ok(t, "delete", "pod", "reader", "--grace-period=1")
	if out := e.ok(t, "volume", "rm", "db-data"); !strings.Contains(out, `volume "db-data" deleted`) {
		t.Errorf("volume rm: %q", out)
	}
	if ls := e.ok(t, "volume", "ls"); strings.Contains(ls, "db-data") {
		t.Errorf("volume ls after rm:\n%s", ls)
	}
}

// TestVolumeRefusedAtApply: volume types podbox cannot run are refused with
// the field and what is supported, and nothing is created.
func TestVolumeRefusedAtApply(t *testing.T) {
	t.Parallel()
	e := shared
	r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: vol-refused
spec:
  volumes:
  - {name: share, nfs: {server: nfs.example, path: /export}}
  - name: token
    projected:
      sources:
      - serviceAccountToken: {path: token}
  containers:
  - name: c
    image: %s
    volumeMounts:
    - {name: share, mountPath: /share}
    - {name: nope, mountPath: /nope}
`, busyboxRef))
	if r.code == 0 {
		t.Fatal("a pod with an nfs volume was accepted")
	}
	for _, want := range []string{
		"spec.volumes[0].nfs: Forbidden: podbox does not support nfs volumes: supported volume types are emptyDir, hostPath, configMap, secret, downwardAPI, projected and persistentVolumeClaim",
		"spec.volumes[1].projected.sources[0].serviceAccountToken: Forbidden",
		`spec.containers[0].volumeMounts[1].name: Not found: "nope"`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, r.stderr)
		}
	}
	if out := e.run(t, nil, "get", "pod", "vol-refused"); out.code == 0 {
		t.Error("the refused pod exists")
	}
}

// TestVolumeFSGroup: with a pod fsGroup, an emptyDir, a ConfigMap volume and
// a claim belong to the group, with setgid directories, so a non-root
// container can share files through them.
func TestVolumeFSGroup(t *testing.T) {
	t.Parallel()
	e := shared
	name := "vol-fsgroup"
	e.mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: vol-fsgroup
data:
  k: v
---
apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    fsGroup: 2000
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: cfg, configMap: {name: vol-fsgroup, defaultMode: 0600}}
  - {name: data, persistentVolumeClaim: {claimName: vol-fsgroup}}
  containers:
  - name: c
    image: %[2]s
    command: ["sleep", "100000"]
    securityContext: {runAsUser: 1000, runAsGroup: 1000}
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: cfg, mountPath: /cfg}
    - {name: data, mountPath: /data}
`, name, busyboxRef))
	e.waitFor(t, name, 2*time.Minute, "running", running)
	if got := e.sh(t, name, "c", "stat -c '%g %a' /scratch /data; stat -L -c '%g %a' /cfg/k"); got != "2000 2777\n2000 2777\n2000 640" {
		t.Errorf("group and mode of the volumes: %q, want 2000 with setgid directories and group read on the file", got)
	}
	e.ok(t, "delete", "pod", name, "--grace-period=1")
	e.ok(t, "volume", "rm", "vol-fsgroup")
}
