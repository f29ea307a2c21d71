package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// deletePollInterval is how often delete --wait asks whether a pod is gone.
// The supervisor is local, so polling is cheap and a short interval keeps
// `podbox delete` from adding visible latency once the pod has stopped.
const deletePollInterval = 150 * time.Millisecond

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "stop and remove pods",
		ArgsUsage: "pods NAME...",
		Description: "Like kubectl delete for pods: each pod's containers get SIGTERM (after any\n" +
			"preStop hook), then SIGKILL once the grace period ends. By default podbox\n" +
			"waits until each pod is gone.\n\n" +
			"Examples:\n" +
			"  podbox delete pod web\n" +
			"  podbox delete pods web db --grace-period=5\n" +
			"  podbox delete pods --all --now\n" +
			"  podbox delete -f pod.yaml\n" +
			"  podbox delete pods -l 'app in (web,api)' --wait=false",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.BoolFlag{Name: "all", Usage: "delete every pod in the namespace"},
			&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "delete the pods described in a manifest file, a directory, or - for stdin (repeatable)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "read the directories given with -f and their subdirectories"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "delete the pods whose labels match this selector"},
			&cli.BoolFlag{Name: "ignore-not-found", Usage: "treat a pod that does not exist as deleted"},
			&cli.IntFlag{Name: "grace-period", Value: -1, Usage: "seconds a pod gets to stop; -1 uses the pod's terminationGracePeriodSeconds, 0 only with --force"},
			&cli.BoolFlag{Name: "now", Usage: "give pods one second to stop (--grace-period=1)"},
			&cli.BoolFlag{Name: "force", Usage: "with --grace-period=0, remove pods at once without waiting for them to stop"},
			&cli.BoolFlag{Name: "wait", Value: true, Usage: "wait until the pods are gone before returning"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up waiting after this long (0: wait as long as it takes)"},
		},
		Action: func(c *cli.Context) error {
			if handled, err := configCommand(c, deleteConfigObjects); handled {
				return err
			}
			opts, err := parseDeleteArgs(c)
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			podErr := runDelete(c.Context, cl.pods, opts, c.App.Writer, c.App.ErrWriter, deletePollInterval)
			return errors.Join(podErr, deleteConfigRefs(c.Context, cl, opts.configObjects, opts.ignoreNotFound, c.App.Writer, c.App.ErrWriter))
		},
	}
}

// deleteOptions is a parsed `podbox delete` invocation.
type deleteOptions struct {
	namespace string
	names     []string
	// manifests are pods named by -f, each in its own namespace;
	// configObjects the ConfigMaps and Secrets of those files.
	manifests     []podRef
	configObjects []configRef
	selector      labels.Selector
	all           bool
	// ignoreNotFound makes a missing pod no error.
	ignoreNotFound bool
	// grace is the grace period to send, or -1 to let the pod's own apply.
	grace   int64
	force   bool
	wait    bool
	timeout time.Duration
}

func parseDeleteArgs(c *cli.Context) (deleteOptions, error) {
	opts := deleteOptions{
		namespace: c.String("namespace"),
		all:       c.Bool("all"),
		grace:     int64(c.Int("grace-period")),
		force:     c.Bool("force"),
		wait:      c.Bool("wait"),
		timeout:   c.Duration("timeout"),

		ignoreNotFound: c.Bool("ignore-not-found"),
	}
	sel, err := selectorFlag(c)
	if err != nil {
		return opts, err
	}
	opts.selector = sel
	if files := c.StringSlice("filename"); len(files) > 0 {
		if c.NArg() > 0 || opts.all || !sel.Empty() {
			return opts, fmt.Errorf("-f cannot be given together with names, --all or a selector")
		}
		set, err := loadObjects(files, c.App.Reader, opts.namespace, c.IsSet("namespace"), c.Bool("recursive"))
		if err != nil {
			return opts, err
		}
		for _, a := range set.pods {
			opts.manifests = append(opts.manifests, podRef{a.pod.Namespace, a.pod.Name})
		}
		for _, cm := range set.configMaps {
			opts.configObjects = append(opts.configObjects, configRef{configMapResource, cm.Namespace, cm.Name})
		}
		for _, sec := range set.secrets {
			opts.configObjects = append(opts.configObjects, configRef{secretResource, sec.Namespace, sec.Name})
		}
		return opts, opts.graceRules(c.Bool("now"))
	}
	if c.NArg() == 0 {
		return opts, usageErrorf(c, "You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   'pods my-pod'\n   'pods/my-pod'")
	}
	names, err := podArgs(c.Args().Slice())
	if err != nil {
		return opts, err
	}
	selected := opts.all || !sel.Empty()
	switch {
	case selected && len(names) > 0:
		return opts, fmt.Errorf("names cannot be given together with --all or a selector")
	case !selected && len(names) == 0:
		return opts, fmt.Errorf("resource(s) were provided, but no name was specified")
	}
	opts.names = names
	return opts, opts.graceRules(c.Bool("now"))
}

// podRef names a pod in a namespace.
type podRef struct{ namespace, name string }

// graceRules applies --now and --force to the grace period.
func (opts *deleteOptions) graceRules(now bool) error {
	// kubectl's rules, kept so that muscle memory does the same thing:
	// --now is a one second grace period; a zero grace period needs --force
	// (otherwise it is quietly one second, as a guard against losing data);
	// --force alone means zero.
	if now {
		if opts.grace != -1 {
			return fmt.Errorf("--now and --grace-period cannot be specified together")
		}
		opts.grace = 1
	}
	if opts.grace == 0 && !opts.force {
		opts.grace = 1
	}
	if opts.force && opts.grace < 0 {
		opts.grace = 0
	}
	return nil
}

// runDelete deletes the named pods (all pods with --all), then waits for each
// to be gone, printing `pod "NAME" deleted` per pod. A pod that cannot be
// deleted is reported and the others are still deleted.
func runDelete(ctx context.Context, pods podsGetter, opts deleteOptions, stdout, stderr io.Writer, poll time.Duration) error {
	targets := opts.manifests
	for _, n := range opts.names {
		targets = append(targets, podRef{opts.namespace, n})
	}
	if opts.all || (opts.selector != nil && !opts.selector.Empty()) {
		sel := opts.selector
		if sel == nil {
			sel = labels.Everything()
		}
		list, err := pods.Pods(opts.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if sel.Matches(labels.Set(p.Labels)) {
				targets = append(targets, podRef{p.Namespace, p.Name})
			}
		}
		if len(targets) == 0 {
			noResources(stderr, opts.namespace)
			return nil
		}
	}

	del := metav1.DeleteOptions{}
	if opts.grace >= 0 {
		del.GracePeriodSeconds = &opts.grace
	}
	verb := "deleted"
	if opts.force && opts.grace == 0 {
		verb = "force deleted"
		fmt.Fprintln(stderr, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
	}

	// Every deletion is requested before waiting on any, so the pods stop
	// in parallel and the wait is that of the slowest, not their sum.
	type pending struct {
		podRef
		uid types.UID
	}
	var issued []pending
	failed := false
	for _, t := range targets {
		api := pods.Pods(t.namespace)
		p, err := api.Get(ctx, t.name, metav1.GetOptions{})
		if err == nil {
			err = api.Delete(ctx, t.name, del)
		}
		if apierrors.IsNotFound(err) && opts.ignoreNotFound {
			continue
		}
		if err != nil {
			fmt.Fprintln(stderr, errorMessage(err))
			failed = true
			continue
		}
		issued = append(issued, pending{t, p.UID})
	}

	if opts.wait && opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	for _, p := range issued {
		if opts.wait {
			if err := waitGone(ctx, pods.Pods(p.namespace), p.name, p.uid, poll); err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					err = fmt.Errorf("timed out waiting for the condition on pods/%s", p.name)
				}
				fmt.Fprintln(stderr, errorMessage(err))
				failed = true
				continue
			}
		}
		fmt.Fprintf(stdout, "pod %q %s\n", p.name, verb)
	}
	if failed {
		return errReported
	}
	return nil
}

// waitGone polls until the pod is gone. A pod of the same name but another
// UID is a new pod created meanwhile, so the deleted one counts as gone.
func waitGone(ctx context.Context, api podInterface, name string, uid types.UID, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		p, err := api.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return err
		case uid != "" && p.UID != uid:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
