package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
)

func portForwardCommand() *cli.Command {
	return &cli.Command{
		Name:      "port-forward",
		Usage:     "forward local ports to a pod",
		ArgsUsage: "pod/NAME [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N]",
		Description: "Like kubectl port-forward: connections to a local port are forwarded to the\n" +
			"port on the pod's localhost, so services bound only to 127.0.0.1 inside the\n" +
			"pod are reachable too. TCP only. Runs until interrupted.\n\n" +
			"Examples:\n" +
			"  podbox port-forward pod/web 8080:80\n" +
			"  podbox port-forward web 5000 6000\n" +
			"  podbox port-forward --address 0.0.0.0 pod/web 8888:5000\n" +
			"  podbox port-forward pod/web :80      # a random local port",
		Flags: []cli.Flag{
			namespaceFlag(),
			&cli.StringSliceFlag{Name: "address", Value: cli.NewStringSlice("localhost"),
				Usage: "addresses to listen on (comma separated); localhost means 127.0.0.1 and ::1"},
		},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) < 2 {
				return usageErrorf(c, "TYPE/NAME and list of ports are required for port-forward")
			}
			name, err := podName(args[0])
			if err != nil {
				return err
			}
			cl, err := connect(c.Context)
			if err != nil {
				return err
			}
			var addrs []string
			for _, a := range c.StringSlice("address") {
				addrs = append(addrs, strings.Split(a, ",")...)
			}
			return runPortForward(c.Context, cl, c.String("namespace"), name, addrs, args[1:], c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runPortForward forwards ports with client-go's port forwarder (as
// kubectl does, same output) over SPDY to the supervisor's
// pods/NAME/portforward, until ctx ends.
func runPortForward(ctx context.Context, cl *client, namespace, name string, addrs, ports []string, stdout, stderr io.Writer) error {
	p, err := cl.pods.Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("unable to forward port because pod is not running. Current status=%v", p.Status.Phase)
	}
	// client-go's SPDY transport dials TCP to the URL's host; the upgrade
	// transport makes it dial the supervisor's socket instead.
	rt, err := streamspdy.NewRoundTripperWithConfig(streamspdy.RoundTripperConfig{
		UpgradeTransport: &http.Transport{DialContext: cl.config.Dial},
		PingPeriod:       5 * time.Second,
	})
	if err != nil {
		return err
	}
	url := cl.rest.Post().Resource("pods").Namespace(namespace).Name(name).SubResource("portforward").URL()
	dialer := spdy.NewDialerForStreaming(spdy.NewUpgraderForStreaming(rt), &http.Client{Transport: rt}, http.MethodPost, url)
	stop := make(chan struct{})
	go func() {
		<-ctx.Done()
		close(stop)
	}()
	fw, err := portforward.NewOnAddressesForStreaming(dialer, addrs, ports, stop, nil, stdout, stderr)
	if err != nil {
		return err
	}
	return fw.ForwardPorts()
}
