// Package dirs says where podbox keeps its files for one user.
//
// Two trees exist, following the XDG base directory specification:
//
//   - Runtime state (sockets, runsc state, pinned network namespaces) lives under
//     $XDG_RUNTIME_DIR/podbox, or /tmp/podbox-$UID when XDG_RUNTIME_DIR is unset (CI
//     runners and `su` sessions often have none). It is mode 0700 and does not
//     survive a reboot, like the sandboxes it describes.
//   - Persistent state (images, pod records, logs, the HTTPS endpoint's
//     certificates) lives under $XDG_DATA_HOME/podbox, default
//     ~/.local/share/podbox, and survives both a supervisor restart and a
//     reboot.
//
// Every path podbox uses is derived here, so a newcomer finds the whole on-disk
// layout in one file.
package dirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Dirs is the on-disk layout of one user's podbox.
type Dirs struct {
	// Runtime is the per-boot directory (sockets, runsc --root, netns pins).
	Runtime string
	// Data is the persistent directory (images, pods, logs).
	Data string
}

// FromEnv resolves the layout from the environment of the calling user.
//
// PODBOX_RUNTIME_DIR and PODBOX_DATA_DIR, when set, are used as they are. The
// supervisor gets them from the process that started it: inside podbox's user
// namespace the uid reads 0, so it cannot derive the per-user defaults itself.
func FromEnv() (Dirs, error) {
	if r, d := os.Getenv(EnvRuntimeDir), os.Getenv(EnvDataDir); r != "" && d != "" {
		return Dirs{Runtime: r, Data: d}, nil
	}
	runtime := os.Getenv("XDG_RUNTIME_DIR")
	if runtime != "" {
		runtime = filepath.Join(runtime, "podbox")
	} else {
		runtime = filepath.Join(os.TempDir(), "podbox-"+strconv.Itoa(os.Getuid()))
	}
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Dirs{}, fmt.Errorf("cannot find a data directory: set XDG_DATA_HOME or HOME: %w", err)
		}
		data = filepath.Join(home, ".local", "share")
	}
	return Dirs{Runtime: runtime, Data: filepath.Join(data, "podbox")}, nil
}

// Environment variables that pin the layout (see FromEnv).
const (
	EnvRuntimeDir = "PODBOX_RUNTIME_DIR"
	EnvDataDir    = "PODBOX_DATA_DIR"
)

// Export sets the variables that make FromEnv return d in child processes.
func (d Dirs) Export() {
	os.Setenv(EnvRuntimeDir, d.Runtime)
	os.Setenv(EnvDataDir, d.Data)
}

// Socket is the unix socket the supervisor serves its Kubernetes-shaped API on.
func (d Dirs) Socket() string { return filepath.Join(d.Runtime, "podbox.sock") }

// LogSocket is where the namespace holder's log server listens for the
// supervisor's container streams.
func (d Dirs) LogSocket() string { return filepath.Join(d.Runtime, "logs.sock") }

// DaemonLock is held (flock) by the running supervisor for its whole life, so at
// most one supervisor runs per user.
func (d Dirs) DaemonLock() string { return filepath.Join(d.Runtime, "daemon.lock") }

// DaemonLog receives the output of a supervisor started in the background.
func (d Dirs) DaemonLog() string { return filepath.Join(d.Data, "daemon.log") }

// RunscRoot is runsc's --root: its state files and control sockets.
func (d Dirs) RunscRoot() string { return filepath.Join(d.Runtime, "runsc") }

// Netns holds one pinned network namespace file per pod.
func (d Dirs) Netns() string { return filepath.Join(d.Runtime, "netns") }

// Images is the root of the content-addressed image store.
func (d Dirs) Images() string { return filepath.Join(d.Data, "images") }

// Pods holds one directory per pod: its record, bundles, overlay and logs.
func (d Dirs) Pods() string { return filepath.Join(d.Data, "pods") }

// Objects holds the ConfigMaps and Secrets (package objects).
func (d Dirs) Objects() string { return filepath.Join(d.Data, "objects") }

// Volumes holds the named persistent volumes that pods' persistentVolumeClaim
// volumes use (package volume); they outlive the pods.
func (d Dirs) Volumes() string { return filepath.Join(d.Data, "volumes") }

// HTTPS holds what the API's HTTPS endpoint needs (mode 0700): the per-user
// certificate authority, the server's and the client's certificates and keys
// (package pki), and the port (HTTPSPort).
func (d Dirs) HTTPS() string { return filepath.Join(d.Data, "https") }

// HTTPSPort records the loopback port of the HTTPS endpoint, chosen on the
// first start and kept, so that exported kubeconfigs stay valid.
func (d Dirs) HTTPSPort() string { return filepath.Join(d.HTTPS(), "port") }

// PodVolumes holds the memory-backed volumes of running pods (secrets,
// emptyDir medium: Memory): the runtime directory is a tmpfs on most hosts.
func (d Dirs) PodVolumes() string { return filepath.Join(d.Runtime, "volumes") }

// Ensure creates the runtime directory (0700) and the data directory. A
// runtime directory that is a symbolic link, belongs to someone else or grants
// group or others any access is refused (checkPrivate): another user could
// have planted a socket or state in it that podbox would trust.
func (d Dirs) Ensure() error {
	// Checked before MkdirAll, which would follow a planted symbolic link.
	err := CheckRuntime(d.Runtime)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(d.Runtime, privateMode); err != nil {
			return fmt.Errorf("create runtime directory: %w", err)
		}
		err = CheckRuntime(d.Runtime)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}
