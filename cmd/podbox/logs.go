package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultContainerAnnotation names the container kubectl picks when a
// command on a multi-container pod is not given -c.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the logs of a container in a pod",
		ArgsUsage: "POD [CONTAINER]",
		Description: "Like kubectl logs. Without -c, a pod's default container is used: the one\n" +
			"named by its kubectl.kubernetes.io/default-container annotation, else the first.\n\n" +
			"Examples:\n" +
			"  podbox logs web\n" +
			"  podbox logs web -c sidecar -f\n" +
			"  podbox logs web --tail 20 --timestamps\n" +
			"  podbox logs web --all-containers --prefix --since 10m",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container to print the logs of"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming new output until the container stops"},
			&cli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its RFC3339 timestamp"},
			&cli.Int64Flag{Name: "tail", Value: -1, Usage: "only the last N lines (-1: all)"},
			&cli.BoolFlag{Name: "previous", Aliases: []string{"p"}, Usage: "the logs of the previous, terminated instance of the container"},
			&cli.DurationFlag{Name: "since", Usage: "only lines newer than this (e.g. 5s, 2m, 3h)"},
			&cli.StringFlag{Name: "since-time", Usage: "only lines written at or after this RFC3339 time (e.g. 2026-01-02T15:04:05Z)"},
			&cli.Int64Flag{Name: "limit-bytes", Usage: "stop after this many bytes (of each container's log)"},
			&cli.BoolFlag{Name: "all-containers", Usage: "the logs of every container of the pod, init containers first"},
			&cli.BoolFlag{Name: "prefix", Usage: "start each line with its source, [pod/NAME/CONTAINER]"},
		},
		Action: func(c *cli.Context) error {
			opts, err := parseLogsArgs(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return runLogs(c.Context, cl.pods, opts, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// logsOptions is a parsed `podbox logs` invocation.
type logsOptions struct {
	namespace string
	pod       string
	container string
	// allContainers prints every container's log (--all-containers).
	allContainers bool
	// prefix starts every line with [pod/NAME/CONTAINER] (--prefix).
	prefix bool
	log    corev1.PodLogOptions
}

func parseLogsArgs(c *cli.Context) (logsOptions, error) {
	opts := logsOptions{
		namespace:     c.String("namespace"),
		container:     c.String("container"),
		allContainers: c.Bool("all-containers"),
		prefix:        c.Bool("prefix"),
	}
	args := c.Args().Slice()
	switch len(args) {
	case 0:
		return opts, usageErrorf(c, "expected POD [CONTAINER]: POD is a required argument for the logs command")
	case 1:
	case 2:
		// kubectl's positional form: logs POD CONTAINER.
		if opts.container != "" {
			return opts, usageErrorf(c, "only one of -c or an inline [CONTAINER] arg is allowed")
		}
		opts.container = args[1]
	default:
		return opts, usageErrorf(c, "expected POD [CONTAINER], got %d arguments", len(args))
	}
	if opts.allContainers && opts.container != "" {
		return opts, fmt.Errorf("--all-containers=true should not be specified with container name %s", opts.container)
	}
	name, err := podName(args[0])
	if err != nil {
		return opts, err
	}
	opts.pod = name
	opts.log = corev1.PodLogOptions{
		Follow:     c.Bool("follow"),
		Timestamps: c.Bool("timestamps"),
		Previous:   c.Bool("previous"),
	}
	if n := c.Int64("tail"); n >= 0 {
		opts.log.TailLines = &n
	} else if n != -1 {
		return opts, fmt.Errorf("--tail must be -1 (all lines) or a count of lines, not %d", n)
	}
	if d := c.Duration("since"); d != 0 {
		if d < 0 {
			return opts, fmt.Errorf("--since must be greater than 0")
		}
		// The API takes whole seconds; round up so nothing asked for is
		// left out.
		secs := int64((d + time.Second - 1) / time.Second)
		opts.log.SinceSeconds = &secs
	}
	if s := c.String("since-time"); s != "" {
		if opts.log.SinceSeconds != nil {
			return opts, fmt.Errorf("at most one of `sinceTime` or `sinceSeconds` may be specified")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return opts, fmt.Errorf("--since-time must be an RFC3339 time such as 2026-01-02T15:04:05Z, not %q", s)
		}
		opts.log.SinceTime = &metav1.Time{Time: t}
	}
	if n := c.Int64("limit-bytes"); n != 0 {
		if n < 0 {
			return opts, fmt.Errorf("--limit-bytes must be greater than 0")
		}
		opts.log.LimitBytes = &n
	}
	return opts, nil
}

// podName accepts POD, pod/POD or pods/POD, as kubectl logs and exec do.
func podName(arg string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	if err := checkPodType(kind); err != nil {
		return "", err
	}
	if name == "" {
		return "", fmt.Errorf("arguments in resource/name form must have a single resource and name")
	}
	return name, nil
}

// runLogs resolves the container (or with --all-containers every container)
// and copies its log stream to stdout until the server ends it (at once, or
// with --follow when the container stops).
func runLogs(ctx context.Context, pods podsGetter, opts logsOptions, stdout, stderr io.Writer) error {
	p, err := pods.Pods(opts.namespace).Get(ctx, opts.pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var containers []string
	if opts.allContainers {
		containers = allContainerNames(p)
	} else {
		name, err := pickContainer(p, opts.container, stderr)
		if err != nil {
			return err
		}
		containers = []string{name}
	}
	open := func(container string) (io.ReadCloser, error) {
		logOpts := opts.log
		logOpts.Container = container
		return pods.Pods(opts.namespace).GetLogs(opts.pod, &logOpts).Stream(ctx)
	}
	return copyLogs(p.Name, containers, open, opts.prefix, opts.log.Follow, stdout)
}

// allContainerNames lists a pod's containers in the order kubectl prints
// their logs with --all-containers: init containers, app containers, then
// ephemeral containers.
func allContainerNames(p *corev1.Pod) []string {
	var names []string
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range p.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

// copyLogs writes the logs of containers of pod to stdout, each opened with
// open. Without follow they are printed one after the other; with follow,
// every stream has to be read at once (none of them ends while its container
// runs), so they are interleaved a whole line at a time. With prefix, every
// line starts with [pod/POD/CONTAINER].
func copyLogs(pod string, containers []string, open func(string) (io.ReadCloser, error), prefix, follow bool, stdout io.Writer) error {
	if len(containers) == 1 && !prefix {
		// The plain case streams bytes as they come, partial lines too.
		stream, err := open(containers[0])
		if err != nil {
			return err
		}
		defer stream.Close()
		_, err = io.Copy(stdout, stream)
		return err
	}
	out := &lineWriter{w: stdout}
	linePrefix := func(container string) string {
		if !prefix {
			return ""
		}
		return fmt.Sprintf("[pod/%s/%s] ", pod, container)
	}
	if !follow || len(containers) == 1 {
		for _, container := range containers {
			if err := copyLines(open, container, linePrefix(container), out); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, len(containers))
	for _, container := range containers {
		go func() { errs <- copyLines(open, container, linePrefix(container), out) }()
	}
	var first error
	for range containers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// maxWholeLine is the longest line copyLines writes in one piece (64 KiB);
// a longer one (a container can print a line of any length, which the
// server joins back from its 16 KiB log records) is written in pieces as it
// comes, so the client never holds more than this of it.
const maxWholeLine = 64 << 10

// copyLines copies one container's log to out line by line, each line
// started with prefix.
func copyLines(open func(string) (io.ReadCloser, error), container, prefix string, out *lineWriter) error {
	stream, err := open(container)
	if err != nil {
		return err
	}
	defer stream.Close()
	source := &container // identifies this stream to out
	br := bufio.NewReaderSize(stream, maxWholeLine)
	for {
		// A piece without its newline (ErrBufferFull) is a partial line to
		// lineWriter: the next piece continues it without a prefix.
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if werr := out.writeLine(source, prefix, line); werr != nil {
				return werr
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil && err != bufio.ErrBufferFull:
			return err
		}
	}
}

// lineWriter writes whole lines from several sources (goroutines) without
// mixing them. A source whose output so far ends without a newline (a
// partial line, or a log's unterminated last line) keeps its line only until
// another source writes: that one starts on a new line.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
	// openBy is the source whose partial line ends the output, if any.
	openBy *string
}

func (l *lineWriter) writeLine(source *string, prefix string, line []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.openBy != nil && l.openBy != source {
		if _, err := io.WriteString(l.w, "\n"); err != nil {
			return err
		}
		l.openBy = nil
	}
	if l.openBy == nil {
		if _, err := io.WriteString(l.w, prefix); err != nil {
			return err
		}
	}
	l.openBy = nil
	if line[len(line)-1] != '\n' {
		l.openBy = source
	}
	_, err := l.w.Write(line)
	return err
}

// pickContainer chooses the container a logs or exec command works on, the
// way kubectl does: -c if given (it must exist); else the container named by
// the default-container annotation; else the first one, saying so on stderr
// when the pod has others, so the user learns about -c.
func pickContainer(p *corev1.Pod, name string, stderr io.Writer) (string, error) {
	if name != "" {
		for _, c := range p.Spec.Containers {
			if c.Name == name {
				return name, nil
			}
		}
		for _, c := range p.Spec.InitContainers {
			if c.Name == name {
				return name, nil
			}
		}
		for _, c := range p.Spec.EphemeralContainers {
			if c.Name == name {
				return name, nil
			}
		}
		return "", fmt.Errorf("container %s is not valid for pod %s", name, p.Name)
	}
	if want := p.Annotations[defaultContainerAnnotation]; want != "" {
		for _, c := range p.Spec.Containers {
			if c.Name == want {
				return want, nil
			}
		}
		fmt.Fprintf(stderr, "Warning: default container name %q not found in pod %s\n", want, p.Name)
	}
	if len(p.Spec.Containers) == 0 {
		return "", fmt.Errorf("pod %s has no containers", p.Name)
	}
	first := p.Spec.Containers[0].Name
	if len(p.Spec.Containers) > 1 || len(p.Spec.InitContainers) > 0 || len(p.Spec.EphemeralContainers) > 0 {
		fmt.Fprintf(stderr, "Defaulted container %q out of: %s\n", first, containerList(p))
	}
	return first, nil
}

// containerList names every container of a pod, marking init and ephemeral
// ones, for the "Defaulted container" notice.
func containerList(p *corev1.Pod) string {
	var names []string
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name+" (init)")
	}
	for _, c := range p.Spec.EphemeralContainers {
		names = append(names, c.Name+" (ephem)")
	}
	return strings.Join(names, ", ")
}
