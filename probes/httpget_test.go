package probes

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestHookGetRedirectRule: a lifecycle hook's GET (NewHTTPGet with the
// lifecycle agent, as the supervisor sends it) follows redirects by the
// probes' rule: to the same host name only. A redirect to localhost (a
// server on the host's loopback) is not followed: the 302 is the answer.
func TestHookGetRedirectRule(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	otherURL, _ := url.Parse(other.URL)
	_, otherPort, _ := net.SplitHostPort(otherURL.Host)

	agents := make(chan string, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		agents <- r.UserAgent()
		http.Redirect(w, r, "http://localhost:"+otherPort+"/", http.StatusFound)
	})
	mux.HandleFunc("/near", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/done", http.StatusFound) })
	mux.HandleFunc("/done", func(w http.ResponseWriter, r *http.Request) { agents <- r.UserAgent() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	n, _ := strconv.Atoi(port)

	get := func(path string) int {
		t.Helper()
		g, err := NewHTTPGet(&v1.HTTPGetAction{Path: path, Port: intstr.FromInt32(int32(n))}, &v1.Container{}, host, LifecycleUserAgent, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		status, _, err := g.Get(context.Background())
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return status
	}
	if s := get("/away"); s != http.StatusFound {
		t.Errorf("redirect to another host: status %d, want the 302 itself", s)
	}
	if elsewhere.Load() != 0 {
		t.Errorf("the redirect to localhost was followed")
	}
	if ua := <-agents; ua != "kube-lifecycle/"+KubernetesVersion {
		t.Errorf("User-Agent %q", ua)
	}
	if s := get("/near"); s != http.StatusOK {
		t.Errorf("same-host redirect: status %d, want it followed to 200", s)
	}
	<-agents
}
