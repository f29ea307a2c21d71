//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// subPathRaceVictims is how many containers mount the flipped subPath; each
// start is one try at the race (a restarted container would wait out the
// 10 s crash back-off instead).
const subPathRaceVictims = 12

// TestHardeningSubPathSymlinkRace: a native sidecar flips `x` in an emptyDir
// between a directory and a symlink to a host directory holding a marker
// file, while twelve containers mount `subPath: x` (CVE-2017-1002101 /
// CVE-2021-25741). No container may ever see the host directory: each one
// either mounts the volume's own x or fails with an error naming the subPath.
// podbox leaves no staging mount behind.
func TestHardeningSubPathSymlinkRace(t *testing.T) {
	t.Parallel()
	e := shared
	host := t.TempDir()
	marker := "podbox-escape-marker-" + rand.String(8)
	if err := os.WriteFile(filepath.Join(host, marker), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := "subpath-race"
	var victims strings.Builder
	for i := range subPathRaceVictims {
		fmt.Fprintf(&victims, `  - name: v%d
    image: %s
    command: ["sh", "-c", "echo seen: $(ls -a /v | tr '\n' ' '); sleep 100000"]
    volumeMounts:
    - {name: work, mountPath: /v, subPath: x}
`, i, busyboxRef)
	}
	e.mustApply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: work, emptyDir: {}}
  initContainers:
  - name: flipper
    image: %[2]s
    restartPolicy: Always
    command: ["sh", "-c", "while :; do rmdir /w/x 2>/dev/null || rm -f /w/x; ln -s %[3]s /w/x; rm -f /w/x; mkdir /w/x; done"]
    volumeMounts:
    - {name: work, mountPath: /w}
  containers:
%[4]s`, name, busyboxRef, host, victims.String()))
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", name, "--grace-period=0", "--force") })

	// Every victim settles: started (it printed what it saw) or refused
	// with an error.
	settled := func(p *corev1.Pod) bool {
		n := 0
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w == nil || (w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing") {
				n++
			}
		}
		return n == subPathRaceVictims
	}
	p := e.waitFor(t, name, 2*time.Minute, "settled", settled)
	started, sandboxID := 0, ""
	for _, c := range p.Status.ContainerStatuses {
		if id, ok := strings.CutPrefix(c.ContainerID, "gvisor://"); ok {
			sandboxID, _, _ = strings.Cut(id, "-")
		}
		if w := c.State.Waiting; w != nil {
			// A lost race is an error, as on a cluster: the subPath changed
			// under podbox's open (CreateContainerConfigError) or the
			// flipper removed the opened directory before runsc bound it
			// (RunContainerError, then its back-off).
			t.Logf("container %s: %s: %.300s", c.Name, w.Reason, w.Message)
			switch {
			case w.Reason == "CreateContainerConfigError" && strings.Contains(w.Message, "subPath"):
			case w.Reason == "RunContainerError" && strings.Contains(w.Message, "subpath-staging"):
			case w.Reason == "CrashLoopBackOff":
			default:
				t.Errorf("container %s refused with %s: %q, want a subPath error", c.Name, w.Reason, w.Message)
			}
			continue
		}
		var out string
		eventually(t, 30*time.Second, func() string {
			out = e.run(t, nil, "logs", name, "-c", c.Name).stdout
			if !strings.Contains(out, "seen:") {
				return "container " + c.Name + " printed nothing yet"
			}
			return ""
		})
		if strings.Contains(out, marker) {
			t.Errorf("container %s saw the host directory through subPath x: %s", c.Name, out)
		}
		started++
	}
	t.Logf("%d of %d containers started, the rest lost the race with an error", started, subPathRaceVictims)
	if mounts := e.supervisorMounts(t); sandboxID != "" && strings.Contains(mounts, "/volumes/"+sandboxID) {
		t.Errorf("mounts of pod %s left in the supervisor's namespace:\n%s", sandboxID, mounts)
	}
}
