//go:build integration

package integration

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"podbox.dev/podbox/rootless"
	"podbox.dev/podbox/testdata/images"
)

// pushTestImage starts a registry for the test and pushes a busybox-based
// image with one extra layer to it as repoTag; it returns the reference.
func pushTestImage(t *testing.T, repoTag string, extra ...images.Entry) string {
	t.Helper()
	host, stop, err := images.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	var layers []v1.Layer
	if len(extra) > 0 {
		l, err := images.Layer(extra...)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := images.WithLayers(v1.Config{Cmd: []string{"sh"}}, layers...)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := images.Push(host, repoTag, img)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestImagePullListRemove(t *testing.T) {
	t.Parallel()
	e := shared
	ref := pushTestImage(t, "podbox/pulltest:v1", images.Entry{Name: "marker", Mode: 0o644, Content: []byte("pull test")})
	repo, _, _ := strings.Cut(ref, ":v1")

	out := e.ok(t, "pull", ref)
	// Not a terminal: one line per blob, then docker's summary.
	for _, want := range []string{"Pulling " + ref, "Download complete", "Digest: sha256:", "Status: Downloaded newer image for " + ref} {
		if !strings.Contains(out, want) {
			t.Errorf("podbox pull output lacks %q:\n%s", want, out)
		}
	}
	if out := e.ok(t, "pull", ref); !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Errorf("second pull did not find the image up to date:\n%s", out)
	}
	if out := e.ok(t, "pull", "--quiet", ref); strings.TrimSpace(out) != ref {
		t.Errorf("pull --quiet printed %q, want just %q", out, ref)
	}

	list := e.ok(t, "images")
	if !strings.HasPrefix(list, "REPOSITORY") || !regexpMatch(`IMAGE ID\s+CREATED\s+SIZE`, list) {
		t.Errorf("podbox images header:\n%s", list)
	}
	if !regexpMatch(`(?m)^`+regexp.QuoteMeta(repo)+`\s+v1\s+[0-9a-f]{12}\s+\S.* ago\s+\S+$`, list) {
		t.Errorf("podbox images does not list %s v1 with an ID, age and size:\n%s", repo, list)
	}

	out = e.ok(t, "rmi", ref)
	if !strings.Contains(out, "Untagged: "+ref) || !strings.Contains(out, "Deleted: sha256:") {
		t.Errorf("rmi output:\n%s", out)
	}
	if strings.Contains(e.ok(t, "images"), repo) {
		t.Errorf("%s still listed after rmi", repo)
	}
	r := e.run(t, nil, "rmi", ref)
	if r.code != 1 || !strings.Contains(r.stderr, "Error: No such image: "+ref) {
		t.Errorf("rmi of a removed image: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := e.ok(t, "image", "verify"); !strings.Contains(out, "Checked ") {
		t.Errorf("image verify:\n%s", out)
	}
}

// TestRmiRefusesImageInUse needs the supervisor to lease the images of its
// pods (image.Store.Lease at pod start, Release at deletion).
func TestRmiRefusesImageInUse(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "rmi-in-use"
	ref := pushTestImage(t, "podbox/inuse:v1", images.Entry{Name: "marker", Mode: 0o644, Content: []byte("in use")})
	if r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: %s
    command: ["sleep", "100000"]
`, name, ref)); r.code != 0 {
		t.Fatalf("apply: exit %d: %s", r.code, r.stderr)
	}
	e.waitFor(t, name, 90*time.Second, "Running", running)

	r := e.run(t, nil, "rmi", ref)
	want := fmt.Sprintf("Error: image %q is in use by pod default/%s: delete the pod first", ref, name)
	if r.code != 1 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("rmi of an image in use: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
	e.ok(t, "image", "prune", "-a")
	if !strings.Contains(e.ok(t, "images"), strings.TrimSuffix(ref, ":v1")) {
		t.Errorf("image prune -a removed an image in use")
	}
	// The pod keeps working after the prune.
	e.ok(t, "exec", name, "--", "cat", "/marker")

	e.ok(t, "delete", "pod", name, "--grace-period=1")
	if out := e.ok(t, "rmi", ref); !strings.Contains(out, "Untagged: "+ref) {
		t.Errorf("rmi after deleting the pod:\n%s", out)
	}
}

// TestImageOwnership: a file and a directory that the image gives to
// 1000:1000 keep that owner in the container, and a container running as uid
// 1000 can write to the directory. This needs subordinate IDs.
func TestImageOwnership(t *testing.T) {
	if _, _, ok := rootless.SubordinateIDs(); !ok {
		t.Skip("no subordinate ID range for this user (/etc/subuid, /etc/subgid and newuidmap/newgidmap): image file owners cannot be kept")
	}
	t.Parallel()
	e := shared
	const name = "owned-files"
	ref := pushTestImage(t, "podbox/owned:v1",
		images.Entry{Name: "data/", Mode: 0o755, UID: 1000, GID: 1000},
		images.Entry{Name: "data/old", Mode: 0o644, UID: 1000, GID: 1000, Content: []byte("from the image\n")},
	)
	if r := e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsUser: 1000
    runAsGroup: 1000
  containers:
  - name: c
    image: %s
    command: ["sh", "-c", "echo written > /data/new && echo ok >> /data/old && ls -ln /data && echo done && exec sleep 100000"]
`, name, ref)); r.code != 0 {
		t.Fatalf("apply: exit %d: %s", r.code, r.stderr)
	}
	e.waitFor(t, name, 90*time.Second, "Running", running)
	var logs string
	eventually(t, 30*time.Second, func() string {
		logs = e.ok(t, "logs", name)
		if !strings.Contains(logs, "done") {
			return "the container did not finish writing:\n" + logs
		}
		return ""
	})
	for _, f := range []string{"new", "old"} {
		if !regexpMatch(`(?m)^-\S+\s+\d+\s+1000\s+1000\s.*\s`+f+`$`, logs) {
			t.Errorf("/data/%s is not owned by 1000:1000:\n%s", f, logs)
		}
	}
	e.ok(t, "delete", "pod", name, "--grace-period=1")
}
