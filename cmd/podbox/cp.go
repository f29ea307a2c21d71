package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
	utilexec "k8s.io/client-go/util/exec"
)

func cpCommand() *cli.Command {
	return &cli.Command{
		Name:      "cp",
		Usage:     "copy files and directories to and from containers",
		ArgsUsage: "SRC DEST",
		Description: "Like kubectl cp: a tar stream through `exec`, so the container needs a `tar`\n" +
			"binary (busybox has one). One side is POD:PATH (or NAMESPACE/POD:PATH), the other\n" +
			"a local path. Copying a directory to a path that is an existing directory puts it\n" +
			"inside, as cp -r does. From a container, entries that would land outside the\n" +
			"destination (absolute or `..` paths, or through a symbolic link) and symbolic\n" +
			"links are skipped with a warning, as kubectl does. Permission bits are kept both\n" +
			"ways (less your umask when copying out); an existing local file or directory\n" +
			"keeps its own mode, as with kubectl.\n\n" +
			"Examples:\n" +
			"  podbox cp ./site web:/usr/share/html\n" +
			"  podbox cp web:/var/log/app ./app-logs -c side",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container to copy to or from"},
			&cli.BoolFlag{Name: "no-preserve", Usage: "don't keep the ownership and permissions of copied files in the container"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usageErrorf(c, "source and destination are required")
			}
			src, dst := parseCpSpec(c.Args().Get(0)), parseCpSpec(c.Args().Get(1))
			if (src.pod == "") == (dst.pod == "") {
				return usageErrorf(c, "one of src or dest must be a local file specification and the other a remote one (POD:PATH)")
			}
			for _, s := range []*cpSpec{&src, &dst} {
				if s.pod == "" {
					continue
				}
				if s.namespace == "" {
					s.namespace = c.String("namespace")
				}
				if s.path == "" {
					return fmt.Errorf("remote path %q must not be empty", s.raw)
				}
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			cp := copier{cl: cl, container: c.String("container"), noPreserve: c.Bool("no-preserve"), stderr: c.App.ErrWriter}
			if src.pod != "" {
				return cp.fromPod(c.Context, src, dst.path)
			}
			return cp.toPod(c.Context, src.path, dst)
		},
	}
}

// cpSpec is one side of `cp`: a local path, or a path in a pod.
type cpSpec struct {
	raw, namespace, pod, path string
}

// parseCpSpec splits [NAMESPACE/]POD:PATH as kubectl does; anything without
// a colon (or with a slash before it, like ./a:b) is local.
func parseCpSpec(s string) cpSpec {
	before, after, ok := strings.Cut(s, ":")
	if !ok || before == "" || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") {
		return cpSpec{raw: s, path: s}
	}
	ns, pod, hasNS := strings.Cut(before, "/")
	if !hasNS {
		ns, pod = "", before
	}
	if strings.Contains(pod, "/") {
		return cpSpec{raw: s, path: s}
	}
	return cpSpec{raw: s, namespace: ns, pod: pod, path: after}
}

// copier runs the tar ends of a copy in a container.
type copier struct {
	cl         *client
	container  string
	noPreserve bool
	stderr     io.Writer
}

// remote runs cmd in the pod, reporting a failure with its stderr.
func (cp copier) remote(ctx context.Context, s cpSpec, cmd []string, stdin io.Reader, stdout io.Writer) error {
	var errb bytes.Buffer
	opts := execOptions{namespace: s.namespace, pod: s.pod, container: cp.container, command: cmd, stdin: stdin != nil}
	err := runExec(ctx, cp.cl, opts, stdin, stdout, io.MultiWriter(&errb, cp.stderr))
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(errb.String())
	var exit utilexec.ExitError
	if errors.As(err, &exit) || strings.Contains(err.Error(), "executable file not found") || strings.Contains(msg, "not found") {
		if strings.Contains(msg+err.Error(), "tar") && strings.Contains(msg+err.Error(), "not found") {
			return fmt.Errorf("tar: not found in container: podbox cp needs a tar binary in the container's image (busybox and most distribution images have one)")
		}
		if msg != "" {
			return fmt.Errorf("%s", msg)
		}
	}
	return err
}

// toPod copies a local file or directory into the pod: a tar of it, named
// as the destination, unpacked by tar in the container.
func (cp copier) toPod(ctx context.Context, local string, dst cpSpec) error {
	if _, err := os.Lstat(local); err != nil {
		return fmt.Errorf("%s doesn't exist in local filesystem", local)
	}
	dest := dst.path
	// A destination that is a directory in the container receives the
	// source inside it.
	if strings.HasSuffix(dest, "/") || cp.remote(ctx, dst, []string{"test", "-d", dest}, nil, io.Discard) == nil {
		dest = path.Join(dest, filepath.Base(filepath.Clean(local)))
	}
	dest = path.Clean(dest)
	cmd := []string{"tar", "-xmf", "-"}
	if cp.noPreserve {
		cmd = []string{"tar", "--no-same-permissions", "--no-same-owner", "-xmf", "-"}
	}
	if dir := path.Dir(dest); dir != "" {
		cmd = append(cmd, "-C", dir)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, local, path.Base(dest))) }()
	return cp.remote(ctx, dst, cmd, pr, io.Discard)
}

// writeTar writes local (a file, symlink or directory tree) to w, its top
// entry named name. Symbolic links are stored as links.
func writeTar(w io.Writer, local, name string) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(local, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		entry := path.Join(name, filepath.ToSlash(rel))
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = entry
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// fromPod copies a file or directory out of the pod with `tar cf -` there.
func (cp copier) fromPod(ctx context.Context, src cpSpec, local string) error {
	if local == "" {
		return fmt.Errorf("local path must not be empty")
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := cp.remote(ctx, src, []string{"tar", "cf", "-", src.path}, nil, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	// tar in the container strips the leading "/" (and "./") off the names.
	prefix := stripPathShortcuts(strings.TrimLeft(path.Clean(src.path), "/"))
	untarErr := untar(pr, prefix, local, cp.stderr)
	if untarErr != nil {
		pr.CloseWithError(untarErr)
	}
	if err := <-done; err != nil {
		return err
	}
	return untarErr
}

// stripPathShortcuts removes leading "../" and "./" elements, as tar does
// when it names entries.
func stripPathShortcuts(p string) string {
	for {
		switch {
		case p == "." || p == "..":
			return ""
		case strings.HasPrefix(p, "../"):
			p = p[3:]
		case strings.HasPrefix(p, "./"):
			p = p[2:]
		default:
			return p
		}
	}
}

// untar unpacks entries under prefix into dest. The container writes the
// stream, so it is hostile by assumption (the kubectl cp CVEs: CVE-2019-1002101,
// CVE-2019-11249, CVE-2019-11251):
//   - names outside the prefix are a corrupt stream; names that would land
//     outside dest (absolute, `..`) are skipped with a warning;
//   - symbolic and hard links are skipped with a warning, never created;
//   - every file and directory below dest is opened with openat2 and
//     RESOLVE_BENEATH from a descriptor of dest, so no symbolic link (one
//     already in dest included) takes a write out of it;
//   - modes follow kubectl: an existing file or directory keeps its mode
//     (dest itself included); one cp creates gets the container's permission
//     bits less the user's umask, as tar extracting as a user does.
func untar(r io.Reader, prefix, dest string, warn io.Writer) error {
	tr := tar.NewReader(r)
	dest = filepath.Clean(dest)
	var root *os.File // dest, opened at its first entry below it
	defer func() {
		if root != nil {
			root.Close()
		}
	}()
	any := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if !any {
				return fmt.Errorf("%s: no such file or directory in the container", prefix)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the container's tar stream: %w", err)
		}
		any = true
		name := strings.TrimSuffix(hdr.Name, "/")
		if name != prefix && !strings.HasPrefix(name, prefix+"/") && prefix != "" {
			return fmt.Errorf("tar contents corrupted: %q is not under %q", hdr.Name, prefix)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(name, prefix), "/")
		target := filepath.Join(dest, filepath.FromSlash(rel))
		if !within(dest, target) {
			fmt.Fprintf(warn, "warning: file %q is outside target destination, skipping\n", target)
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(warn, "warning: skipping symlink: %q -> %q\n", target, hdr.Linkname)
			continue
		default:
			fmt.Fprintf(warn, "warning: skipping %q: not a regular file or directory\n", target)
			continue
		}
		mode := os.FileMode(hdr.Mode).Perm()
		if rel == "" {
			// The copied path itself: a path the user named.
			if err := untarTop(hdr, tr, prefix, dest, mode); err != nil {
				return err
			}
			continue
		}
		if root == nil {
			if root, err = openDest(dest); err != nil {
				return err
			}
		}
		rel = path.Clean(filepath.ToSlash(rel))
		err = mkdirBeneath(root, path.Dir(rel), impliedDirMode)
		if err == nil && hdr.Typeflag == tar.TypeDir {
			err = mkdirBeneath(root, rel, mode|0o700)
		} else if err == nil {
			err = writeBeneath(root, rel, tr, mode)
		}
		if errors.Is(err, unix.EXDEV) {
			fmt.Fprintf(warn, "warning: file %q is outside target destination (through a symbolic link), skipping\n", target)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
	}
}

// impliedDirMode is the mode (less the umask) of the parent directories cp
// creates without an entry of their own, as kubectl's MkdirAll(…, 0755).
const impliedDirMode = 0o755

// untarTop writes the entry naming the copied path itself: a directory
// becomes dest (kept as it is when it exists), a file becomes dest, or goes
// inside dest when that is an existing directory.
func untarTop(hdr *tar.Header, r io.Reader, prefix, dest string, mode os.FileMode) error {
	fi, statErr := os.Stat(dest)
	if hdr.Typeflag == tar.TypeDir {
		if statErr == nil && !fi.IsDir() {
			return fmt.Errorf("cannot overwrite non-directory %s with a directory", dest)
		}
		if statErr == nil {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(dest), impliedDirMode); err != nil {
			return err
		}
		if err := os.Mkdir(dest, mode|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return nil
	}
	dir, name := filepath.Dir(dest), filepath.Base(dest)
	if statErr == nil && fi.IsDir() {
		dir, name = dest, path.Base(prefix)
	}
	if name == "" || name == "." || name == ".." || name == "/" {
		return fmt.Errorf("tar contents corrupted: file %q has no name", hdr.Name)
	}
	if err := os.MkdirAll(dir, impliedDirMode); err != nil {
		return err
	}
	root, err := openDest(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := writeBeneath(root, name, r, mode); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// openDest opens the destination directory (created if missing) as the
// root every entry is resolved beneath.
func openDest(dest string) (*os.File, error) {
	if err := os.MkdirAll(dest, impliedDirMode); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dest, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dest, Err: err}
	}
	return os.NewFile(uintptr(fd), dest), nil
}

// openBeneath opens rel (slash-separated, relative) below root; the kernel
// refuses (EXDEV) any resolution, through `..` or a symbolic link, that
// leaves root, and magic links of /proc.
func openBeneath(root *os.File, rel string, flags uint64, mode os.FileMode) (int, error) {
	fd, err := unix.Openat2(int(root.Fd()), rel, &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		return -1, fmt.Errorf("copying from a container needs openat2 (Linux 5.6 or later) to keep writes inside the destination: %w", err)
	}
	return fd, err
}

// mkdirBeneath creates rel and its missing parents below root, with mode
// less the umask (the kernel applies it); an existing directory is left as
// it is.
func mkdirBeneath(root *os.File, rel string, mode os.FileMode) error {
	if rel == "." || rel == "" {
		return nil
	}
	fd, err := openBeneath(root, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == nil {
		return unix.Close(fd)
	}
	if !errors.Is(err, unix.ENOENT) {
		return err
	}
	parent := path.Dir(rel)
	if err := mkdirBeneath(root, parent, impliedDirMode); err != nil {
		return err
	}
	pfd, err := openBeneath(root, parent, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, path.Base(rel), uint32(mode)); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// writeBeneath writes r to the file rel below root. A new file gets mode
// less the umask; an existing one is truncated and keeps its mode (kubectl).
// A symbolic link in its place is replaced, not followed; anything else
// that is not a regular file (a FIFO would block the copy) is refused.
func writeBeneath(root *os.File, rel string, r io.Reader, mode os.FileMode) error {
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_NONBLOCK
	fd, err := openBeneath(root, rel, flags, mode)
	if errors.Is(err, unix.ELOOP) {
		if err := unlinkBeneath(root, rel); err != nil {
			return err
		}
		fd, err = openBeneath(root, rel, flags, mode)
	}
	if errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("not a regular file (a FIFO): refusing to write to it")
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s): refusing to write to it", fi.Mode().Type())
	}
	// Truncated only now: O_TRUNC would have emptied whatever was opened.
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	return f.Close()
}

// unlinkBeneath removes the entry rel (not what it points to) below root.
func unlinkBeneath(root *os.File, rel string) error {
	pfd, err := openBeneath(root, path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return unix.Unlinkat(pfd, path.Base(rel), 0)
}

// within reports whether target is dest or below it.
func within(dest, target string) bool {
	rel, err := filepath.Rel(dest, target)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}
