package dirs

import (
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// WriteFile replaces path with data so that neither a crash of podbox nor a
// power cut leaves an empty or partial file: the data goes to a temporary
// file in the same directory, which is fsynced before it is renamed over path
// (renameio), and the directory is fsynced after, so the new name is on disk
// when WriteFile returns. The file gets exactly perm, whatever the umask or
// the mode of the file it replaces (a kubeconfig merged into must not stay
// readable by others once it holds a key).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	// Not renameio.WriteFile, which keeps the mode of an existing file.
	f, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.CloseAtomicallyReplace(); err != nil { // fsyncs, then renames
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs the directory dir, so that the entries created, renamed or
// removed in it survive a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
