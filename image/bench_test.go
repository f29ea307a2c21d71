package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"podbox.dev/podbox/testdata/images"
)

// benchLayers and benchLayerSize make the benchmark image: 8 layers of 32 MiB
// of random (incompressible) content, 256 MiB in all.
const (
	benchLayers    = 8
	benchLayerSize = 32 << 20
)

// benchImage builds the benchmark image, compressing each layer once (fast
// gzip: the content is random anyway) so that pushing and pulling measure
// transfer, not compression.
func benchImage(b *testing.B) (v1.Image, int64) {
	b.Helper()
	var layers []v1.Layer
	var total int64
	for i := range benchLayers {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		content := make([]byte, benchLayerSize)
		if _, err := rand.Read(content); err != nil {
			b.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/%d.bin", i), Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			b.Fatal(err)
		}
		tw.Write(content)
		tw.Close()
		zw.Close()
		data := buf.Bytes()
		total += int64(len(data))
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			b.Fatal(err)
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		b.Fatal(err)
	}
	return img, total
}

// BenchmarkPull pulls a 256 MiB, 8-layer image from an in-process registry
// into an empty store and reports seconds and MB/s; a second pull of the same
// image must transfer no blob. In the same run it times `crane pull` and
// `skopeo copy` of the same image, when available, as crane-s and skopeo-s
// (crane: $PODBOX_BENCH_CRANE, or built from the ggcr version in go.mod;
// skopeo: from PATH).
//
//	go test ./image/ -run '^$' -bench BenchmarkPull -benchtime 3x
func BenchmarkPull(b *testing.B) {
	host, stop, err := images.StartRegistry()
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	img, size := benchImage(b)
	ref, err := images.Push(host, "bench/big:v1", img)
	if err != nil {
		b.Fatal(err)
	}
	mb := float64(size) / 1e6
	dir := b.TempDir()

	var elapsed time.Duration
	n := 0
	for b.Loop() {
		s, err := Open(filepath.Join(dir, fmt.Sprint("store", n)))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := s.Pull(context.Background(), ref); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		n++
		b.StopTimer()
		var again PullResult
		if _, err := s.Pull(context.Background(), ref, WithResult(&again)); err != nil {
			b.Fatal(err)
		}
		if again.Fetched != 0 {
			b.Fatalf("second pull fetched %d bytes, want 0", again.Fetched)
		}
		_ = RemoveTree(s.Root())
		b.StartTimer()
	}
	per := elapsed.Seconds() / float64(n)
	b.ReportMetric(per, "podbox-s")
	b.ReportMetric(mb/per, "podbox-MB/s")
	b.ReportMetric(mb, "image-MB")

	if crane := craneBinary(b); crane != "" {
		d := timeCommand(b, crane, "pull", "--insecure", "--format=oci", ref, filepath.Join(dir, "crane"))
		b.ReportMetric(d.Seconds(), "crane-s")
		b.ReportMetric(mb/d.Seconds(), "crane-MB/s")
	}
	if skopeo, err := exec.LookPath("skopeo"); err == nil {
		d := timeCommand(b, skopeo, "copy", "--src-tls-verify=false", "docker://"+ref, "dir:"+filepath.Join(dir, "skopeo"))
		b.ReportMetric(d.Seconds(), "skopeo-s")
		b.ReportMetric(mb/d.Seconds(), "skopeo-MB/s")
	} else {
		b.Log("skopeo not installed; not compared (apt-get install skopeo)")
	}
}

// timeCommand runs a command once, best of two (the first warms caches
// for nobody: each run writes to a fresh directory).
func timeCommand(b *testing.B, bin string, args ...string) time.Duration {
	b.Helper()
	best := time.Duration(0)
	for i := range 2 {
		a := append([]string(nil), args...)
		last := a[len(a)-1]
		a[len(a)-1] = fmt.Sprintf("%s%d", last, i)
		start := time.Now()
		out, err := exec.Command(bin, a...).CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%s %s: %v\n%s", bin, strings.Join(a, " "), err, out)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return best
}

// craneBinary returns a crane to compare with: $PODBOX_BENCH_CRANE, or one
// built from the go-containerregistry version in go.mod (which needs the Go
// module proxy); "" if neither works.
func craneBinary(b *testing.B) string {
	if c := os.Getenv("PODBOX_BENCH_CRANE"); c != "" {
		return c
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/google/go-containerregistry").Output()
	if err != nil {
		b.Logf("crane not compared: %v", err)
		return ""
	}
	version := strings.TrimSpace(string(out))
	tmp := b.TempDir()
	script := "go mod init cranebench >/dev/null 2>&1 && go get github.com/google/go-containerregistry/cmd/crane@" + version +
		" >/dev/null 2>&1 && go build -o crane github.com/google/go-containerregistry/cmd/crane"
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Logf("crane not compared: building crane %s: %v\n%s", version, err, out)
		return ""
	}
	return filepath.Join(tmp, "crane")
}
