package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilexec "k8s.io/client-go/util/exec"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "create and run a pod from an image",
		ArgsUsage: "NAME --image=IMAGE [-- ARGS...]",
		Description: "Like kubectl run: a pod with one container named NAME, labelled run=NAME.\n" +
			"Arguments after -- are the container's args (with --command, its command).\n" +
			"With -i the container gets stdin and podbox attaches to it; --rm deletes the pod\n" +
			"when the attach ends, and podbox exits with the container's exit code.\n\n" +
			"Examples:\n" +
			"  podbox run web --image=nginx --port=80\n" +
			"  podbox run tmp --image=busybox --restart=Never --rm -i -- sh -c 'cat; exit 3'",
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringFlag{Name: "image", Usage: "the container image"},
			&cli.StringFlag{Name: "restart", Value: "Always", Usage: "the pod's restartPolicy: Always, OnFailure or Never"},
			&cli.StringFlag{Name: "port", Usage: "the port the container exposes (containerPort)"},
			&cli.StringSliceFlag{Name: "env", Usage: "an environment variable K=V of the container (repeatable)"},
			&cli.StringFlag{Name: "labels", Aliases: []string{"l"}, Usage: "the pod's labels, k=v,k2=v2 (default run=NAME)"},
			&cli.StringFlag{Name: "image-pull-policy", Usage: "the container's imagePullPolicy"},
			&cli.BoolFlag{Name: "command", Usage: "the arguments after -- are the command, not args"},
			&cli.BoolFlag{Name: "stdin", Aliases: []string{"i"}, Usage: "keep stdin open on the container and attach to it"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a terminal for the container"},
			&cli.BoolFlag{Name: "rm", Usage: "delete the pod after the attach ends (needs -i)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the container's output"},
		},
		Action: func(c *cli.Context) error {
			p, err := buildRunPod(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return runPod(c.Context, cl, p, c.Bool("rm"), c.Bool("quiet"), c.App.Reader, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// buildRunPod makes the pod kubectl run makes.
func buildRunPod(c *cli.Context) (*corev1.Pod, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, usageErrorf(c, "NAME is required for run")
	}
	name, rest := args[0], args[1:]
	image := c.String("image")
	if image == "" {
		return nil, usageErrorf(c, `required flag(s) "image" not set`)
	}
	restart := corev1.RestartPolicy(c.String("restart"))
	switch restart {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		return nil, fmt.Errorf("invalid restart policy: %s", restart)
	}
	stdin, tty := c.Bool("stdin"), c.Bool("tty")
	if c.Bool("rm") && !stdin {
		return nil, fmt.Errorf("--rm should only be used for attached containers")
	}
	if tty && !stdin {
		return nil, fmt.Errorf("-i/--stdin is required for containers with -t/--tty=true")
	}
	lbls := map[string]string{"run": name}
	if s := c.String("labels"); s != "" {
		set, err := labels.ConvertSelectorToLabelsMap(s)
		if err != nil {
			return nil, fmt.Errorf("--labels %q: %w (want k=v,k2=v2)", s, err)
		}
		lbls = set
	}
	ctr := corev1.Container{Name: name, Image: image, Stdin: stdin, StdinOnce: stdin, TTY: tty,
		ImagePullPolicy: corev1.PullPolicy(c.String("image-pull-policy"))}
	if c.Bool("command") {
		if len(rest) == 0 {
			return nil, fmt.Errorf("--command needs the command after --")
		}
		ctr.Command = rest
	} else if len(rest) > 0 {
		ctr.Args = rest
	}
	if s := c.String("port"); s != "" {
		port, err := strconv.ParseInt(s, 10, 32)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("--port %q: must be a number from 1 to 65535", s)
		}
		ctr.Ports = []corev1.ContainerPort{{ContainerPort: int32(port)}}
	}
	for _, kv := range c.StringSlice("env") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want NAME=VALUE", kv)
		}
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: k, Value: v})
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.String("namespace"), Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{ctr}, RestartPolicy: restart},
	}, nil
}

// runPod creates the pod and, for -i, attaches to it until it ends.
func runPod(ctx context.Context, cl *client, p *corev1.Pod, rm, quiet bool, stdin io.Reader, stdout, stderr io.Writer) error {
	pods := cl.pods.Pods(p.Namespace)
	created, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if !p.Spec.Containers[0].Stdin {
		fmt.Fprintf(stdout, "pod/%s created\n", created.Name)
		return nil
	}
	attachErr := attachWhenRunning(ctx, cl, created, quiet, stdin, stdout, stderr)
	code, reason := 0, ""
	if attachErr == nil && p.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		code, reason, attachErr = waitTerminated(ctx, cl, created)
	}
	if rm {
		// Deleted even when the command was interrupted or failed.
		if err := pods.Delete(context.WithoutCancel(ctx), created.Name, metav1.DeleteOptions{}); err == nil {
			fmt.Fprintf(stdout, "pod %q deleted\n", created.Name)
		}
	}
	if attachErr != nil {
		return attachErr
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("pod %s/%s terminated (%s)", created.Namespace, created.Name, reason), Code: code}
	}
	return nil
}

// attachWhenRunning waits for the container to start, then attaches; a
// container that has already finished shows its log instead, as kubectl
// run does.
func attachWhenRunning(ctx context.Context, cl *client, p *corev1.Pod, quiet bool, stdin io.Reader, stdout, stderr io.Writer) error {
	name := p.Spec.Containers[0].Name
	for {
		cur, err := cl.pods.Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := containerStatus(cur, name)
		switch {
		case st != nil && st.State.Running != nil:
			opts := execOptions{namespace: p.Namespace, pod: p.Name, container: name, stdin: true, tty: p.Spec.Containers[0].TTY, quiet: quiet}
			return runAttach(ctx, cl, opts, stdin, stdout, stderr)
		case st != nil && st.State.Terminated != nil, cur.Status.Phase == corev1.PodSucceeded, cur.Status.Phase == corev1.PodFailed:
			return streamLog(ctx, cl, p, name, stdout)
		case st != nil && st.State.Waiting != nil && isPullError(st.State.Waiting.Reason):
			return fmt.Errorf("pod %s/%s: container %s: %s: %s", p.Namespace, p.Name, name, st.State.Waiting.Reason, st.State.Waiting.Message)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func isPullError(reason string) bool {
	return reason == "ErrImagePull" || reason == "ImagePullBackOff" || reason == "ErrImageNeverPull" ||
		reason == "CreateContainerConfigError" || reason == "CreateContainerError" || reason == "RunContainerError"
}

func streamLog(ctx context.Context, cl *client, p *corev1.Pod, container string, w io.Writer) error {
	rc, err := cl.pods.Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: container}).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// waitTerminated waits for the pod's container to end (restartPolicy Never
// or OnFailure) and returns its exit code and reason.
func waitTerminated(ctx context.Context, cl *client, p *corev1.Pod) (int, string, error) {
	name := p.Spec.Containers[0].Name
	for {
		cur, err := cl.pods.Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return 0, "", nil
		}
		if err != nil {
			return 0, "", err
		}
		st := containerStatus(cur, name)
		done := cur.Status.Phase == corev1.PodSucceeded || cur.Status.Phase == corev1.PodFailed ||
			(p.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && st != nil && st.State.Terminated != nil && st.State.Terminated.ExitCode == 0)
		if done && st != nil && st.State.Terminated != nil {
			return int(st.State.Terminated.ExitCode), st.State.Terminated.Reason, nil
		}
		if done {
			return 0, "", nil
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
