// Package images builds real, runnable container images for podbox's tests
// and demo without a registry or the internet: a busybox image from the
// host's static busybox, and a test application image on top of it. It also
// runs throwaway in-process registries to pull them from.
package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DemoRef is the reference of the demo image written by cmd/mkdemo, in the
// normalized form the image store reports.
const DemoRef = "podbox.local/demo:latest"

// Path is the PATH of every image built here, Docker's default.
const Path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// HostBusybox is where the static busybox (Debian package busybox-static) is
// taken from.
const HostBusybox = "/bin/busybox"

// epoch is the fixed mtime of every entry, so images are reproducible.
var epoch = time.Unix(0, 0).UTC()

var (
	busyboxOnce  sync.Once
	busyboxLayer v1.Layer
	busyboxErr   error

	testappOnce  sync.Once
	testappLayer v1.Layer
	testappErr   error
)

// Busybox returns an image with /bin/busybox from the host, a /bin symlink for
// each of its applets, minimal /etc/passwd and /etc/group, /tmp (1777) and
// /root. Its Cmd is ["sh"].
func Busybox() (v1.Image, error) {
	l, err := BusyboxLayer()
	if err != nil {
		return nil, err
	}
	return build([]v1.Layer{l}, v1.Config{Env: []string{Path}, Cmd: []string{"sh"}})
}

// TestApp returns Busybox plus /usr/local/bin/testapp built from
// testdata/testapp, with Entrypoint ["/usr/local/bin/testapp"], Cmd
// ["serve", ":8080", "hello"] and GREETING=hello in its environment.
func TestApp() (v1.Image, error) {
	bb, err := BusyboxLayer()
	if err != nil {
		return nil, err
	}
	app, err := TestAppLayer()
	if err != nil {
		return nil, err
	}
	return build([]v1.Layer{bb, app}, v1.Config{
		Env:        []string{Path, "GREETING=hello"},
		Entrypoint: []string{"/usr/local/bin/testapp"},
		Cmd:        []string{"serve", ":8080", "hello"},
		WorkingDir: "/",
	})
}

// build assembles an OCI image for linux on the host architecture.
func build(layers []v1.Layer, cfg v1.Config) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// BusyboxLayer returns the single layer of Busybox, built once per process.
func BusyboxLayer() (v1.Layer, error) {
	busyboxOnce.Do(func() { busyboxLayer, busyboxErr = makeBusyboxLayer() })
	return busyboxLayer, busyboxErr
}

func makeBusyboxLayer() (v1.Layer, error) {
	bin, err := os.ReadFile(HostBusybox)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (install it with `apt-get install busybox-static`)", HostBusybox, err)
	}
	if err := checkStatic(HostBusybox); err != nil {
		return nil, err
	}
	out, err := exec.Command(HostBusybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", HostBusybox, err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)

	var b layerBuilder
	b.dir("bin/", 0o755)
	b.dir("etc/", 0o755)
	b.dir("root/", 0o700)
	b.dir("tmp/", 0o1777)
	b.dir("usr/", 0o755)
	b.dir("usr/bin/", 0o755)
	b.dir("usr/sbin/", 0o755)
	b.dir("sbin/", 0o755)
	b.file("bin/busybox", 0o755, bin)
	for _, a := range applets {
		if a != "busybox" && !strings.Contains(a, "/") {
			b.symlink("bin/"+a, "busybox")
		}
	}
	b.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	b.file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	return b.layer()
}

// checkStatic makes sure path needs no dynamic loader, which the image would
// not contain.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable: %w (install the static build with `apt-get install busybox-static`)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the test images need a static busybox: `apt-get install busybox-static`", path)
		}
	}
	return nil
}

// TestAppLayer returns the layer holding /usr/local/bin/testapp, built once per
// process.
func TestAppLayer() (v1.Layer, error) {
	testappOnce.Do(func() { testappLayer, testappErr = makeTestAppLayer() })
	return testappLayer, testappErr
}

func makeTestAppLayer() (v1.Layer, error) {
	bin, err := BuildTestApp()
	if err != nil {
		return nil, err
	}
	var b layerBuilder
	b.dir("usr/", 0o755)
	b.dir("usr/local/", 0o755)
	b.dir("usr/local/bin/", 0o755)
	b.file("usr/local/bin/testapp", 0o755, bin)
	return b.layer()
}

// BuildTestApp compiles testdata/testapp as a static linux binary for the host
// architecture and returns its content.
func BuildTestApp() ([]byte, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return nil, errors.New("build testapp: cannot locate the source of package images")
	}
	src := filepath.Join(filepath.Dir(self), "..", "testapp")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	tmp, err := os.MkdirTemp("", "podbox-testapp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "testapp")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build testapp in %s: %w\n%s", src, err, msg)
	}
	return os.ReadFile(out)
}

// layerBuilder writes a layer tarball in memory.
type layerBuilder struct {
	buf bytes.Buffer
	tw  *tar.Writer
	err error
}

func (b *layerBuilder) add(hdr *tar.Header, content []byte) {
	if b.tw == nil {
		b.tw = tar.NewWriter(&b.buf)
	}
	if b.err != nil {
		return
	}
	hdr.ModTime = epoch
	hdr.Format = tar.FormatPAX
	if b.err = b.tw.WriteHeader(hdr); b.err == nil && len(content) > 0 {
		_, b.err = b.tw.Write(content)
	}
}

func (b *layerBuilder) dir(name string, mode int64) {
	b.add(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}, nil)
}

func (b *layerBuilder) file(name string, mode int64, content []byte) {
	b.add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(content))}, content)
}

func (b *layerBuilder) symlink(name, target string) {
	b.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, nil)
}

func (b *layerBuilder) layer() (v1.Layer, error) {
	if b.tw == nil {
		b.tw = tar.NewWriter(&b.buf)
	}
	if b.err == nil {
		b.err = b.tw.Close()
	}
	if b.err != nil {
		return nil, fmt.Errorf("write layer: %w", b.err)
	}
	data := b.buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// Entry is one member of a layer built by Layer.
type Entry struct {
	// Name is the path in the image, without a leading slash; directories
	// end in "/".
	Name string
	// Mode holds the permission bits; UID and GID the owner.
	Mode     int64
	UID, GID int
	// Content is a regular file's content; ignored for directories.
	Content []byte
}

// Layer builds a layer of entries, in order: a directory when the name ends
// in "/", else a regular file. Tests use it for images with files of other
// owners.
func Layer(entries ...Entry) (v1.Layer, error) {
	var b layerBuilder
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Mode: e.Mode, Uid: e.UID, Gid: e.GID}
		if strings.HasSuffix(e.Name, "/") {
			hdr.Typeflag = tar.TypeDir
			b.add(hdr, nil)
			continue
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(e.Content))
		b.add(hdr, e.Content)
	}
	return b.layer()
}

// WithLayers returns Busybox with more layers on top and the given config
// (Env defaults to Path).
func WithLayers(cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	bb, err := BusyboxLayer()
	if err != nil {
		return nil, err
	}
	if cfg.Env == nil {
		cfg.Env = []string{Path}
	}
	return build(append([]v1.Layer{bb}, layers...), cfg)
}
