package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"podbox.dev/podbox/pod"
)

// KubernetesVersion is the major.minor podbox claims in probe User-Agents:
// the release matching the k8s.io/api v0.37 types podbox is built on.
const KubernetesVersion = "1.37"

// UserAgent is sent by HTTP and gRPC probes, as the kubelet sends it.
const UserAgent = "kube-probe/" + KubernetesVersion

// LifecycleUserAgent is sent by httpGet lifecycle hooks, as the kubelet
// sends it.
const LifecycleUserAgent = "kube-lifecycle/" + KubernetesVersion

// DialFunc opens a network connection. The supervisor injects one that
// reaches the pod's network; the default is DefaultDial.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ExecFunc runs cmd in the container and returns its combined output (at
// most MaxOutput bytes of it: collect it in a CappedBuffer) and exit code.
// err is for failing to run it at all (the container is gone, runsc
// failed), never for a non-zero exit. It should stop when ctx is done;
// if it does not, the probe still times out and the call is abandoned.
type ExecFunc func(ctx context.Context, cmd []string) (output []byte, exitCode int, err error)

// Handler runs one probe attempt. The attempt's own timeout is part of the
// handler; ctx only cancels it early (the worker stopping).
type Handler interface {
	Probe(ctx context.Context) Outcome
}

// DefaultDial dials like the kubelet's probe dialer: a plain dial whose
// sockets linger for one second on close, so that frequent probes do not
// leave sockets piling up in TIME_WAIT.
func DefaultDial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
		})
	}}
	return d.DialContext(ctx, network, addr)
}

// Target is what a probe needs from around the container.
type Target struct {
	// PodIP is the host HTTP and TCP probes use when the probe names none,
	// and the only host gRPC probes use.
	PodIP string
	// Container is the probed container's spec: its ports resolve named
	// probe ports and its static env expands $(VAR) in exec commands.
	Container *v1.Container
	// Exec runs exec probes; required for them.
	Exec ExecFunc
	// Dial reaches the pod for network probes; nil means DefaultDial.
	Dial DialFunc
}

// NewHandler builds the handler for probe p against t. An error is a probe
// error in the kubelet's sense (no handler, an unresolvable port): the
// attempt counts as errored with result Unknown.
func NewHandler(p *v1.Probe, t Target) (Handler, error) {
	timeout := TimingOf(p).Timeout
	dial := t.Dial
	if dial == nil {
		dial = DefaultDial
	}
	switch {
	case p.Exec != nil:
		if t.Exec == nil {
			return nil, errors.New("no exec function to run the exec probe")
		}
		return &ExecHandler{Command: ExpandCommand(p.Exec.Command, t.Container), Timeout: timeout, Exec: t.Exec}, nil
	case p.HTTPGet != nil:
		h, err := NewHTTPGet(p.HTTPGet, t.Container, t.PodIP, UserAgent, timeout, dial)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return h, nil
	case p.TCPSocket != nil:
		port, err := ResolvePort(p.TCPSocket.Port, t.Container)
		if err != nil {
			return nil, err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		return &TCPHandler{Addr: net.JoinHostPort(host, strconv.Itoa(port)), Timeout: timeout, Dial: dial}, nil
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		// gRPC probes have no host field: always the pod IP.
		return &GRPCHandler{Addr: net.JoinHostPort(t.PodIP, strconv.Itoa(int(p.GRPC.Port))), Service: service, Timeout: timeout, Dial: dial}, nil
	}
	return nil, errors.New("missing probe handler")
}

// NewHTTPGet builds the GET of an httpGet probe or lifecycle hook as the
// kubelet's request builder does (scheme, port by number or name, path
// with query, headers), to host, or to podIP when the action names no host.
// agent is UserAgent or LifecycleUserAgent; timeout 0 is none.
func NewHTTPGet(g *v1.HTTPGetAction, c *v1.Container, podIP, agent string, timeout time.Duration, dial DialFunc) (*HTTPHandler, error) {
	port, err := ResolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	headers := make(http.Header)
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	return &HTTPHandler{URL: probeURL(scheme, host, port, g.Path), Headers: headers, UserAgent: agent, Timeout: timeout, Dial: dial}, nil
}

// probeURL puts the kubelet's probe URL together: the path is parsed as a
// URL so that a query string works; a path that does not parse is passed
// along as a bare path rather than rejected, since validation let it by.
func probeURL(scheme, host string, port int, path string) *url.URL {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u
}

// ResolvePort turns a probe's port into a number: an integer as is, a name
// by the container's ports[].name, and, as a last resort as in the kubelet,
// a name that is really a number in a string. The number must be 1-65535.
func ResolvePort(port intstr.IntOrString, c *v1.Container) (int, error) {
	var n int
	switch port.Type {
	case intstr.Int:
		n = port.IntValue()
	case intstr.String:
		found := false
		if c != nil {
			for _, p := range c.Ports {
				if p.Name == port.StrVal {
					n, found = int(p.ContainerPort), true
					break
				}
			}
		}
		if !found {
			var err error
			if n, err = strconv.Atoi(port.StrVal); err != nil {
				// The kubelet reports the number parse error, which is
				// what users see in the "errored" event.
				return 0, err
			}
		}
	default:
		return 0, fmt.Errorf("intOrString had no kind: %+v", port)
	}
	if n <= 0 || n > 65535 {
		return n, fmt.Errorf("invalid port number: %v", n)
	}
	return n, nil
}

// ExpandCommand expands $(VAR) in an exec probe's command from the
// container's env values only. The kubelet uses just the static values
// (an entry with valueFrom counts as empty; no envFrom, no image env), so a
// probe does not see the same environment as the process.
func ExpandCommand(cmd []string, c *v1.Container) []string {
	env := map[string]string{}
	if c != nil {
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	out := make([]string, len(cmd))
	for i, s := range cmd {
		out[i] = pod.Expand(s, lookup)
	}
	return out
}

// Timing is a probe's schedule and thresholds, with the API defaults filled
// in for fields left zero.
type Timing struct {
	// InitialDelay after the container started before results count.
	InitialDelay time.Duration
	// Period between attempts.
	Period time.Duration
	// Timeout of one attempt.
	Timeout time.Duration
	// SuccessThreshold consecutive successes flip Failure to Success.
	SuccessThreshold int
	// FailureThreshold consecutive failures flip Success to Failure.
	FailureThreshold int
}

// TimingOf reads p's timing, defaulting as the API server does (timeout
// 1 s, period 10 s, thresholds 1 and 3) in case p was not defaulted.
func TimingOf(p *v1.Probe) Timing {
	t := Timing{
		InitialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: int(p.SuccessThreshold),
		FailureThreshold: int(p.FailureThreshold),
	}
	if t.Period <= 0 {
		t.Period = 10 * time.Second
	}
	if t.Timeout <= 0 {
		t.Timeout = time.Second
	}
	if t.SuccessThreshold <= 0 {
		t.SuccessThreshold = 1
	}
	if t.FailureThreshold <= 0 {
		t.FailureThreshold = 3
	}
	if t.InitialDelay < 0 {
		t.InitialDelay = 0
	}
	return t
}

// KillGracePeriod is the grace period, in seconds, for killing a container
// that failed probe p of type t, chosen as the kubelet chooses it: the
// pod's deletionGracePeriodSeconds if the pod is being deleted, else the
// probe's own terminationGracePeriodSeconds (liveness and startup only),
// else the pod's spec.terminationGracePeriodSeconds (30 if unset).
func KillGracePeriod(p *v1.Pod, probe *v1.Probe, t Type) int64 {
	if p.DeletionGracePeriodSeconds != nil {
		return *p.DeletionGracePeriodSeconds
	}
	if probe != nil && t != Readiness && probe.TerminationGracePeriodSeconds != nil {
		return *probe.TerminationGracePeriodSeconds
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return *p.Spec.TerminationGracePeriodSeconds
	}
	return v1.DefaultTerminationGracePeriodSeconds
}
