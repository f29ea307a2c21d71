package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// File is one file of a configMap, secret, downwardAPI or projected volume.
type File struct {
	Data []byte
	Mode os.FileMode
}

// The names of the kubelet's atomic writer: the files of one version live in
// a directory named "..<timestamp>", "..data" is a symlink to the current
// one, and each top-level entry of the payload is a symlink through
// "..data". A consumer opening "key" therefore sees one version or the next,
// never a mix; updating is one rename(2) of "..data".
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	// tsFormat is the kubelet's timestamp prefix of a version directory.
	tsFormat = "..2006_01_02_15_04_05."
)

// ownership is what fsGroup asks of a volume's files; a nil *ownership
// leaves them as they are.
type ownership struct {
	gid int
}

// writeAtomic makes dir hold exactly payload (paths relative to dir), the
// way the kubelet's AtomicWriter does, and reports whether anything changed.
// An unchanged payload writes nothing, so a refresh that finds no difference
// is free and consumers see no new inode.
func writeAtomic(dir string, payload map[string]File, own *ownership) (bool, error) {
	for p := range payload {
		if err := checkPayloadPath(p); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if oldTS != "" && samePayload(filepath.Join(dir, oldTS), payload) {
		return false, nil
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format(tsFormat))
	if err != nil {
		return false, err
	}
	// The version directory is readable by all, as the kubelet's is: the file
	// modes are what restrict access.
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, err
	}
	if err := writePayload(tsDir, payload, own); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		os.Remove(tmpLink)
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := linkTopLevel(dir, payload); err != nil {
		return true, err
	}
	if oldTS != "" && oldTS != filepath.Base(tsDir) {
		if err := os.RemoveAll(filepath.Join(dir, oldTS)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// checkPayloadPath refuses what the kubelet refuses: absolute paths, ".."
// elements and names starting with "..", which would collide with the
// writer's own entries.
func checkPayloadPath(p string) error {
	switch {
	case p == "":
		return errors.New("invalid path: must not be empty")
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid path %q: must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
	}
	return nil
}

func samePayload(tsDir string, payload map[string]File) bool {
	n := 0
	err := filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(tsDir, p)
		f, ok := payload[rel]
		if !ok {
			return errors.New("extra file")
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.Mode.Perm() {
			return errors.New("mode changed")
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			return errors.New("content changed")
		}
		n++
		return nil
	})
	return err == nil && n == len(payload)
}

func writePayload(tsDir string, payload map[string]File, own *ownership) error {
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.Data, 0o600); err != nil {
			return err
		}
		mode := f.Mode.Perm()
		if own != nil {
			// The kubelet's SetVolumeOwnership on a read-only volume: group
			// owner fsGroup and group read.
			mode |= 0o440
			if err := os.Lchown(full, -1, own.gid); err != nil {
				return fmt.Errorf("give %s to fsGroup %d: %w", p, own.gid, err)
			}
		}
		// Chmod after writing: the umask must not change the mode asked for.
		if err := os.Chmod(full, mode); err != nil {
			return err
		}
	}
	if own != nil {
		return filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if err := os.Lchown(p, -1, own.gid); err != nil {
				return err
			}
			return os.Chmod(p, 0o755|os.ModeSetgid)
		})
	}
	return nil
}

// linkTopLevel points each top-level entry of the payload through ..data
// and removes the links of entries the payload no longer has.
func linkTopLevel(dir string, payload map[string]File) error {
	want := map[string]bool{}
	for p := range payload {
		top, _, _ := strings.Cut(p, "/")
		want[top] = true
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		link := filepath.Join(dir, n)
		target := filepath.Join(dataDirName, n)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		tmp := link + ".podbox-tmp"
		_ = os.Remove(tmp)
		if err := os.Symlink(target, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") || want[e.Name()] {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
