//go:build integration

package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"podbox.dev/podbox/pki"
	"podbox.dev/podbox/pki/pkitest"
)

// kubeconfig runs `podbox kubeconfig` and returns the kubeconfig it prints.
func (e *env) kubeconfig(t *testing.T) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.Load([]byte(e.ok(t, "kubeconfig")))
	if err != nil {
		t.Fatalf("podbox kubeconfig printed no kubeconfig: %v", err)
	}
	return cfg
}

// restConfig is client-go's configuration from a podbox kubeconfig.
func restConfig(t *testing.T, cfg *clientcmdapi.Config) *rest.Config {
	t.Helper()
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestHTTPSClientGo: client-go with the credentials of `podbox kubeconfig`
// creates and lists pods over HTTPS, and podbox's CLI sees the same pods.
func TestHTTPSClientGo(t *testing.T) {
	t.Parallel()
	e := shared
	cfg := e.kubeconfig(t)
	if cfg.CurrentContext != "podbox" || cfg.Contexts["podbox"] == nil || cfg.Contexts["podbox"].Cluster != "podbox" || cfg.Contexts["podbox"].AuthInfo != "podbox" {
		t.Errorf("kubeconfig contexts %v, current %q", cfg.Contexts, cfg.CurrentContext)
	}
	if s := cfg.Clusters["podbox"].Server; !regexp.MustCompile(`^https://127\.0\.0\.1:\d+$`).MatchString(s) {
		t.Errorf("server %q", s)
	}
	rc := restConfig(t, cfg)
	// client-go's typed clients send protobuf bodies by default, which
	// podbox's API server does not decode yet (issue 15, requirement 8);
	// JSON is what kubectl sends.
	rc.ContentType = "application/json"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "over-https"
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers:                    []corev1.Container{{Name: "main", Image: busyboxRef, Command: []string{"sleep", "100000"}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create over HTTPS: %v", err)
	}
	t.Cleanup(func() { e.run(t, nil, "delete", "pod", "web", "-n", ns, "--grace-period=1") })
	list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list over HTTPS: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "web" {
		t.Errorf("pods over HTTPS: %v", list.Items)
	}
	if out := e.ok(t, "get", "pods", "-n", ns, "-o", "name"); strings.TrimSpace(out) != "pod/web" {
		t.Errorf("podbox get pods after a create over HTTPS: %q", out)
	}
}

// TestHTTPSRefusesStrangers: without a client certificate, or with one of
// another CA (another user's podbox), the answer is 401 with a Status and
// no pods; a client that trusts another CA refuses the server.
func TestHTTPSRefusesStrangers(t *testing.T) {
	t.Parallel()
	e := shared
	cfg := e.kubeconfig(t)
	server := cfg.Clusters["podbox"].Server
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cfg.Clusters["podbox"].CertificateAuthorityData)
	other := pkitest.Client(t, "someone-else")
	otherPair, err := tls.X509KeyPair(other.Cert, other.Key)
	if err != nil {
		t.Fatal(err)
	}
	for name, certs := range map[string][]tls.Certificate{
		"no certificate":             nil,
		"another user's certificate": {otherPair},
	} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		resp, err := c.Get(server + "/api/v1/pods")
		if err != nil {
			t.Errorf("%s: %v, want a 401 answer", name, err)
			continue
		}
		var st metav1.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusUnauthorized || st.Kind != "Status" || st.Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("%s: %d %+v (%v), want 401 and an Unauthorized Status", name, resp.StatusCode, st, err)
		}
	}

	// A kubeconfig with another CA: the server is not the one it trusts.
	wrongCA := cfg.DeepCopy()
	wrongCA.Clusters["podbox"].CertificateAuthorityData = other.CA
	cs, err := kubernetes.NewForConfig(restConfig(t, wrongCA))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("client trusting another CA: %v, want a certificate verification failure", err)
	}
}

// TestHTTPSKeptAcrossRestarts: the port and the credentials stay the same
// after `podbox daemon stop` and the next start, so an exported kubeconfig
// keeps working; files are private. When another program holds the port,
// the daemon log says so, podbox's own commands still work, and `podbox
// kubeconfig` warns.
func TestHTTPSKeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	e := privateEnv(t, false)
	t.Cleanup(func() { e.run(t, nil, "daemon", "stop") })
	first := e.ok(t, "kubeconfig") // starts the daemon in the background
	dir := filepath.Join(e.data, "podbox", "https")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want mode 0700", dir, fi.Mode(), err)
	}
	for _, f := range []string{pki.CAKey, pki.ServerKey, pki.ClientKey} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}

	e.ok(t, "daemon", "stop")
	if second := e.ok(t, "kubeconfig"); second != first {
		t.Errorf("the kubeconfig changed across a restart:\n%s\nthen\n%s", first, second)
	}
	cfg, err := clientcmd.Load([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(restConfig(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Errorf("the kubeconfig of before the restart: %v", err)
	}

	// Another program takes the port while podbox is stopped.
	e.ok(t, "daemon", "stop")
	addr := strings.TrimPrefix(cfg.Clusters["podbox"].Server, "https://")
	squatter, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("take podbox's port: %v", err)
	}
	defer squatter.Close()
	go func() { // accept and hang up, as a program speaking another protocol might
		for {
			c, err := squatter.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	e.ok(t, "get", "pods")
	r := e.run(t, nil, "kubeconfig")
	if r.code != 0 || r.stdout != first || !strings.Contains(r.stderr, "Warning: podbox does not answer on "+cfg.Clusters["podbox"].Server) {
		t.Errorf("kubeconfig with the port taken: %+v", r)
	}
	log, _ := os.ReadFile(filepath.Join(e.data, "podbox", "daemon.log"))
	if !bytes.Contains(log, []byte("is taken by another program")) {
		t.Errorf("the daemon log does not say the port is taken:\n%s", log)
	}
}

// TestHTTPSKubeconfigMerge: --merge adds podbox to the first file of
// $KUBECONFIG, keeping the context there and the current context; kubectl
// then reaches podbox with --context podbox.
func TestHTTPSKubeconfigMerge(t *testing.T) {
	t.Parallel()
	e := shared
	dir := t.TempDir()
	first, second := filepath.Join(dir, "config"), filepath.Join(dir, "second")
	const work = `apiVersion: v1
kind: Config
clusters:
- {name: work, cluster: {server: "https://work.example:6443"}}
users:
- {name: me, user: {token: t0ken}}
contexts:
- {name: work, context: {cluster: work, user: me, namespace: team}}
current-context: work
`
	if err := os.WriteFile(first, []byte(work), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(e.bin, "podbox"), "kubeconfig", "--merge")
	cmd.Env = append(e.environ(), "KUBECONFIG="+first+string(os.PathListSeparator)+second)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubeconfig --merge: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `Context "podbox" added to `+first) {
		t.Errorf("kubeconfig --merge says:\n%s", out)
	}
	cfg, err := clientcmd.LoadFromFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "work" || cfg.Contexts["work"] == nil || cfg.Contexts["work"].Namespace != "team" || cfg.AuthInfos["me"] == nil || cfg.AuthInfos["me"].Token != "t0ken" {
		t.Errorf("the merged file lost the work context: %+v", cfg)
	}
	if fi, _ := os.Stat(first); fi.Mode().Perm() != 0o600 {
		t.Errorf("merged kubeconfig mode %v, want 0600", fi.Mode())
	}
	if _, err := os.Stat(second); err == nil {
		t.Errorf("--merge wrote the second file of KUBECONFIG")
	}
	k := kubectl(t, e, "--kubeconfig", first, "--context", "podbox", "get", "--raw", "/version")
	if k.code != 0 || !strings.Contains(k.stdout, `"gitVersion":"v1.`) {
		t.Errorf("kubectl --context podbox get --raw /version: %+v", k)
	}
}

// TestHTTPSKubectlVersion: an unmodified kubectl, with the kubeconfig
// podbox prints, shows podbox's server version (`kubectl version` needs
// /version only; it rejects a gitVersion that is not semver).
func TestHTTPSKubectlVersion(t *testing.T) {
	t.Parallel()
	e := shared
	kc := filepath.Join(t.TempDir(), "podbox.yaml")
	if err := os.WriteFile(kc, []byte(e.ok(t, "kubeconfig")), 0o600); err != nil {
		t.Fatal(err)
	}
	r := kubectl(t, e, "--kubeconfig", kc, "version", "-o", "json")
	if r.code != 0 {
		t.Fatalf("kubectl version: %+v", r)
	}
	var v struct {
		ClientVersion, ServerVersion *struct{ Major, Minor, GitVersion, Platform string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.ServerVersion == nil {
		t.Fatalf("kubectl version -o json: %v\n%s", err, r.stdout)
	}
	sv := v.ServerVersion
	if !strings.HasPrefix(sv.GitVersion, v.ClientVersion.GitVersion+"+podbox") || sv.Major != "1" || sv.Minor != v.ClientVersion.Minor || sv.Platform == "" {
		t.Errorf("server version %+v, client %+v", sv, v.ClientVersion)
	}
	if r.stderr != "" {
		t.Errorf("kubectl version warns: %s", r.stderr)
	}
}

var (
	kubectlOnce sync.Once
	kubectlPath string
	kubectlErr  error
)

// kubectl runs the unmodified kubectl of testdata/kubectl (built once per
// run) with e's environment.
func kubectl(t *testing.T, e *env, args ...string) result {
	t.Helper()
	kubectlOnce.Do(func() { kubectlPath, kubectlErr = buildKubectl(filepath.Dir(shared.runtime)) })
	if kubectlErr != nil {
		t.Fatal(kubectlErr)
	}
	return e.runTool(t, kubectlPath, time.Minute, nil, args...)
}

// buildKubectl builds testdata/kubectl into dir, after checking that its
// kubectl is the release of podbox's client-go. The version variables are
// set as Kubernetes' release build sets them (hack/lib/version.sh,
// kube::version::ldflags): without them kubectl's own version is
// "v0.0.0-master+$Format:%H$", which `kubectl version` itself rejects.
func buildKubectl(dir string) (string, error) {
	clientGo, err := moduleVersion("../go.mod", "k8s.io/client-go")
	if err != nil {
		return "", err
	}
	kubectl, err := moduleVersion("../testdata/kubectl/go.mod", "k8s.io/kubectl")
	if err != nil {
		return "", err
	}
	if kubectl != clientGo {
		return "", errors.New("testdata/kubectl/go.mod has k8s.io/kubectl " + kubectl + ", podbox's go.mod k8s.io/client-go " + clientGo + ": they must be the same release")
	}
	minor := strconv.Itoa(int(utilversion.MustParseSemantic(clientGo).Minor()))
	gitVersion := "v1." + strings.TrimPrefix(clientGo, "v0.")
	var ldflags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ldflags = append(ldflags, "-X", pkg+".gitVersion="+gitVersion, "-X", pkg+".gitMajor=1", "-X", pkg+".gitMinor="+minor)
	}
	out := filepath.Join(dir, "kubectl")
	cmd := exec.Command("go", "build", "-ldflags", strings.Join(ldflags, " "), "-o", out, ".")
	cmd.Dir = "../testdata/kubectl"
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("build kubectl: " + err.Error() + "\n" + string(b))
	}
	return out, nil
}

// moduleVersion is the version of module required in the go.mod at path.
func moduleVersion(path, module string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(b)
	if m == nil {
		return "", errors.New(path + " does not require " + module)
	}
	return string(m[1]), nil
}

// TestHTTPSKubectlGetTable: an unmodified kubectl get prints kubectl's pod
// columns from podbox's server-side Table, as podbox's own get does.
func TestHTTPSKubectlGetTable(t *testing.T) {
	t.Parallel()
	e := shared
	kc := filepath.Join(t.TempDir(), "podbox.yaml")
	if err := os.WriteFile(kc, []byte(e.ok(t, "kubeconfig")), 0o600); err != nil {
		t.Fatal(err)
	}
	startShellPod(t, e, "kubectl-table")
	r := kubectl(t, e, "--kubeconfig", kc, "get", "pod", "kubectl-table", "-o", "wide")
	if r.code != 0 {
		t.Fatalf("kubectl get: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES" {
		t.Fatalf("kubectl get -o wide:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != "kubectl-table" || f[1] != "1/1" || f[2] != "Running" || f[3] != "0" {
		t.Errorf("kubectl get row: %q", lines[1])
	}
	ours := strings.Fields(strings.Split(e.ok(t, "get", "pod", "kubectl-table", "-o", "wide"), "\n")[1])
	if f := strings.Fields(lines[1]); strings.Join(f[:4], " ") != strings.Join(ours[:4], " ") || f[5] != ours[5] {
		t.Errorf("kubectl %q and podbox %q disagree", f, ours)
	}
}
