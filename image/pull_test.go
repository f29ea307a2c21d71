package image

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"podbox.dev/podbox/testdata/images"
)

// faultRegistry is an in-process registry whose handler can inject faults and
// counts what it serves.
type faultRegistry struct {
	host string
	// fault, if set, may answer a request itself (returning true).
	fault func(w http.ResponseWriter, r *http.Request, inner http.Handler) bool

	mu     sync.Mutex
	gets   map[string]int // GET requests per path
	ranges []string       // Range headers seen
	served int64          // blob body bytes written
}

func startFaultRegistry(t testing.TB) *faultRegistry {
	t.Helper()
	fr := &faultRegistry{gets: map[string]int{}}
	host, stop, err := images.StartRegistryWith(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				fr.mu.Lock()
				fr.gets[r.URL.Path]++
				if rg := r.Header.Get("Range"); rg != "" {
					fr.ranges = append(fr.ranges, rg)
				}
				fr.mu.Unlock()
			}
			if strings.Contains(r.URL.Path, "/blobs/sha256:") {
				w = &countingWriter{ResponseWriter: w, fr: fr}
			}
			if fr.fault != nil && fr.fault(w, r, h) {
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	fr.host = host
	return fr
}

func (fr *faultRegistry) getsOf(path string) int {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.gets[path]
}

type countingWriter struct {
	http.ResponseWriter
	fr *faultRegistry
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.fr.mu.Lock()
	c.fr.served += int64(n)
	c.fr.mu.Unlock()
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// blobPathOf is the registry path of a blob of repo.
func blobPathOf(repo string, h v1.Hash) string { return "/v2/" + repo + "/blobs/" + h.String() }

// randomImage returns an image of n random layers of size bytes each.
func randomImage(t testing.TB, size int64, n int) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(n))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// sleeps records the waits of the retrying transport instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func TestPullRetries5xx(t *testing.T) {
	fr := startFaultRegistry(t)
	img := randomImage(t, 4096, 2)
	ref, err := images.Push(fr.host, "flaky/app:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	d, _ := layers[1].Digest()
	target := blobPathOf("flaky/app", d)
	var mu sync.Mutex
	failures := 0
	fr.fault = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodGet && r.URL.Path == target && failures < 3 {
			failures++
			code := []int{500, 502, 503}[failures-1]
			http.Error(w, "try later", code)
			return true
		}
		return false
	}
	var sl sleeps
	s := openStore(t)
	if _, err := s.Pull(context.Background(), ref, withSleep(sl.sleep)); err != nil {
		t.Fatalf("pull through three 5xx answers: %v", err)
	}
	if got := fr.getsOf(target); got != 4 {
		t.Errorf("layer fetched %d times, want 4 (3 failures, 1 success)", got)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
	if got := sl.get(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("back-off waits %v, want %v", got, want)
	}

	// A 404 is not retried.
	sl = sleeps{}
	if _, err := s.Pull(context.Background(), fr.host+"/flaky/absent:v1", withSleep(sl.sleep)); err == nil {
		t.Fatal("pull of a missing image succeeded")
	}
	if got := sl.get(); len(got) != 0 {
		t.Errorf("a 404 was retried: waits %v", got)
	}
}

func TestPullHonoursRetryAfter(t *testing.T) {
	fr := startFaultRegistry(t)
	img := randomImage(t, 1024, 1)
	ref, err := images.Push(fr.host, "limited/app:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	limited := 0
	fr.fault = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(r.URL.Path, "/manifests/") && limited < 2 {
			limited++
			if limited == 1 {
				w.Header().Set("Retry-After", "7")
			} else {
				w.Header().Set("Retry-After", time.Now().Add(20*time.Second).UTC().Format(http.TimeFormat))
			}
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return true
		}
		return false
	}
	var sl sleeps
	s := openStore(t)
	if _, err := s.Pull(context.Background(), ref, withSleep(sl.sleep)); err != nil {
		t.Fatalf("pull after 429s: %v", err)
	}
	got := sl.get()
	if len(got) != 2 || got[0] != 7*time.Second || got[1] < 18*time.Second || got[1] > 20*time.Second {
		t.Errorf("waits %v, want [7s ~20s] as Retry-After asked", got)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"0": 0, "12": 12 * time.Second,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got, ok := retryAfter(in, now); !ok || got != want {
			t.Errorf("retryAfter(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "-3", "soon"} {
		if _, ok := retryAfter(bad, now); ok {
			t.Errorf("retryAfter(%q) accepted", bad)
		}
	}
}

func TestPullResumesCutLayer(t *testing.T) {
	fr := startFaultRegistry(t)
	const size = 4 << 20
	img := randomImage(t, size, 1)
	ref, err := images.Push(fr.host, "cut/app:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	blobSize, _ := layers[0].Size()
	target := blobPathOf("cut/app", d)
	var mu sync.Mutex
	cuts := 0
	fr.fault = func(w http.ResponseWriter, r *http.Request, inner http.Handler) bool {
		mu.Lock()
		cut := r.Method == http.MethodGet && r.URL.Path == target && r.Header.Get("Range") == "" && cuts == 0
		if cut {
			cuts++
		}
		mu.Unlock()
		if !cut {
			return false
		}
		// Serve the full headers and 40% of the body, then drop the
		// connection.
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)*2/5])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	s := openStore(t)
	var res PullResult
	if _, err := s.Pull(context.Background(), ref, WithResult(&res)); err != nil {
		t.Fatalf("pull with a cut connection: %v", err)
	}
	fr.mu.Lock()
	ranges, served := fr.ranges, fr.served
	fr.mu.Unlock()
	wantRange := fmt.Sprintf("bytes=%d-%d", blobSize*2/5, blobSize-1)
	if len(ranges) != 1 || ranges[0] != wantRange {
		t.Errorf("Range requests %q, want [%q]", ranges, wantRange)
	}
	if served >= 2*blobSize {
		t.Errorf("registry served %d blob bytes for a %d-byte layer: the download restarted", served, blobSize)
	}
	if got, err := hashFile(s.blobPath(d)); err != nil || got != d.Hex {
		t.Errorf("stored layer hashes to %s (%v), want %s", got, err, d.Hex)
	}
	if res.Fetched < blobSize || res.Fetched >= 2*blobSize {
		t.Errorf("PullResult.Fetched = %d, want about %d", res.Fetched, blobSize)
	}
}

func TestContentRange(t *testing.T) {
	for v, want := range map[string]bool{
		"bytes 10-99/100": true, "bytes 10-99/*": true, "bytes 0-99/100": false,
		"bytes 10-98/100": false, "bytes 10-99/101": false, "items 10-99/100": false, "": false,
	} {
		if got := contentRangeStarts(v, 10, 100); got != want {
			t.Errorf("contentRangeStarts(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestPullProgressAndResult checks the progress callback and PullResult, and
// that a second pull of the same image transfers no blob.
func TestPullProgressAndResult(t *testing.T) {
	fr := startFaultRegistry(t)
	img := randomImage(t, 300<<10, 3)
	ref, err := images.Push(fr.host, "prog/app:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	var mu sync.Mutex
	final := map[v1.Hash]Progress{}
	record := func(p Progress) {
		mu.Lock()
		final[p.Digest] = p
		mu.Unlock()
	}
	var res PullResult
	got, err := s.Pull(context.Background(), ref, WithProgress(record), WithResult(&res))
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	var layerBytes int64
	for i, l := range layers {
		d, _ := l.Digest()
		sz, _ := l.Size()
		layerBytes += sz
		p := final[d]
		if p.State != ProgressDone || p.Current != sz || p.Total != sz || p.Layer != i+1 {
			t.Errorf("layer %d: last progress %+v, want Done %d/%d", i+1, p, sz, sz)
		}
	}
	if res.Image == nil || res.Image.Digest != got.Digest || res.Size != got.Size || res.Size <= layerBytes {
		t.Errorf("PullResult %+v does not describe %+v", res, got)
	}
	if res.Fetched < layerBytes || res.Total <= 0 || res.Duration > res.Total || res.Source != fr.host {
		t.Errorf("PullResult %+v: want Fetched ≥ %d, durations and source %s", res, layerBytes, fr.host)
	}

	clear(final)
	var again PullResult
	if _, err := s.Pull(context.Background(), ref, WithProgress(record), WithResult(&again)); err != nil {
		t.Fatal(err)
	}
	if again.Fetched != 0 {
		t.Errorf("second pull fetched %d blob bytes, want 0", again.Fetched)
	}
	for d, p := range final {
		if p.State != ProgressExists {
			t.Errorf("second pull: %s ended %v, want Already exists", d, p.State)
		}
	}
}

// TestConcurrentPullsFetchEachBlobOnce pulls one image into one store from
// several goroutines and several processes at once: every blob must be
// downloaded once, and the store must end up with one consistent image.
func TestConcurrentPullsFetchEachBlobOnce(t *testing.T) {
	fr := startFaultRegistry(t)
	img := randomImage(t, 1<<20, 4)
	ref, err := images.Push(fr.host, "shared/app:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	fr.mu.Lock()
	clear(fr.gets)
	fr.mu.Unlock()
	// Slow blobs so that the pulls overlap.
	fr.fault = func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if strings.Contains(r.URL.Path, "/blobs/") {
			time.Sleep(150 * time.Millisecond)
		}
		return false
	}
	s := openStore(t)
	const goroutines, procs = 4, 3
	var cmds []*exec.Cmd
	for i := 0; i < procs; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPullProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "PODBOX_TEST_PULL_STORE="+s.Root(), "PODBOX_TEST_PULL_REF="+ref)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("helper output:\n%s", out.String())
			}
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A Store per goroutine, as separate supervisors would have.
			st, err := Open(s.Root())
			if err == nil {
				_, err = st.Pull(context.Background(), ref)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("pull process %d: %v", i, err)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull goroutine %d: %v", i, err)
		}
	}
	layers, _ := img.Layers()
	cfg, _ := img.ConfigName()
	digests := []v1.Hash{cfg}
	for _, l := range layers {
		d, _ := l.Digest()
		digests = append(digests, d)
	}
	for _, d := range digests {
		if n := fr.getsOf(blobPathOf("shared/app", d)); n != 1 {
			t.Errorf("blob %s fetched %d times by %d concurrent pulls, want once", d.Hex[:12], n, goroutines+procs)
		}
		if got, err := hashFile(s.blobPath(d)); err != nil || got != d.Hex {
			t.Errorf("blob %s: stored content hashes to %s (%v)", d.Hex[:12], got, err)
		}
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Ref != ref {
		t.Fatalf("store lists %v (%v), want just %s", refs(list), err, ref)
	}
	rep, err := s.Verify()
	if err != nil || len(rep.Problems) != 0 {
		t.Errorf("Verify after concurrent pulls: %+v, %v", rep, err)
	}
}

// TestHelperPullProcess is the body of the pull processes started by
// TestConcurrentPullsFetchEachBlobOnce; on its own it does nothing.
func TestHelperPullProcess(t *testing.T) {
	root, ref := os.Getenv("PODBOX_TEST_PULL_STORE"), os.Getenv("PODBOX_TEST_PULL_REF")
	if root == "" {
		t.Skip("helper process for TestConcurrentPullsFetchEachBlobOnce")
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pull(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
}

func TestPullFromMirror(t *testing.T) {
	mirror := startFaultRegistry(t)
	img := randomImage(t, 2048, 1)
	if _, err := images.Push(mirror.host, "proxy/team/app:v1", img); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "registries.yaml")
	cfg := fmt.Sprintf("registries:\n  registry.invalid:\n    mirrors: [\"127.0.0.1:1\", %q]\n", mirror.host+"/proxy")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(t.TempDir(), "images"), WithRegistriesConfig(cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	var res PullResult
	var sl sleeps
	got, err := s.Pull(context.Background(), "registry.invalid/team/app:v1", WithResult(&res), withSleep(sl.sleep))
	if err != nil {
		t.Fatalf("pull through a mirror: %v", err)
	}
	want, _ := img.Digest()
	if got.Ref != "registry.invalid/team/app:v1" || got.Digest != want || res.Source != mirror.host {
		t.Errorf("pulled %s %v from %s, want registry.invalid/team/app:v1 %v from %s", got.Ref, got.Digest, res.Source, want, mirror.host)
	}

	for _, bad := range []string{"registries:\n  a/b:\n    insecure: true\n", "registries:\n  x.io:\n    mirrors: [\"https://m.io\"]\n", "registries:\n  x.io:\n    mirros: []\n"} {
		if err := os.WriteFile(cfgPath, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadRegistriesConfig(cfgPath); err == nil {
			t.Errorf("configuration %q accepted", bad)
		}
	}
	if c, err := LoadRegistriesConfig(filepath.Join(t.TempDir(), "absent.yaml")); err != nil || len(c.Registries) != 0 {
		t.Errorf("missing configuration: %+v, %v", c, err)
	}
}

func TestInsecureRegistryEndpoint(t *testing.T) {
	c := &RegistriesConfig{Registries: map[string]RegistryConfig{"reg.example:5000": {Insecure: true}, "docker.io": {Mirrors: []string{"mirror.example"}}}}
	r, _ := parse("reg.example:5000/app:v1")
	eps := c.endpoints(r)
	if len(eps) != 1 || eps[0].ref.Context().Scheme() != "http" {
		t.Errorf("insecure registry endpoints: %+v", eps)
	}
	r, _ = parse("busybox")
	eps = c.endpoints(r)
	if len(eps) != 2 || eps[0].ref.String() != "mirror.example/library/busybox:latest" || eps[0].ref.Context().Scheme() != "https" || !eps[0].mirror {
		t.Errorf("docker.io endpoints: %v", eps)
	}
}

func TestSingleID(t *testing.T) {
	for m, want := range map[string]bool{
		"         0       1000          1\n":                                   true,
		"         0          0 4294967295\n":                                   false,
		"         0       1000          1\n         1     100000      65536\n": false,
	} {
		if got := singleID(m); got != want {
			t.Errorf("singleID(%q) = %v, want %v", m, got, want)
		}
	}
}
