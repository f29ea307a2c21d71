package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"podbox.dev/podbox/pki"
)

var testCred = pki.Client{CA: []byte("ca"), Cert: []byte("cert"), Key: []byte("key")}

// otherKubeconfig is a user's kubeconfig with a cluster of their own.
const otherKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: work
  cluster:
    server: https://work.example:6443
    certificate-authority: work-ca.crt
users:
- name: me
  user:
    token: secret-token
contexts:
- name: work
  context:
    cluster: work
    user: me
    namespace: team
current-context: work
preferences:
  colors: true
`

func TestNewKubeconfigIsUsable(t *testing.T) {
	out, err := clientcmd.Write(*newKubeconfig("https://127.0.0.1:40000", testCred))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "podbox" {
		t.Errorf("current-context %q", cfg.CurrentContext)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != "https://127.0.0.1:40000" || string(rc.CAData) != "ca" || string(rc.CertData) != "cert" || string(rc.KeyData) != "key" {
		t.Errorf("client config from the kubeconfig: host %q CA %q cert %q key %q", rc.Host, rc.CAData, rc.CertData, rc.KeyData)
	}
}

func TestMergeKeepsOtherContexts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(otherKubeconfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := mergeKubeconfigFile(path, newKubeconfig("https://127.0.0.1:40000", testCred), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `Context "podbox" added to `+path) || !strings.Contains(out.String(), `current context is still "work"`) {
		t.Errorf("merge says:\n%s", out.String())
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "work" {
		t.Errorf("current-context changed to %q", cfg.CurrentContext)
	}
	if c := cfg.Contexts["work"]; c == nil || c.Cluster != "work" || c.AuthInfo != "me" || c.Namespace != "team" {
		t.Errorf("context work after merge: %+v", c)
	}
	if c := cfg.Clusters["work"]; c == nil || c.Server != "https://work.example:6443" || c.CertificateAuthority != "work-ca.crt" {
		t.Errorf("cluster work after merge: %+v", c)
	}
	if u := cfg.AuthInfos["me"]; u == nil || u.Token != "secret-token" {
		t.Errorf("user me after merge: %+v", u)
	}
	if !cfg.Preferences.Colors {
		t.Error("preferences lost")
	}
	if c := cfg.Clusters["podbox"]; c == nil || c.Server != "https://127.0.0.1:40000" {
		t.Errorf("cluster podbox after merge: %+v", c)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600", fi.Mode())
	}

	// Again, with new credentials: podbox's entries are replaced.
	out.Reset()
	newer := pki.Client{CA: []byte("ca2"), Cert: []byte("cert2"), Key: []byte("key2")}
	if err := mergeKubeconfigFile(path, newKubeconfig("https://127.0.0.1:40001", newer), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `Context "podbox" updated in `+path) {
		t.Errorf("second merge says:\n%s", out.String())
	}
	cfg, err = clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Contexts) != 2 || len(cfg.Clusters) != 2 || len(cfg.AuthInfos) != 2 {
		t.Errorf("after two merges: %d contexts, %d clusters, %d users, want 2 of each", len(cfg.Contexts), len(cfg.Clusters), len(cfg.AuthInfos))
	}
	if c, u := cfg.Clusters["podbox"], cfg.AuthInfos["podbox"]; c.Server != "https://127.0.0.1:40001" || string(c.CertificateAuthorityData) != "ca2" || string(u.ClientKeyData) != "key2" {
		t.Errorf("podbox after the second merge: %+v %+v", c, u)
	}
}

func TestMergeIntoMissingOrEmptyFile(t *testing.T) {
	dir := t.TempDir()
	for name, setup := range map[string]func(path string){
		"missing": func(string) {},
		"empty":   func(path string) { os.WriteFile(path, nil, 0o600) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name, ".kube", "config")
			os.MkdirAll(filepath.Dir(path), 0o700)
			setup(path)
			var out strings.Builder
			if err := mergeKubeconfigFile(path, newKubeconfig("https://127.0.0.1:40000", testCred), &out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), `Switched to context "podbox".`) {
				t.Errorf("merge says:\n%s", out.String())
			}
			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CurrentContext != "podbox" || len(cfg.Contexts) != 1 {
				t.Errorf("merged into a %s file: current %q, contexts %v", name, cfg.CurrentContext, cfg.Contexts)
			}
		})
	}
}

// TestMergeThroughSymlink: a kubeconfig that is a symbolic link (kept with
// dotfiles) is updated where it points; the link stays.
func TestMergeThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "dotfiles-kubeconfig"), filepath.Join(dir, "config")
	if err := os.WriteFile(target, []byte(otherKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := mergeKubeconfigFile(link, newKubeconfig("https://127.0.0.1:40000", testCred), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symbolic link was replaced: %v %v", fi.Mode(), err)
	}
	cfg, err := clientcmd.LoadFromFile(target)
	if err != nil || cfg.Contexts["podbox"] == nil || cfg.Contexts["work"] == nil {
		t.Errorf("the link's target after merge: %v %v", cfg, err)
	}
}

func TestMergeRefusesABrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	broken := []byte("clusters: [this is not\n")
	if err := os.WriteFile(path, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	err := mergeKubeconfigFile(path, newKubeconfig("https://127.0.0.1:40000", testCred), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("merge into a broken file: %v, want an error naming it", err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(broken) {
		t.Errorf("the broken file was changed to:\n%s", b)
	}
}
