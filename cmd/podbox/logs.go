package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
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
			"  podbox logs web --tail 20 --timestamps",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the container to print the logs of"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming new output until the container stops"},
			&cli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its RFC3339 timestamp"},
			&cli.Int64Flag{Name: "tail", Value: -1, Usage: "only the last N lines (-1: all)"},
			&cli.BoolFlag{Name: "previous", Aliases: []string{"p"}, Usage: "the logs of the previous, terminated instance of the container"},
			&cli.DurationFlag{Name: "since", Usage: "only lines newer than this (e.g. 5s, 2m, 3h)"},
			&cli.Int64Flag{Name: "limit-bytes", Usage: "stop after this many bytes"},
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
	log       corev1.PodLogOptions
}

func parseLogsArgs(c *cli.Context) (logsOptions, error) {
	opts := logsOptions{namespace: c.String("namespace"), container: c.String("container")}
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

// runLogs resolves the container and copies its log stream to stdout until
// the server ends it (at once, or with --follow when the container stops).
func runLogs(ctx context.Context, pods typedcorev1.PodsGetter, opts logsOptions, stdout, stderr io.Writer) error {
	p, err := pods.Pods(opts.namespace).Get(ctx, opts.pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	container, err := pickContainer(p, opts.container, stderr)
	if err != nil {
		return err
	}
	logOpts := opts.log
	logOpts.Container = container
	stream, err := pods.Pods(opts.namespace).GetLogs(opts.pod, &logOpts).Stream(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	_, err = io.Copy(stdout, stream)
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
