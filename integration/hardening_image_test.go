//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	"podbox.dev/podbox/testdata/images"
)

// Image bombs as a pod meets them: an image whose layer declares a 200 GiB
// sparse file, and a registry that streams a layer without end. The pod
// must show an error naming the limit, not sit in ContainerCreating while
// the disk fills.

// sparseLayerTar is a tar stream of one PAX 1.0 sparse file of realSize
// bytes holding one byte of data (archive/tar cannot write sparse files).
func sparseLayerTar(name string, realSize int64) []byte {
	block := func(name string, typ byte, size int64) []byte {
		b := make([]byte, 512)
		copy(b[0:100], name)
		copy(b[100:108], "0000644\x00")
		copy(b[108:116], "0000000\x00")
		copy(b[116:124], "0000000\x00")
		copy(b[124:136], fmt.Sprintf("%011o\x00", size))
		copy(b[136:148], fmt.Sprintf("%011o\x00", 0))
		b[156] = typ
		copy(b[257:265], "ustar\x0000")
		copy(b[148:156], "        ")
		sum := 0
		for _, c := range b {
			sum += int(c)
		}
		copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
		return b
	}
	pad := func(buf *bytes.Buffer, data []byte) {
		buf.Write(data)
		if r := len(data) % 512; r != 0 {
			buf.Write(make([]byte, 512-r))
		}
	}
	record := func(k, v string) string {
		n := len(k) + len(v) + 3
		for {
			s := fmt.Sprintf("%d %s=%s\n", n, k, v)
			if len(s) == n {
				return s
			}
			n = len(s)
		}
	}
	var body bytes.Buffer
	pad(&body, []byte("1\n0\n1\n"))
	body.WriteString("x")
	pax := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") +
		record("GNU.sparse.name", name) + record("GNU.sparse.realsize", strconv.FormatInt(realSize, 10))
	var out bytes.Buffer
	out.Write(block("PaxHeaders/"+name, 'x', int64(len(pax))))
	pad(&out, []byte(pax))
	out.Write(block("GNUSparseFile.0/"+name, '0', int64(body.Len())))
	pad(&out, body.Bytes())
	out.Write(make([]byte, 1024))
	return out.Bytes()
}

// waitingWith reports whether the pod's container waits with a reason in
// reasons and a message containing every one of want.
func waitingWith(reasons []string, want ...string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, c := range p.Status.ContainerStatuses {
			w := c.State.Waiting
			if w == nil || !containsString(reasons, w.Reason) {
				continue
			}
			ok := true
			for _, s := range want {
				ok = ok && strings.Contains(w.Message, s)
			}
			if ok {
				return true
			}
		}
		return false
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func bombPod(name, ref string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: %s
    command: ["sleep", "100000"]
`, name, ref)
}

// TestHardeningImageSparseBomb: a 1.5 KB layer declaring a 200 GiB sparse
// file is refused; the pod shows the error with the entry and the limit.
func TestHardeningImageSparseBomb(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "hardening-sparse-bomb"
	host, stop, err := images.StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	data := sparseLayerTar("huge.img", 200<<30)
	bomb, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := images.WithLayers(v1.Config{Cmd: []string{"sh"}}, bomb)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := images.Push(host, "podbox/sparse-bomb:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.apply(t, bombPod(name, ref)); r.code != 0 {
		t.Fatalf("apply: exit %d: %s", r.code, r.stderr)
	}
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", name, "--grace-period=0", "--force") })
	e.waitFor(t, name, 90*time.Second, "waiting with the unpack limit named",
		waitingWith([]string{"CreateContainerError", "ErrImagePull"}, `"huge.img"`, "214748364800 bytes", "per-layer limit"))
}

// TestHardeningImageEndlessBlob: a registry streaming a layer without end is
// cut off after the size the manifest declares; the pod shows ErrImagePull.
func TestHardeningImageEndlessBlob(t *testing.T) {
	t.Parallel()
	e := shared
	const name = "hardening-endless-blob"
	var target atomic.Value // the layer's blob path, once pushed
	target.Store("")
	host, stop, err := images.StartRegistryWith(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if t := target.Load().(string); t == "" || r.Method != http.MethodGet || r.URL.Path != t {
				h.ServeHTTP(w, r)
				return
			}
			w.WriteHeader(http.StatusOK)
			chunk := bytes.Repeat([]byte("z"), 64<<10)
			for range 1024 { // 64 MiB at most, if the client kept reading
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	extra, err := images.Layer(images.Entry{Name: "marker", Mode: 0o644, Content: []byte("endless")})
	if err != nil {
		t.Fatal(err)
	}
	img, err := images.WithLayers(v1.Config{Cmd: []string{"sh"}}, extra)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := images.Push(host, "podbox/endless:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := extra.Digest()
	target.Store("/v2/podbox/endless/blobs/" + d.String())
	if r := e.apply(t, bombPod(name, ref)); r.code != 0 {
		t.Fatalf("apply: exit %d: %s", r.code, r.stderr)
	}
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", name, "--grace-period=0", "--force") })
	// ErrImagePull shows for a second before ImagePullBackOff; the Failed
	// event keeps the message.
	uid := e.getPod(t, name).UID
	eventually(t, 90*time.Second, func() string {
		for _, ev := range e.events(t, uid) {
			if ev.Reason == "Failed" && strings.Contains(ev.Message, "bytes the image's manifest declares") {
				return ""
			}
		}
		return "no Failed event naming the oversized blob"
	})
	p := e.getPod(t, name)
	if !waitingWith([]string{"ErrImagePull", "ImagePullBackOff"})(p) {
		t.Errorf("container status %+v, want waiting in ErrImagePull or ImagePullBackOff", p.Status.ContainerStatuses)
	}
}
