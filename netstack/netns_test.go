package netstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The test re-runs itself in a fresh user and mount namespace (what podbox's
// supervisor has), since creating and pinning a network namespace needs them.
const helperEnv = "NETSTACK_TEST_IN_USERNS"

func TestCreatePinnedInUserNamespace(t *testing.T) {
	if os.Getenv(helperEnv) == "1" {
		inNamespace(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCreatePinnedInUserNamespace$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a user namespace: %v\n%s", err, out)
	}
}

func inNamespace(t *testing.T) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("private mounts: %v", err)
	}
	pin := filepath.Join(t.TempDir(), "netns", "pod1")
	if err := CreatePinned(pin); err != nil {
		t.Fatalf("CreatePinned: %v", err)
	}
	if err := CreatePinned(pin); err == nil {
		t.Errorf("a second CreatePinned on the same path succeeded")
	}
	// The calling thread's namespace (not /proc/self, which is the main
	// thread's and may be the one CreatePinned used).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var hostNS, podNS unix.Stat_t
	unix.Stat("/proc/thread-self/ns/net", &hostNS)
	if err := unix.Stat(pin, &podNS); err != nil {
		t.Fatal(err)
	}
	if hostNS.Ino == podNS.Ino {
		t.Fatalf("the pin is the caller's own network namespace")
	}
	if !loopbackIsUp(t, pin) {
		t.Errorf("loopback is down in the pinned namespace; runsc would skip it")
	}
	if err := RemovePinned(pin); err != nil {
		t.Fatalf("RemovePinned: %v", err)
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("pin file still there: %v", err)
	}
	if err := RemovePinned(pin); err != nil {
		t.Errorf("RemovePinned is not idempotent: %v", err)
	}
}

func loopbackIsUp(t *testing.T, pin string) bool {
	up := make(chan bool)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded
		fd, err := unix.Open(pin, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			up <- false
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			up <- false
			return
		}
		s, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		defer unix.Close(s)
		ifr, _ := unix.NewIfreq("lo")
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
			t.Error(err)
			up <- false
			return
		}
		up <- ifr.Uint16()&unix.IFF_UP != 0
	}()
	return <-up
}
