package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestExecHandler(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 20*1024)
	never := make(chan struct{})
	defer close(never) // release the abandoned exec goroutine
	tests := []struct {
		name    string
		exec    ExecFunc
		want    Result
		output  string
		wantErr bool
	}{
		{"exit 0", func(context.Context, []string) ([]byte, int, error) { return []byte("fine\n"), 0, nil }, Success, "fine\n", false},
		{"exit 1 keeps output", func(context.Context, []string) ([]byte, int, error) { return []byte("sad\n"), 1, nil }, Failure, "sad\n", false},
		{"output capped at 10 KiB", func(context.Context, []string) ([]byte, int, error) { return big, 2, nil }, Failure, string(big[:10240]), false},
		{"exec machinery fails", func(context.Context, []string) ([]byte, int, error) {
			return nil, -1, errors.New("runsc: no such container")
		}, Unknown, "", true},
		{"timeout, func honours ctx", func(ctx context.Context, _ []string) ([]byte, int, error) {
			<-ctx.Done()
			return nil, -1, ctx.Err()
		}, Failure, `command "sh -c sleep 10" timed out`, false},
		{"timeout, func ignores ctx", func(context.Context, []string) ([]byte, int, error) {
			<-never // does not return in time: the handler must not wait for it
			return nil, 0, nil
		}, Failure, `command "sh -c sleep 10" timed out`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			h := &ExecHandler{Command: []string{"sh", "-c", "sleep 10"}, Timeout: 20 * time.Millisecond,
				Exec: func(ctx context.Context, cmd []string) ([]byte, int, error) { got = cmd; return tc.exec(ctx, cmd) }}
			o := h.Probe(context.Background())
			if o.Result != tc.want || o.Output != tc.output || (o.Err != nil) != tc.wantErr {
				t.Fatalf("got %v %q %v, want %v %q err=%v", o.Result, o.Output, o.Err, tc.want, tc.output, tc.wantErr)
			}
			if tc.name == "exit 0" && strings.Join(got, "|") != "sh|-c|sleep 10" {
				t.Errorf("command %q", got)
			}
		})
	}
}

func TestExpandCommand(t *testing.T) {
	c := &v1.Container{Env: []v1.EnvVar{
		{Name: "PORT", Value: "8080"},
		{Name: "FROM", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}}
	got := ExpandCommand([]string{"check", "$(PORT)", "$(FROM)", "$(NOPE)", "$$(PORT)"}, c)
	want := []string{"check", "8080", "", "$(NOPE)", "$(PORT)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// httpProbe builds a handler for an httpGet probe through NewHandler, the
// way the worker does, with the pod IP pointing at srv.
func httpProbe(t *testing.T, srvURL string, g v1.HTTPGetAction, timeout time.Duration) *HTTPHandler {
	t.Helper()
	u, _ := url.Parse(srvURL)
	host, port, _ := net.SplitHostPort(u.Host)
	if g.Port.Type == intstr.Int && g.Port.IntVal == 0 {
		n, _ := strconv.Atoi(port)
		g.Port = intstr.FromInt32(int32(n))
	}
	h, err := NewHandler(&v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &g}, TimeoutSeconds: 1}, Target{PodIP: host, Container: &v1.Container{}})
	if err != nil {
		t.Fatal(err)
	}
	hh := h.(*HTTPHandler)
	hh.Timeout = timeout
	return hh
}

func TestHTTPHandler(t *testing.T) {
	seen := make(chan *http.Request, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		_, _ = io.WriteString(w, "echo")
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "secret body", 500) })
	mux.HandleFunc("/404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/same-to-500", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/500", http.StatusMovedPermanently) })
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://0.0.0.0/", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(bytes.Repeat([]byte("y"), 20*1024)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.RawQuery) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	tests := []struct {
		name   string
		path   string
		want   Result
		output string // exact, or prefix when it ends in "*"
	}{
		{"200", "/ok", Success, "ok"},
		{"500 leaves the body out", "/500", Failure, "HTTP probe failed with statuscode: 500"},
		{"404", "/404", Failure, "HTTP probe failed with statuscode: 404"},
		{"same-host redirect followed", "/same", Success, "ok"},
		{"same-host redirect to a 500", "/same-to-500", Failure, "HTTP probe failed with statuscode: 500"},
		{"other-host redirect not followed: warning", "/other", Warning, "Probe terminated redirects, Response body: <a href=\"http://0.0.0.0/\">Found</a>.\n\n"},
		// Go names the Location as the server sent it, relative here.
		{"more than 10 redirects", "/loop", Failure, `Get "/loop": stopped after 10 redirects`},
		{"3xx final", "/304", Warning, "Probe terminated redirects, Response body: "},
		{"body capped", "/big", Success, strings.Repeat("y", 10240)},
		{"query string", "/query?a=1&b=2", Success, "a=1&b=2"},
		{"timeout", "/slow", Failure, fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", srv.URL+"/slow")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := httpProbe(t, srv.URL, v1.HTTPGetAction{Path: tc.path, Scheme: v1.URISchemeHTTP}, 200*time.Millisecond)
			o := h.Probe(context.Background())
			if o.Err != nil || o.Result != tc.want || o.Output != tc.output {
				t.Fatalf("got %v %q err=%v, want %v %q", o.Result, o.Output, o.Err, tc.want, tc.output)
			}
		})
	}

	t.Run("default headers", func(t *testing.T) {
		o := httpProbe(t, srv.URL, v1.HTTPGetAction{Path: "/echo"}, time.Second).Probe(context.Background())
		r := <-seen
		if o.Result != Success || r.UserAgent() != "kube-probe/1.37" || r.Header.Get("Accept") != "*/*" || r.Host != u.Host || r.Method != "GET" {
			t.Fatalf("result %v, UA %q, Accept %q, Host %q", o.Result, r.UserAgent(), r.Header.Get("Accept"), r.Host)
		}
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("compression requested: %q", r.Header.Get("Accept-Encoding"))
		}
	})
	t.Run("user headers, Host override, empty Accept removed", func(t *testing.T) {
		o := httpProbe(t, srv.URL, v1.HTTPGetAction{Path: "/echo", HTTPHeaders: []v1.HTTPHeader{
			{Name: "x-custom", Value: "a"}, {Name: "X-Custom", Value: "b"},
			{Name: "Host", Value: "app.example"}, {Name: "Accept", Value: ""}, {Name: "User-Agent", Value: "mine"},
		}}, time.Second).Probe(context.Background())
		r := <-seen
		if o.Result != Success || r.Host != "app.example" || strings.Join(r.Header.Values("X-Custom"), ",") != "a,b" ||
			r.UserAgent() != "mine" {
			t.Fatalf("result %v, Host %q, X-Custom %q, UA %q", o.Result, r.Host, r.Header.Values("X-Custom"), r.UserAgent())
		}
		if _, ok := r.Header["Accept"]; ok {
			t.Errorf("Accept sent: %q", r.Header.Get("Accept"))
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		addr := closedAddr(t)
		h := &HTTPHandler{URL: &url.URL{Scheme: "http", Host: addr, Path: "/healthz"}, Timeout: time.Second}
		o := h.Probe(context.Background())
		want := fmt.Sprintf("Get \"http://%s/healthz\": dial tcp %s: connect: connection refused", addr, addr)
		if o.Result != Failure || o.Output != want || o.Err != nil {
			t.Fatalf("got %v %q %v, want %q", o.Result, o.Output, o.Err, want)
		}
	})
	t.Run("injected dialer reaches the pod IP", func(t *testing.T) {
		var dialed string
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = addr
			return (&net.Dialer{}).DialContext(ctx, network, u.Host)
		}
		h, err := NewHandler(&v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/echo", Port: intstr.FromString("web")}}},
			Target{PodIP: "10.88.0.5", Dial: dial, Container: &v1.Container{Ports: []v1.ContainerPort{{Name: "web", ContainerPort: 8080}}}})
		if err != nil {
			t.Fatal(err)
		}
		o := h.Probe(context.Background())
		r := <-seen
		if o.Result != Success || dialed != "10.88.0.5:8080" || r.Host != "10.88.0.5:8080" {
			t.Fatalf("result %v %q, dialed %q, Host %q", o.Result, o.Output, dialed, r.Host)
		}
	})
	t.Run("HTTPS without verification", func(t *testing.T) {
		tls := httptest.NewTLSServer(mux)
		defer tls.Close()
		o := httpProbe(t, tls.URL, v1.HTTPGetAction{Path: "/ok", Scheme: v1.URISchemeHTTPS}, time.Second).Probe(context.Background())
		if o.Result != Success || o.Output != "ok" {
			t.Fatalf("got %v %q", o.Result, o.Output)
		}
	})
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestTCPHandler(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close() // closing at once still counts as up
		}
	}()
	closed := closedAddr(t)
	blocking := func(ctx context.Context, _, _ string) (net.Conn, error) { <-ctx.Done(); return nil, ctx.Err() }
	tests := []struct {
		name   string
		h      TCPHandler
		want   Result
		output string
	}{
		{"listening", TCPHandler{Addr: l.Addr().String(), Timeout: time.Second}, Success, ""},
		{"refused", TCPHandler{Addr: closed, Timeout: time.Second}, Failure, "dial tcp " + closed + ": connect: connection refused"},
		{"timeout", TCPHandler{Addr: "10.88.0.5:80", Timeout: 20 * time.Millisecond, Dial: blocking}, Failure, "context deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.h.Probe(context.Background())
			if o.Result != tc.want || o.Output != tc.output || o.Err != nil {
				t.Fatalf("got %v %q %v, want %v %q", o.Result, o.Output, o.Err, tc.want, tc.output)
			}
		})
	}
	t.Run("NewHandler: host defaults to pod IP, dialer injected", func(t *testing.T) {
		var dialed string
		h, err := NewHandler(&v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(80)}}},
			Target{PodIP: "10.88.0.5", Dial: func(ctx context.Context, n, a string) (net.Conn, error) {
				dialed = a
				return net.Dial("tcp", l.Addr().String())
			}})
		if err != nil {
			t.Fatal(err)
		}
		if o := h.Probe(context.Background()); o.Result != Success || dialed != "10.88.0.5:80" {
			t.Fatalf("got %v, dialed %q", o.Result, dialed)
		}
	})
}

func TestGRPCHandler(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noHealth := grpc.NewServer()
	go func() { _ = noHealth.Serve(bare) }()
	defer noHealth.Stop()

	addr := l.Addr().String()
	closed := closedAddr(t)
	tests := []struct {
		name    string
		addr    string
		service string
		want    Result
		output  string
	}{
		{"serving", addr, "", Success, "service healthy"},
		{"not serving", addr, "down", Failure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", addr, "nope", Failure, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{"no health service", bare.Addr().String(), "", Failure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{"nothing listening", closed, "", Failure, fmt.Sprintf("timeout: failed to connect service %q within 200ms: context deadline exceeded", closed)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &GRPCHandler{Addr: tc.addr, Service: tc.service, Timeout: 200 * time.Millisecond}
			o := h.Probe(context.Background())
			if o.Result != tc.want || o.Output != tc.output || o.Err != nil {
				t.Fatalf("got %v %q %v, want %v %q", o.Result, o.Output, o.Err, tc.want, tc.output)
			}
		})
	}
	t.Run("NewHandler: pod IP, service, dialer", func(t *testing.T) {
		var dialed string
		svc := "down"
		h, err := NewHandler(&v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 9000, Service: &svc}}},
			Target{PodIP: "10.88.0.5", Dial: func(ctx context.Context, n, a string) (net.Conn, error) {
				dialed = a
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			}})
		if err != nil {
			t.Fatal(err)
		}
		o := h.Probe(context.Background())
		if o.Result != Failure || dialed != "10.88.0.5:9000" || !strings.Contains(o.Output, "NOT_SERVING") {
			t.Fatalf("got %v %q, dialed %q", o.Result, o.Output, dialed)
		}
	})
}

func TestResolvePort(t *testing.T) {
	c := &v1.Container{Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "zero", ContainerPort: 0}}}
	tests := []struct {
		port intstr.IntOrString
		want int
		err  string
	}{
		{intstr.FromInt32(80), 80, ""},
		{intstr.FromString("http"), 8080, ""},
		{intstr.FromString("9090"), 9090, ""},
		{intstr.FromString("web"), 0, `strconv.Atoi: parsing "web": invalid syntax`},
		{intstr.FromInt32(0), 0, "invalid port number: 0"},
		{intstr.FromInt32(70000), 0, "invalid port number: 70000"},
		{intstr.FromString("zero"), 0, "invalid port number: 0"},
	}
	for _, tc := range tests {
		got, err := ResolvePort(tc.port, c)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v: err %v, want %q", tc.port.String(), err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: got %d %v, want %d", tc.port.String(), got, err, tc.want)
		}
	}
}

func TestNewHandler(t *testing.T) {
	if _, err := NewHandler(&v1.Probe{}, Target{}); err == nil {
		t.Error("no handler accepted")
	}
	if _, err := NewHandler(&v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{}}}, Target{}); err == nil {
		t.Error("exec probe without an exec function accepted")
	}
	h, err := NewHandler(&v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"echo", "$(A)"}}}, TimeoutSeconds: 7},
		Target{Container: &v1.Container{Env: []v1.EnvVar{{Name: "A", Value: "b"}}}, Exec: func(context.Context, []string) ([]byte, int, error) { return nil, 0, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if e := h.(*ExecHandler); e.Timeout != 7*time.Second || strings.Join(e.Command, " ") != "echo b" {
		t.Errorf("exec handler %+v", e)
	}
	h, err = NewHandler(&v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Host: "example.test", Port: intstr.FromInt32(443), Scheme: "HTTPS", Path: "/h?x=1"}}},
		Target{PodIP: "10.88.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if hh := h.(*HTTPHandler); hh.URL.String() != "https://example.test:443/h?x=1" || hh.Timeout != time.Second {
		t.Errorf("http handler %v %v", hh.URL, hh.Timeout)
	}
}

func TestTimingAndGrace(t *testing.T) {
	if got := TimingOf(&v1.Probe{}); got != (Timing{Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}) {
		t.Errorf("defaults %+v", got)
	}
	i := func(n int64) *int64 { return &n }
	p := &v1.Pod{}
	probe := &v1.Probe{TerminationGracePeriodSeconds: i(5)}
	if g := KillGracePeriod(p, nil, Liveness); g != 30 {
		t.Errorf("default grace %d", g)
	}
	if g := KillGracePeriod(p, probe, Liveness); g != 5 {
		t.Errorf("probe grace %d", g)
	}
	if g := KillGracePeriod(p, probe, Readiness); g != 30 {
		t.Errorf("readiness grace %d", g)
	}
	p.Spec.TerminationGracePeriodSeconds = i(60)
	if g := KillGracePeriod(p, &v1.Probe{}, Startup); g != 60 {
		t.Errorf("spec grace %d", g)
	}
	p.DeletionGracePeriodSeconds = i(1)
	if g := KillGracePeriod(p, probe, Liveness); g != 1 {
		t.Errorf("deletion grace %d", g)
	}
	if m := KillMessage("web", Liveness, true); m != "Container web failed liveness probe, will be restarted" {
		t.Error(m)
	}
	if m := KillMessage("web", Startup, false); m != "Container web failed startup probe" {
		t.Error(m)
	}
}
