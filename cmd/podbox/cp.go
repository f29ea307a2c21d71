package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
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
			"destination (absolute or `..` paths) and symbolic links are skipped with a\n" +
			"warning, as kubectl does; permission bits are kept both ways.\n\n" +
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

// untar unpacks entries under prefix into dest, refusing anything a
// malicious container could use to write outside dest (the kubectl cp
// CVEs): names outside the prefix, names that resolve outside dest, and
// symbolic and hard links, which are skipped with a warning.
func untar(r io.Reader, prefix, dest string, warn io.Writer) error {
	tr := tar.NewReader(r)
	dest = filepath.Clean(dest)
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
		if rel == "" && hdr.Typeflag == tar.TypeReg {
			// A single file copied to an existing directory goes inside it.
			if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
				target = filepath.Join(dest, path.Base(prefix))
			}
		}
		if !within(dest, target) {
			fmt.Fprintf(warn, "warning: file %q is outside target destination, skipping\n", target)
			continue
		}
		mode := os.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeFile(target, tr, mode); err != nil {
				return err
			}
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(warn, "warning: skipping symlink: %q -> %q\n", target, hdr.Linkname)
		default:
			fmt.Fprintf(warn, "warning: skipping %q: not a regular file or directory\n", target)
		}
	}
}

// within reports whether target is dest or below it.
func within(dest, target string) bool {
	rel, err := filepath.Rel(dest, target)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func writeFile(target string, r io.Reader, mode os.FileMode) error {
	// A symlink planted at target must not redirect the write.
	if fi, err := os.Lstat(target); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if err := os.Remove(target); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
