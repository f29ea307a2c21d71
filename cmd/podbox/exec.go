package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/remotecommand"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in a container of a pod",
		ArgsUsage: "POD -- COMMAND [ARGS...]",
		Description: "Like kubectl exec. The command's exit status becomes podbox's, so\n" +
			"`podbox exec web -- test -f /ready` works in scripts. Without -c, the pod's\n" +
			"default container is used (see podbox logs --help).\n\n" +
			"Examples:\n" +
			"  podbox exec web -- cat /etc/hostname\n" +
			"  podbox exec -it web -- sh\n" +
			"  echo hi | podbox exec -i web -c side -- cat",
		UseShortOptionHandling: true, // -it
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container to run the command in"},
			&cli.BoolFlag{Name: "stdin", Aliases: []string{"i"}, Usage: "pass podbox's stdin to the command"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal (with -i, when stdin is one)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the command's own output"},
		},
		Action: func(c *cli.Context) error {
			opts, err := parseExecArgs(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return runExec(c.Context, cl, opts, c.App.Reader, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// execOptions is a parsed `podbox exec` invocation.
type execOptions struct {
	namespace string
	pod       string
	container string
	command   []string
	stdin     bool
	tty       bool
	quiet     bool
}

func parseExecArgs(c *cli.Context) (execOptions, error) {
	opts := execOptions{
		namespace: c.String("namespace"),
		container: c.String("container"),
		stdin:     c.Bool("stdin"),
		tty:       c.Bool("tty"),
		quiet:     c.Bool("quiet"),
	}
	args := c.Args().Slice()
	if len(args) == 0 {
		return opts, usageErrorf(c, "expected 'exec POD -- COMMAND [ARGS...]'.\nPOD is a required argument for the exec command")
	}
	if len(args) == 1 {
		return opts, usageErrorf(c, "you must specify at least one command for the container")
	}
	name, err := podName(args[0])
	if err != nil {
		return opts, err
	}
	opts.pod, opts.command = name, args[1:]
	return opts, nil
}

// execTarget checks that the pod can run a command and picks the container.
func execTarget(ctx context.Context, pods podsGetter, opts execOptions, stderr io.Writer) (string, error) {
	p, err := pods.Pods(opts.namespace).Get(ctx, opts.pod, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return "", fmt.Errorf("cannot exec into a container in a completed pod; current phase is %s", p.Status.Phase)
	}
	if opts.quiet {
		stderr = io.Discard
	}
	return pickContainer(p, opts.container, stderr)
}

// runExec runs the command over the supervisor's exec websocket. A non-zero
// exit of the command comes back as an exec.CodeExitError, which main turns
// into podbox's own exit status.
func runExec(ctx context.Context, cl *client, opts execOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	// Ends the terminal size watcher when the command does.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	container, err := execTarget(ctx, cl.pods, opts, stderr)
	if err != nil {
		return err
	}

	streams := remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr}
	if opts.stdin {
		streams.Stdin = stdin
	}
	// As with kubectl, a terminal is only used with -i and when stdin is one;
	// otherwise -t is ignored, with a notice when -i was given.
	var restore func()
	if opts.tty && opts.stdin {
		f, isFile := stdin.(*os.File)
		if isFile && isTerminal(f) {
			restore, err = makeRaw(f)
			if err != nil {
				return fmt.Errorf("cannot put the terminal in raw mode: %w", err)
			}
			defer restore()
			streams.Tty = true
			// A terminal merges stderr into stdout, as in a real one.
			streams.Stderr = nil
			streams.TerminalSizeQueue = watchSize(ctx, f)
		} else if !opts.quiet {
			fmt.Fprintln(stderr, "Unable to use a TTY - input is not a terminal or the right kind of file")
		}
	}

	return streamPod(ctx, cl, opts.namespace, opts.pod, "exec", &corev1.PodExecOptions{
		Container: container,
		Command:   opts.command,
		Stdin:     streams.Stdin != nil,
		Stdout:    true,
		Stderr:    streams.Stderr != nil,
		TTY:       streams.Tty,
	}, streams)
}

// streamPod runs a pod's exec or attach subresource over the channel
// websocket protocol (v5, falling back to v4), as kubectl does.
func streamPod(ctx context.Context, cl *client, namespace, pod, subresource string, params runtime.Object, streams remotecommand.StreamOptions) error {
	url := cl.rest.Post().
		Resource("pods").
		Namespace(namespace).
		Name(pod).
		SubResource(subresource).
		VersionedParams(params, coreScheme().params).
		URL()
	exec, err := remotecommand.NewWebSocketExecutorForProtocols(webSocketConfig(cl.config), "GET", url.String(),
		remotecommandconsts.StreamProtocolV5Name, remotecommandconsts.StreamProtocolV4Name)
	if err != nil {
		return err
	}
	return exec.StreamWithContext(ctx, streams)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// makeRaw switches the terminal to raw mode (no echo, no line editing, no
// signals from ^C: every key goes to the remote command, whose own terminal
// does all that) and returns the function that restores it.
func makeRaw(f *os.File) (func(), error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// sizeQueue hands terminal sizes to the exec stream: the current size first,
// then a new one on every SIGWINCH, until the command ends.
type sizeQueue chan remotecommand.TerminalSize

// Next implements remotecommand.TerminalSizeQueue.
func (q sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &s
}

// watchSize starts reporting the size of terminal f until ctx ends.
func watchSize(ctx context.Context, f *os.File) remotecommand.TerminalSizeQueue {
	q := make(sizeQueue, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	send := func() bool {
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			return true
		}
		select {
		case q <- remotecommand.TerminalSize{Width: ws.Col, Height: ws.Row}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(q)
		defer signal.Stop(winch)
		if !send() {
			return
		}
		for {
			select {
			case <-winch:
				if !send() {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return q
}
