package volume

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// fakeBind replaces the bind mount of a staged subPath (which needs a mount
// namespace) with a record: staging point -> the path of the object the
// descriptor held.
func fakeBind(t *testing.T) map[string]string {
	t.Helper()
	bound := map[string]string{}
	old := bindFD
	bindFD = func(fd int, target string) error {
		p, err := os.Readlink(procFD(fd))
		bound[target] = p
		return err
	}
	t.Cleanup(func() { bindFD = old })
	return bound
}

// fdPath is where an open descriptor points.
func fdPath(t *testing.T, fd int) string {
	t.Helper()
	p, err := os.Readlink(procFD(fd))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func emptyDirVol(t *testing.T) *vol {
	t.Helper()
	d := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(d, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return &vol{spec: corev1.Volume{Name: "work"}, kind: emptyDir, path: d}
}

func TestOpenSubPath(t *testing.T) {
	v := emptyDirVol(t)
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(v.path, "d/e"), 0o755)
	os.Symlink("d/e", filepath.Join(v.path, "rel"))
	os.Symlink(filepath.Join(v.path, "d"), filepath.Join(v.path, "abs"))
	os.Symlink(outside, filepath.Join(v.path, "out"))
	os.Symlink("../..", filepath.Join(v.path, "d/up"))

	// Symlinks that stay inside the volume work, as on a cluster.
	for sub, want := range map[string]string{"d/e": "d/e", "rel": "d/e", "abs/e": "d/e", ".": ""} {
		fd, err := openSubPath(v, sub)
		if err != nil {
			t.Fatalf("subPath %s: %v", sub, err)
		}
		if got := fdPath(t, fd); got != filepath.Join(v.path, want) {
			t.Errorf("subPath %s opened %s, want %s", sub, got, filepath.Join(v.path, want))
		}
		unix.Close(fd)
	}
	// Out of the volume: refused.
	for _, sub := range []string{"out", "out/x", "d/up", "d/up/missing"} {
		if fd, err := openSubPath(v, sub); err == nil || !strings.Contains(err.Error(), "leaves volume") {
			t.Errorf("subPath %s: fd %d, err %v; want it refused", sub, fd, err)
		}
	}
	if _, err := subPath(corev1.VolumeMount{SubPath: "d/../.."}, nil); err == nil || !strings.Contains(err.Error(), "'..'") {
		t.Errorf("subPath with ..: %v", err)
	}
	// Missing: created with the mode of the volume's root (the umask does not
	// narrow it), also beneath an existing symlink.
	for _, sub := range []string{"new/a/b", "rel/n"} {
		fd, err := openSubPath(v, sub)
		if err != nil {
			t.Fatalf("create %s: %v", sub, err)
		}
		unix.Close(fd)
		for p := filepath.Join(v.path, sub); p != v.path; p = filepath.Dir(p) {
			if st, err := os.Lstat(p); err == nil && st.Mode()&os.ModeSymlink == 0 && (!st.IsDir() || st.Mode().Perm() != 0o777) {
				t.Errorf("%s: mode %v, want a directory 0777", p, st.Mode())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(v.path, "d/e/n")); err != nil {
		t.Errorf("rel/n not created through rel: %v", err)
	}
	// A read-only volume gets nothing created.
	v.readOnly = true
	if _, err := openSubPath(v, "none"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing subPath in a read-only volume: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(v.path, "none")); err == nil {
		t.Error("created a subPath in a read-only volume")
	}
}

// TestOpenBeneathRefusesSymlinks: the second open, after the check, follows
// no symlink, wherever it points.
func TestOpenBeneathRefusesSymlinks(t *testing.T) {
	v := emptyDirVol(t)
	os.MkdirAll(filepath.Join(v.path, "d/e"), 0o755)
	os.Symlink("d", filepath.Join(v.path, "in"))
	root, err := unix.Open(v.path, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	for _, rel := range []string{"in", "in/e", "d/../d", "/d", "d//e"} {
		if fd, err := openBeneath(root, rel); err == nil {
			t.Errorf("openBeneath %s opened %s", rel, fdPath(t, fd))
		}
	}
	if _, err := openBeneath(root, "in/e"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("through a symlink: %v, want ELOOP", err)
	}
}

// subPathRaceRounds bounds the race tests below.
const subPathRaceRounds = 3000

// flip swaps path between a directory and a symlink to target until stop
// is closed, as a container attacking its volume does, holding each state
// for hold.
func flip(path, target string, hold time.Duration, stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		os.Remove(path)
		os.Symlink(target, path)
		time.Sleep(hold)
		os.Remove(path)
		os.Mkdir(path, 0o777)
		time.Sleep(hold)
	}
}

// TestOpenSubPathRace: while x flips between a directory and a symlink out
// of the volume, every subPath x that opens is the volume's own x.
func TestOpenSubPathRace(t *testing.T) {
	v := emptyDirVol(t)
	outside := t.TempDir()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go flip(filepath.Join(v.path, "x"), outside, 0, stop, &wg)
	defer func() { close(stop); wg.Wait() }()
	opened, refused := 0, 0
	for range subPathRaceRounds {
		fd, err := openSubPath(v, "x")
		if err != nil {
			refused++
			continue
		}
		if p := fdPath(t, fd); !strings.HasPrefix(p, v.path+"/") {
			t.Fatalf("subPath x opened %s, outside the volume", p)
		}
		unix.Close(fd)
		opened++
	}
	t.Logf("%d opened inside the volume, %d refused", opened, refused)
}

// TestApplyOwnershipNoFollow: fsGroup ownership changes the volume's files
// and never what a symlink points to, even one swapped in during the walk.
func TestApplyOwnershipNoFollow(t *testing.T) {
	v := emptyDirVol(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	os.Chmod(outside, 0o700)
	os.WriteFile(filepath.Join(v.path, "f"), nil, 0o600)
	os.Symlink(secret, filepath.Join(v.path, "link"))
	gid := os.Getgid()
	if err := applyOwnership(v.path, gid, false, false); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(v.path, "f")); st.Mode().Perm() != 0o660 {
		t.Errorf("file in the volume: %v, want 0660", st.Mode())
	}
	if st, _ := os.Stat(v.path); st.Mode()&os.ModeSetgid == 0 {
		t.Errorf("volume root: %v, want setgid", st.Mode())
	}
	unchanged := func() {
		t.Helper()
		if st, _ := os.Stat(secret); st.Mode().Perm() != 0o600 {
			t.Fatalf("the symlink's target became %v", st.Mode())
		}
		if st, _ := os.Stat(outside); st.Mode().Perm() != 0o700 || st.Mode()&os.ModeSetgid != 0 {
			t.Fatalf("the directory outside became %v", st.Mode())
		}
	}
	unchanged()

	// x, listed after many files, is a directory when the walk reads the
	// volume's root and often a symlink out by the time the walk reaches
	// it (the path-based walk then changed the outside directory and the
	// files in it).
	for i := range ownershipRaceFiles {
		os.WriteFile(filepath.Join(v.path, fmt.Sprintf("a%04d", i)), nil, 0o600)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go flip(filepath.Join(v.path, "x"), outside, time.Millisecond, stop, &wg)
	defer func() { close(stop); wg.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < ownershipRaceRounds && time.Now().Before(deadline); i++ {
		_ = applyOwnership(v.path, gid, false, false)
		unchanged()
	}
}

// The ownership race: files walked before x (each round walks them all),
// and rounds (the path-based walk lost within two).
const (
	ownershipRaceFiles  = 2000
	ownershipRaceRounds = 20
)

// TestStageSurvivesSwap mounts a staged subPath for real, in a user and
// mount namespace of the test's own (as the supervisor runs): after x is
// swapped for a symlink out of the volume, the staging point still shows
// the volume's x; Release unmounts it and leaves the volume's files alone.
func TestStageSurvivesSwap(t *testing.T) {
	if os.Getenv("PODBOX_STAGE_HELPER") == "1" {
		stageHelper(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStageSurvivesSwap$", "-test.v")
	cmd.Env = append(os.Environ(), "PODBOX_STAGE_HELPER=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("no user namespace here: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in a mount namespace: %v\n%s", err, out)
	}
}

func stageHelper(t *testing.T) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	d, host := t.TempDir(), t.TempDir()
	p := testPod(corev1.Volume{Name: "work", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}})
	c := &p.Spec.Containers[0]
	c.VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/w", SubPath: "x"}}
	s := New(p, Options{Dir: filepath.Join(d, "pod"), MemoryDir: filepath.Join(d, "mem")})
	if errs := s.Prepare(); len(errs) != 0 {
		t.Fatal(errs)
	}
	x := filepath.Join(s.vols["work"].path, "x")
	os.Mkdir(x, 0o777)
	os.WriteFile(filepath.Join(x, "inside"), nil, 0o644)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "marker"), nil, 0o644)
	m, err := s.Mounts(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := m[0].Source
	if !strings.HasPrefix(src, filepath.Join(d, "mem", stagingDirName)) {
		t.Fatalf("subPath mounted from %s, want a staging point", src)
	}
	os.Rename(x, x+".old")
	os.Symlink(outside, x)
	if _, err := os.Stat(filepath.Join(src, "inside")); err != nil {
		t.Fatalf("staging point after the swap: %v", err)
	}
	if _, err := os.Stat(filepath.Join(src, "marker")); err == nil {
		t.Fatal("staging point shows the symlink's target")
	}
	// A second start of the container replaces a leftover point.
	if _, err := s.Mounts(c, nil); err == nil || !strings.Contains(err.Error(), "leaves volume") {
		t.Fatalf("subPath x now a symlink out: %v", err)
	}
	if err := s.Release(c.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(x+".old", "inside")); err != nil {
		t.Fatalf("Release touched the hostPath: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d, "mem", stagingDirName, c.Name)); !os.IsNotExist(err) {
		t.Fatalf("staging directory after Release: %v", err)
	}
	// Teardown with a point left mounted (a crash) unmounts it before it
	// removes the pod's files, and the hostPath's files stay.
	os.Remove(x)
	os.Rename(x+".old", x)
	if _, err = s.Mounts(c, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Teardown(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "mem")); !os.IsNotExist(err) {
		t.Fatalf("memory dir after Teardown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(x, "inside")); err != nil {
		t.Fatalf("Teardown removed the hostPath's files: %v", err)
	}
}
