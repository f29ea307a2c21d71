package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
)

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach",
		Usage:     "attach to the running process of a container",
		ArgsUsage: "POD",
		Description: "Like kubectl attach: shows the container's output from now on and, with -i,\n" +
			"sends podbox's stdin to the container's (which needs `stdin: true`).\n\n" +
			"Examples:\n" +
			"  podbox attach web\n" +
			"  podbox attach -i shell -c main",
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container to attach to"},
			&cli.BoolFlag{Name: "stdin", Aliases: []string{"i"}, Usage: "pass podbox's stdin to the container"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "stdin is a terminal (the container must have tty: true)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the container's output"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf(c, "expected POD, the pod to attach to")
			}
			name, err := podName(c.Args().First())
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			opts := execOptions{
				namespace: c.String("namespace"), pod: name, container: c.String("container"),
				stdin: c.Bool("stdin"), tty: c.Bool("tty"), quiet: c.Bool("quiet"),
			}
			return runAttach(c.Context, cl, opts, c.App.Reader, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runAttach attaches to a running container over the attach websocket.
func runAttach(ctx context.Context, cl *client, opts execOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	p, err := cl.pods.Pods(opts.namespace).Get(ctx, opts.pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("cannot attach a container in a completed pod; current phase is %s", p.Status.Phase)
	}
	notices := stderr
	if opts.quiet {
		notices = io.Discard
	}
	container, err := pickContainer(p, opts.container, notices)
	if err != nil {
		return err
	}
	var spec corev1.Container
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			spec = c
		}
	}
	streams := remotecommand.StreamOptions{Stdout: stdout}
	if opts.stdin {
		streams.Stdin = stdin
	}
	if opts.tty {
		// kubectl's notices, word for word.
		f, isFile := stdin.(*os.File)
		switch {
		case !spec.TTY:
			fmt.Fprintf(notices, "Unable to use a TTY - container %s did not allocate one\n", container)
		case !opts.stdin || !isFile || !isTerminal(f):
			fmt.Fprintln(notices, "Unable to use a TTY - input is not a terminal or the right kind of file")
		default:
			restore, err := makeRaw(f)
			if err != nil {
				return fmt.Errorf("cannot put the terminal in raw mode: %w", err)
			}
			defer restore()
			// Ends the terminal size watcher with the attach.
			sizeCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			streams.Tty = true
			streams.TerminalSizeQueue = watchSize(sizeCtx, f)
			if !opts.quiet {
				fmt.Fprint(notices, "If you don't see a command prompt, try pressing enter.\r\n")
			}
		}
	}
	if opts.stdin && !spec.Stdin {
		fmt.Fprintf(notices, "warning: container %s has no stdin (stdin: true); input is not passed on\n", container)
		streams.Stdin = nil
	}
	return streamPod(ctx, cl, opts.namespace, opts.pod, "attach", &corev1.PodAttachOptions{
		Container: container,
		Stdin:     streams.Stdin != nil,
		Stdout:    true,
		TTY:       streams.Tty,
	}, streams)
}
