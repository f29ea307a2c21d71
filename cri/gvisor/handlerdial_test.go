package gvisor

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// fakeRoutes records where a handlerDialer sent each dial.
type fakeRoutes struct {
	pod, loopback []string
	lookups       []string
}

func (f *fakeRoutes) dialer(hostGateway bool, names map[string][]string) *handlerDialer {
	return &handlerDialer{
		hostGateway: hostGateway,
		lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
			f.lookups = append(f.lookups, host)
			// As resolvers do: case-insensitive, a final dot allowed.
			ss, ok := names[strings.ToLower(strings.TrimSuffix(host, "."))]
			if !ok {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			var out []netip.Addr
			for _, s := range ss {
				out = append(out, netip.MustParseAddr(s))
			}
			return out, nil
		},
		pod: func(_ context.Context, _ string, ap netip.AddrPort) (net.Conn, error) {
			f.pod = append(f.pod, ap.String())
			return nil, errors.New("fake pod dial")
		},
		loopback: func(_ context.Context, _, addr string) (net.Conn, error) {
			f.loopback = append(f.loopback, addr)
			return nil, errors.New("fake loopback dial")
		},
	}
}

// TestHandlerDialRule: no route to the host's loopback (a name, a literal,
// the gateway's name, the unspecified address) unless the host gateway is
// on; everything else goes through the pod network, to the one address
// that was checked.
func TestHandlerDialRule(t *testing.T) {
	names := map[string][]string{
		"localhost":        {"127.0.0.1", "::1"},
		"v6only-loopback":  {"::1"},
		"rebind":           {"93.184.216.34", "127.0.0.1"}, // one loopback answer is enough to refuse
		"example.test":     {"2001:db8::1", "93.184.216.34"},
		"v6only.test":      {"2001:db8::1"},
		"mapped-loopback":  {"::ffff:127.0.0.1"},
		"pod.example.test": {"10.88.0.7"},
	}
	tests := []struct {
		addr        string
		gateway     bool
		pod, loop   string // where it was dialled, if anywhere
		refusedHost string // a loopbackRefusedError naming this host
		errHas      string // another error containing this
	}{
		{addr: "10.88.0.5:8080", pod: "10.88.0.5:8080"},
		{addr: "pod.example.test:80", pod: "10.88.0.7:80"},
		{addr: "example.test:443", pod: "93.184.216.34:443"},
		{addr: "[::ffff:10.88.0.5]:80", pod: "10.88.0.5:80"},
		{addr: "localhost:8080", refusedHost: "localhost"},
		{addr: "LOCALHOST.:8080", refusedHost: "LOCALHOST."},
		{addr: "127.0.0.1:22", refusedHost: "127.0.0.1"},
		{addr: "127.1.2.3:22", refusedHost: "127.1.2.3"},
		{addr: "[::1]:22", refusedHost: "::1"},
		{addr: "0.0.0.0:22", refusedHost: "0.0.0.0"},
		{addr: "[::]:22", refusedHost: "::"},
		{addr: "[::ffff:127.0.0.1]:22", refusedHost: "::ffff:127.0.0.1"},
		{addr: "v6only-loopback:22", refusedHost: "v6only-loopback"},
		{addr: "mapped-loopback:22", refusedHost: "mapped-loopback"},
		{addr: "rebind:22", refusedHost: "rebind"},
		{addr: "host.podbox.internal:5432", refusedHost: "host.podbox.internal"},
		{addr: "v6only.test:80", errHas: "no IPv4 address"},
		{addr: "nowhere.test:80", errHas: "no such host"},
		// With the host gateway, the user has let pods reach the host's
		// loopback: probes and hooks may too.
		{addr: "localhost:8080", gateway: true, loop: "127.0.0.1:8080"},
		{addr: "127.0.0.1:22", gateway: true, loop: "127.0.0.1:22"},
		{addr: "host.podbox.internal:5432", gateway: true, loop: "127.0.0.1:5432"},
		{addr: "10.88.0.5:8080", gateway: true, pod: "10.88.0.5:8080"},
	}
	for _, tc := range tests {
		f := &fakeRoutes{}
		_, err := f.dialer(tc.gateway, names).DialContext(context.Background(), "tcp", tc.addr)
		got := strings.Join(f.pod, ",")
		if got != tc.pod {
			t.Errorf("%s (gateway %v): pod dials %q, want %q", tc.addr, tc.gateway, got, tc.pod)
		}
		if got := strings.Join(f.loopback, ","); got != tc.loop {
			t.Errorf("%s (gateway %v): host loopback dials %q, want %q", tc.addr, tc.gateway, got, tc.loop)
		}
		var refused *loopbackRefusedError
		switch {
		case tc.refusedHost != "":
			if !errors.As(err, &refused) || refused.host != tc.refusedHost {
				t.Errorf("%s: error %v, want the loopback refused for %q", tc.addr, err, tc.refusedHost)
			} else if msg := err.Error(); !strings.Contains(msg, `"`+tc.refusedHost+`"`) || !strings.Contains(msg, "hostGateway: true") || !strings.Contains(msg, EnvHostGateway) {
				t.Errorf("%s: message %q should name the host and how to turn the host gateway on", tc.addr, msg)
			}
		case tc.errHas != "":
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%s: error %v, want one containing %q", tc.addr, err, tc.errHas)
			}
		}
	}
}

// TestHandlerDialResolvesOnce: a name is looked up once and literals never.
func TestHandlerDialResolvesOnce(t *testing.T) {
	f := &fakeRoutes{}
	d := f.dialer(false, map[string][]string{"svc.test": {"10.88.0.9"}})
	_, _ = d.DialContext(context.Background(), "tcp", "svc.test:80")
	_, _ = d.DialContext(context.Background(), "tcp", "10.88.0.9:80")
	if strings.Join(f.lookups, ",") != "svc.test" {
		t.Errorf("lookups %q", f.lookups)
	}
}
