package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// A snapshot is the tree of one chain of layers. The snapshot of layer N
// starts as a copy of the snapshot of layer N-1 in which every regular file is
// a hard link to the lower snapshot's inode, and directories and symbolic
// links are created anew (cloneFrom); layer N is then applied by the ordinary
// unpacker. That is sound because the unpacker never modifies an inode it did
// not create in this snapshot:
//
//   - a file, symbolic link or hard link of layer N first removes whatever is
//     at its name (unlinking only this snapshot's name) and then creates a
//     new inode with O_EXCL, so content, mode, owner and times of a shared
//     inode are never written through the link;
//   - whiteouts and opaque directories remove names, not inodes;
//   - directories, whose mode, owner and times a layer may change in place,
//     are this snapshot's own inodes, never shared;
//   - a hard link entry of layer N to a lower file adds a name to the shared
//     inode without changing it (its header's metadata is ignored, as tar
//     does), which is what the link means in the layer.
//
// Hard links between names of one snapshot are preserved, since every name
// of a lower inode is linked to that same inode. Setuid and setgid bits and
// owners belong to the inode and so carry over unchanged; they are as safe
// as in a per-image tree because the files belong to the user or to the
// user's subordinate IDs, never to a host user with more rights.

// cloneFrom fills the unpacker's (empty) root with a hard-linked copy of the
// complete snapshot at lower, and records the directories' modes and times
// so that finish restores them after the layer is applied. Everything goes
// through directory file descriptors, one name at a time, so nothing follows
// a symbolic link of either tree.
func (u *unpacker) cloneFrom(lower string) error {
	src, err := os.Open(lower)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := u.root.Open(".")
	if err != nil {
		return err
	}
	defer dst.Close()
	u.cloneRoot = int(dst.Fd())
	return u.cloneDir(src, dst, ".")
}

// cloneDir copies the entries of the directory src into dst; rel is their
// path relative to the root.
func (u *unpacker) cloneDir(src, dst *os.File, rel string) error {
	names, err := src.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	for _, n := range names {
		p := path.Join(rel, n)
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			// Its errors name the path where they happened, deeper down.
			if err := u.cloneSubdir(sfd, dfd, n, p, &st); err != nil {
				return err
			}
			continue
		case unix.S_IFLNK:
			err = u.cloneSymlink(sfd, dfd, n, &st)
		case unix.S_IFREG:
			err = u.cloneFile(sfd, dfd, n, p, &st)
		default:
			// The unpacker creates no other kinds of entries.
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// cloneFile links the regular file n of the lower directory sfd into dfd; p
// is its path relative to the root. Where the link cannot be made (EMLINK: the
// inode has the filesystem's maximum of links; EPERM or EACCES: the kernel's
// protected_hardlinks refuses a file of another user, outside podbox's user
// namespace) the file is copied, but once per inode: its other names are
// linked to that copy, so that N names of one big file cost one copy rather
// than N (a layer can give one file tens of thousands of names). Every copy is
// charged to the layer's budget, so copies cannot exceed it either.
func (u *unpacker) cloneFile(sfd, dfd int, n, p string, st *unix.Stat_t) error {
	err := u.linkat(sfd, n, dfd, n)
	if !linkRefused(err) {
		return err
	}
	id := fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	if cp, ok := u.copies[id]; ok {
		// cp is a file this clone made, below directories it made: no
		// name on the way is anyone else's.
		if err = u.linkat(u.cloneRoot, cp, dfd, n); !linkRefused(err) {
			return err
		}
	}
	if !u.budget.take(st.Size) {
		return limitError("a hard link to it cannot be made (%v), and a copy of its %d bytes would exceed %s; refusing the image as a likely unpack bomb", err, st.Size, u.budget)
	}
	if err := u.create(); err != nil {
		return err
	}
	if err := u.copyFile(sfd, dfd, n, st); err != nil {
		return err
	}
	u.copies[id] = p
	return nil
}

// linkRefused reports whether linkat failed in a way a copy can make up for.
func linkRefused(err error) bool {
	return errors.Is(err, unix.EMLINK) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

// linkat hard-links oldname of olddirfd as newname of newdirfd.
func (u *unpacker) linkat(olddirfd int, oldname string, newdirfd int, newname string) error {
	if u.link != nil {
		return u.link(olddirfd, oldname, newdirfd, newname)
	}
	return unix.Linkat(olddirfd, oldname, newdirfd, newname, 0)
}

func (u *unpacker) cloneSubdir(sfd, dfd int, n, p string, st *unix.Stat_t) error {
	if err := u.makeSubdir(sfd, dfd, n, p, st); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	sub, err := openDirAt(sfd, n)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer sub.Close()
	dsub, err := openDirAt(dfd, n)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer dsub.Close()
	return u.cloneDir(sub, dsub, p)
}

// makeSubdir creates the directory n of dfd as a copy of n of sfd, without
// its content.
func (u *unpacker) makeSubdir(sfd, dfd int, n, p string, st *unix.Stat_t) error {
	if err := u.create(); err != nil {
		return err
	}
	if err := unix.Mkdirat(dfd, n, 0o700); err != nil {
		return err
	}
	if err := u.chownAt(dfd, n, st); err != nil {
		return err
	}
	u.dirs[p] = dirMeta{mode: statMode(st), mtime: time.Unix(st.Mtim.Unix())}
	return nil
}

func (u *unpacker) cloneSymlink(sfd, dfd int, n string, st *unix.Stat_t) error {
	if err := u.create(); err != nil {
		return err
	}
	buf := make([]byte, st.Size+1)
	k, err := unix.Readlinkat(sfd, n, buf)
	if err != nil {
		return err
	}
	if k > int(st.Size) {
		return errors.New("symbolic link changed while being copied")
	}
	if err := unix.Symlinkat(string(buf[:k]), dfd, n); err != nil {
		return err
	}
	return u.chownAt(dfd, n, st)
}

// copyFile copies the regular file n of sfd to dfd with its mode, owner
// (where possible) and times: the fallback where a hard link cannot be made.
func (u *unpacker) copyFile(sfd, dfd int, n string, st *unix.Stat_t) error {
	in, err := openAt(sfd, n, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := openAt(dfd, n, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// Ownership before mode: chown clears setuid and setgid bits.
	if err := u.chownAt(dfd, n, st); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(statMode(st)); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	_ = unix.UtimesNanoAt(dfd, n, ts, unix.AT_SYMLINK_NOFOLLOW)
	return nil
}

// chownAt gives the new entry n of dfd the owner recorded in st, counting
// (like chown) what cannot be kept without subordinate IDs.
func (u *unpacker) chownAt(dfd int, n string, st *unix.Stat_t) error {
	err := unix.Fchownat(dfd, n, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
		u.unowned++
		return nil
	}
	return err
}

func openAt(dfd int, n string, flags int) (*os.File, error) {
	fd, err := unix.Openat(dfd, n, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), n), nil
}

func openDirAt(dfd int, n string) (*os.File, error) {
	return openAt(dfd, n, unix.O_RDONLY|unix.O_DIRECTORY)
}

// statMode converts the permission and special bits of st to an fs.FileMode
// that os.Chmod understands.
func statMode(st *unix.Stat_t) fs.FileMode {
	m := fs.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
