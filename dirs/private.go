package dirs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// The runtime directory is podbox's only access control: the API socket has no
// token or certificate, so whoever can reach the socket owns the user's pods,
// and whoever answers on it receives every manifest, Secret and exec stream the
// CLI sends. Without XDG_RUNTIME_DIR it lives in the shared /tmp, where another
// local user can create /tmp/podbox-UID first. So, before any byte is sent, the
// directory must be a real directory (not a symbolic link), owned by the caller,
// with no permission for group or others; and the process answering on the
// socket must run as the caller (SO_PEERCRED).

// UnsafeError is a runtime directory or socket podbox refuses to use.
type UnsafeError struct {
	// Path is the directory or socket refused.
	Path string
	// Problem says what was found; Fix what the user can do.
	Problem, Fix string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("refusing to use %s: %s. %s", e.Path, e.Problem, e.Fix)
}

// privateMode is the permission the runtime directory must have: group and
// others get nothing, since a socket in it is served without authentication.
const privateMode = 0o700

// fixRuntime is the advice for a runtime directory podbox cannot trust.
func fixRuntime(dir string) string {
	return fmt.Sprintf("Another local user may be impersonating podbox. Fix: remove %s (if it is not yours, ask its owner or root), "+
		"or set XDG_RUNTIME_DIR to a directory only you can access, such as /run/user/%d", dir, os.Getuid())
}

// checkPrivate proves that dir is a directory, not a symbolic link, owned by
// uid, with no group or other permission bits.
func checkPrivate(dir string, uid int) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(dir)
		return &UnsafeError{Path: dir, Problem: fmt.Sprintf("it is a symbolic link (to %q), not a directory", target), Fix: fixRuntime(dir)}
	}
	if !st.IsDir() {
		return &UnsafeError{Path: dir, Problem: fmt.Sprintf("it is not a directory (%s)", st.Mode().Type()), Fix: fixRuntime(dir)}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", dir)
	}
	perm := st.Mode().Perm()
	if int(sys.Uid) != uid {
		return &UnsafeError{Path: dir, Problem: fmt.Sprintf("it belongs to uid %d (mode %04o), not to you (uid %d)", sys.Uid, perm, uid), Fix: fixRuntime(dir)}
	}
	if perm&^privateMode != 0 {
		return &UnsafeError{Path: dir, Problem: fmt.Sprintf("its mode is %04o (owner uid %d), podbox needs %04o: group or others could have planted a socket in it", perm, sys.Uid, privateMode), Fix: fixRuntime(dir)}
	}
	return nil
}

// CheckRuntime proves that dir is private to the calling user (see
// checkPrivate); a missing directory is returned as fs.ErrNotExist.
func CheckRuntime(dir string) error { return checkPrivate(dir, os.Getuid()) }

// DialSocket connects to the unix socket at path after proving that its
// directory is private to the calling user, and then that the process serving
// it runs as the calling user. Every connection the CLI makes to the
// supervisor goes through it.
func DialSocket(ctx context.Context, path string) (net.Conn, error) {
	return dialPrivate(ctx, path, os.Getuid())
}

// dialPrivate is DialSocket for the user uid (tests pass another uid).
func dialPrivate(ctx context.Context, path string, uid int) (net.Conn, error) {
	if err := checkPrivate(filepath.Dir(path), uid); err != nil {
		return nil, err
	}
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	if err := checkPeer(c, path, uid); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// checkPeer proves that the process that listens on c's socket runs as uid.
// The kernel reports the peer's uid as seen from the caller's user namespace,
// so the supervisor, uid 0 in podbox's own namespace, shows as the user.
func checkPeer(c net.Conn, path string, uid int) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%s: not a unix socket connection", path)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("read the credentials of the process serving %s: %w", path, credErr)
	}
	if int(cred.Uid) != uid {
		return &UnsafeError{Path: path, Problem: fmt.Sprintf("it is served by process %d running as uid %d, not as you (uid %d)", cred.Pid, cred.Uid, uid),
			Fix: fixRuntime(filepath.Dir(path))}
	}
	return nil
}

// IsUnsafe reports whether err is a refusal of the runtime directory or socket.
func IsUnsafe(err error) bool {
	var u *UnsafeError
	return errors.As(err, &u)
}
