package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"podbox.dev/podbox/dirs"
)

// lockFile takes an exclusive flock on path, creating it if needed, and returns
// the function that releases it. flock (not fcntl) locks belong to the open
// file description, so they also exclude other goroutines of this process that
// open the file separately.
func lockFile(path string) (unlock func(), err error) { return flockPath(path, unix.LOCK_EX) }

// tryLockFile takes an exclusive flock on path if nobody holds it; ok is
// false (and unlock nil) if somebody does.
func tryLockFile(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("open lock file %s: %w", path, err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, true, nil
}

// lockFileCtx is lockFile that gives up when ctx ends. A blocking flock
// cannot be interrupted, so it polls, at most every 50 ms.
func lockFileCtx(ctx context.Context, path string) (unlock func(), err error) {
	wait := time.Millisecond
	for {
		unlock, ok, err := tryLockFile(path)
		if err != nil || ok {
			return unlock, err
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
}

// lockFileShared takes a shared flock on path: any number of shared holders,
// or one exclusive (lockFile) holder.
func lockFileShared(path string) (unlock func(), err error) { return flockPath(path, unix.LOCK_SH) }

// flockPath opens (creating) path and blocks until it holds the flock how.
func flockPath(path string, how int) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// lockGC takes the store's GC lock: shared by everything that writes blobs or
// trees not yet referenced (pulls, loads, unpacking), exclusive for garbage
// collection and verification, which must not mistake such work in progress
// for garbage.
func (s *Store) lockGC(exclusive bool) (func(), error) {
	path := filepath.Join(s.root, "gc.lock")
	if exclusive {
		return lockFile(path)
	}
	return lockFileShared(path)
}

// writeFileAtomic replaces path with data so that readers and crashes see the
// old or the new content, never a prefix.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is on disk only once the directory is: without this a
	// power cut could keep the old index beside blobs it does not name.
	return dirs.SyncDir(filepath.Dir(path))
}

// RemoveTree deletes path and everything below it, like os.RemoveAll, but also
// when the tree contains directories without write permission (an unpacked
// image often has 0555 directories, which os.RemoveAll cannot empty unless it
// runs as root). It never follows symbolic links.
func RemoveTree(path string) error {
	err := os.RemoveAll(path)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	// Make every directory writable and searchable by us, top-down (a
	// directory must be searchable before its children can be listed), then
	// try again.
	_ = makeWritable(path)
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// makeWritable gives the owner rwx on every directory under path. Errors are
// ignored: the RemoveAll that follows reports what still cannot be removed.
func makeWritable(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return err
	}
	if fi.Mode().Perm()&0o700 != 0o700 {
		_ = os.Chmod(path, fi.Mode().Perm()|0o700)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			_ = makeWritable(filepath.Join(path, e.Name()))
		}
	}
	return nil
}
