//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// goHelpers are the helper programs the tests build, each once per run.
var goHelpers sync.Map // name -> *goHelper

type goHelper struct {
	once sync.Once
	path string
	err  error
}

// buildGoHelper builds src, a Go program using the standard library only,
// once per test run as a static binary named name, and returns its path.
func buildGoHelper(t *testing.T, name, src string) string {
	t.Helper()
	v, _ := goHelpers.LoadOrStore(name, &goHelper{})
	h := v.(*goHelper)
	h.once.Do(func() {
		dir, err := os.MkdirTemp("", name+"-")
		if err != nil {
			h.err = err
			return
		}
		file := filepath.Join(dir, "main.go")
		if h.err = os.WriteFile(file, []byte(src), 0o644); h.err != nil {
			return
		}
		h.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", h.path, file)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			h.err = fmt.Errorf("build the %s helper: %v\n%s", name, err, out)
		}
	})
	if h.err != nil {
		t.Fatal(h.err)
	}
	return h.path
}

// copyExecutable copies the host executable path to /tmp/NAME in a
// container (the pod's first when container is empty), through exec's
// stdin: the images have no package manager and no network tools.
func copyExecutable(t *testing.T, e *env, pod, container, path, name string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args := []string{"exec", "-i", pod}
	if container != "" {
		args = append(args, "-c", container)
	}
	dst := "/tmp/" + name
	args = append(args, "--", "sh", "-c", "cat > "+dst+".new && chmod 755 "+dst+".new && mv "+dst+".new "+dst)
	if r := e.run(t, f, args...); r.code != 0 {
		t.Fatalf("copy %s into %s: %+v", name, pod, r)
	}
}
