package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

func topCommand() *cli.Command {
	// A leaf command whose first argument is the resource (as with get), so
	// that flags may follow the pod name, as kubectl users write them.
	return &cli.Command{
		Name:      "top",
		Usage:     "show the CPU and memory use of pods",
		ArgsUsage: "pod [NAME]",
		Description: "Like kubectl top pod, from podbox's metrics.k8s.io API: CPU is the rate over\n" +
			"the last second or so (or since the previous top), memory the current use.\n\n" +
			"Examples:\n" +
			"  podbox top pod\n" +
			"  podbox top pod web --containers\n" +
			"  podbox top pod -A -l app=web --sort-by=memory",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "show pods of every namespace"},
			&cli.StringFlag{Name: "selector", Aliases: []string{"l"}, Usage: "only pods whose labels match this selector (e.g. app=web)"},
			&cli.BoolFlag{Name: "containers", Usage: "show each container of the pods"},
			&cli.BoolFlag{Name: "no-headers", Usage: "don't print the header line"},
			&cli.StringFlag{Name: "sort-by", Usage: "sort by cpu or memory"},
			&cli.BoolFlag{Name: "sum", Usage: "print the sum of the resource usage"},
		},
		Action: func(c *cli.Context) error {
			opts := topOptions{
				namespace: c.String("namespace"), allNamespaces: c.Bool("all-namespaces"),
				selector: c.String("selector"), containers: c.Bool("containers"),
				noHeaders: c.Bool("no-headers"), sortBy: c.String("sort-by"), sum: c.Bool("sum"),
			}
			args := c.Args().Slice()
			if len(args) == 0 {
				return usageErrorf(c, "you must specify a resource type: pod")
			}
			switch args[0] {
			case "pod", "pods", "po":
			case "node", "nodes", "no":
				return fmt.Errorf("podbox has no nodes: use `podbox top pod`")
			default:
				return usageErrorf(c, "unknown resource type %q: podbox top shows pods", args[0])
			}
			args = args[1:]
			if len(args) > 1 {
				return usageErrorf(c, "top pod takes at most one pod name")
			}
			if len(args) == 1 {
				name, err := podName(args[0])
				if err != nil {
					return err
				}
				opts.name = name
			}
			if opts.sortBy != "" && opts.sortBy != "cpu" && opts.sortBy != "memory" {
				return usageErrorf(c, "--sort-by accepts only cpu or memory")
			}
			if opts.name != "" && opts.selector != "" {
				return usageErrorf(c, "only one of NAME or --selector can be provided")
			}
			if _, err := labels.Parse(opts.selector); err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			return runTop(c.Context, cl, opts, c.App.Writer, c.App.ErrWriter)
		},
	}
}

type topOptions struct {
	namespace, name, selector, sortBy         string
	allNamespaces, containers, noHeaders, sum bool
}

// fetchPodMetrics reads PodMetrics from the metrics.k8s.io API.
func fetchPodMetrics(ctx context.Context, cl *client, opts topOptions) ([]metricsv1beta1.PodMetrics, error) {
	req := cl.rest.Get().AbsPath("/apis/metrics.k8s.io/v1beta1")
	if !opts.allNamespaces {
		req = req.Namespace(opts.namespace)
	}
	req = req.Resource("pods")
	if opts.name != "" {
		req = req.Name(opts.name)
	}
	if opts.selector != "" {
		req = req.Param("labelSelector", opts.selector)
	}
	raw, err := req.Do(ctx).Raw()
	if apierrors.IsNotFound(err) && opts.name != "" {
		// client-go does not decode the Status of an API group it was not
		// made for; say what kubectl says.
		return nil, apierrors.NewNotFound(metricsv1beta1.Resource("podmetrics"), opts.namespace+"/"+opts.name)
	}
	if err != nil {
		return nil, err
	}
	if opts.name != "" {
		var m metricsv1beta1.PodMetrics
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		return []metricsv1beta1.PodMetrics{m}, nil
	}
	var list metricsv1beta1.PodMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func runTop(ctx context.Context, cl *client, opts topOptions, w, stderr io.Writer) error {
	metrics, err := fetchPodMetrics(ctx, cl, opts)
	if err != nil {
		return err
	}
	if len(metrics) == 0 {
		// As kubectl says when no pod is running.
		if opts.allNamespaces {
			fmt.Fprintln(stderr, "No resources found")
		} else {
			fmt.Fprintf(stderr, "No resources found in %s namespace.\n", opts.namespace)
		}
		return nil
	}
	printPodMetrics(w, metrics, opts)
	return nil
}

// usageOf sums the usage of a pod's containers.
func usageOf(m metricsv1beta1.PodMetrics) (cpu, mem resource.Quantity) {
	for _, c := range m.Containers {
		cpu.Add(c.Usage[corev1.ResourceCPU])
		mem.Add(c.Usage[corev1.ResourceMemory])
	}
	return cpu, mem
}

// printPodMetrics prints kubectl top's table: CPU in millicores ("12m"),
// memory in mebibytes ("34Mi").
func printPodMetrics(w io.Writer, metrics []metricsv1beta1.PodMetrics, opts topOptions) {
	switch opts.sortBy {
	case "cpu", "memory":
		res := corev1.ResourceCPU
		if opts.sortBy == "memory" {
			res = corev1.ResourceMemory
		}
		sort.SliceStable(metrics, func(i, j int) bool {
			a, b := podTotal(metrics[i], res), podTotal(metrics[j], res)
			return a.Cmp(b) > 0
		})
	default:
		sort.SliceStable(metrics, func(i, j int) bool {
			if metrics[i].Namespace != metrics[j].Namespace {
				return metrics[i].Namespace < metrics[j].Namespace
			}
			return metrics[i].Name < metrics[j].Name
		})
	}
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if !opts.noHeaders {
		if opts.allNamespaces {
			fmt.Fprint(tw, "NAMESPACE\t")
		}
		if opts.containers {
			fmt.Fprint(tw, "POD\t")
		}
		fmt.Fprintln(tw, "NAME\tCPU(cores)\tMEMORY(bytes)")
	}
	var totalCPU, totalMem resource.Quantity
	row := func(m metricsv1beta1.PodMetrics, name string, cpu, mem resource.Quantity) {
		if opts.allNamespaces {
			fmt.Fprintf(tw, "%s\t", m.Namespace)
		}
		if opts.containers {
			fmt.Fprintf(tw, "%s\t", m.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, formatCPU(cpu), formatMemory(mem))
	}
	for _, m := range metrics {
		cpu, mem := usageOf(m)
		totalCPU.Add(cpu)
		totalMem.Add(mem)
		if !opts.containers {
			row(m, m.Name, cpu, mem)
			continue
		}
		for _, c := range m.Containers {
			row(m, c.Name, c.Usage[corev1.ResourceCPU], c.Usage[corev1.ResourceMemory])
		}
	}
	if opts.sum {
		pad := ""
		if opts.allNamespaces {
			pad += "\t"
		}
		if opts.containers {
			pad += "\t"
		}
		fmt.Fprintf(tw, "%s\t________\t________\n", pad)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", pad, formatCPU(totalCPU), formatMemory(totalMem))
	}
	tw.Flush()
}

func podTotal(m metricsv1beta1.PodMetrics, res corev1.ResourceName) resource.Quantity {
	cpu, mem := usageOf(m)
	if res == corev1.ResourceCPU {
		return cpu
	}
	return mem
}

func formatCPU(q resource.Quantity) string { return fmt.Sprintf("%vm", q.MilliValue()) }

func formatMemory(q resource.Quantity) string { return fmt.Sprintf("%vMi", q.Value()/(1024*1024)) }
