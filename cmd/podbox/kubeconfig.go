package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"podbox.dev/podbox/daemon"
	"podbox.dev/podbox/dirs"
	"podbox.dev/podbox/pki"
)

// kubeconfigName names the cluster, the user and the context of podbox in
// a kubeconfig.
const kubeconfigName = "podbox"

func kubeconfigCommand() *cli.Command {
	return &cli.Command{
		Name:      "kubeconfig",
		Usage:     "print a kubeconfig for kubectl and other Kubernetes clients",
		UsageText: "podbox kubeconfig [--merge]",
		Description: "Print a kubeconfig that lets kubectl and other Kubernetes clients reach podbox at\n" +
			"https://127.0.0.1:PORT (a port of your own, kept across restarts), with podbox's\n" +
			"certificate authority and your client certificate and key embedded. Its cluster,\n" +
			"user and context are all named \"podbox\", and its current context is \"podbox\".\n" +
			"The supervisor is started if it is not running.\n\n" +
			"With --merge, the podbox cluster, user and context are added to, or updated in,\n" +
			"your kubeconfig file instead: the first existing file of $KUBECONFIG (its first\n" +
			"file if none exists) or ~/.kube/config, the file kubectl's config commands write.\n" +
			"Every other cluster, user, context and preference is kept; the current context is\n" +
			"set to \"podbox\" only if the file had none. The file is replaced atomically, mode 0600.\n\n" +
			"The kubeconfig holds your private key: whoever has it controls your pods.\n\n" +
			"Examples:\n" +
			"  # Use podbox through a kubeconfig file of its own\n" +
			"  podbox kubeconfig > ~/.kube/podbox.yaml\n" +
			"  KUBECONFIG=~/.kube/podbox.yaml kubectl version\n\n" +
			"  # Add podbox to ~/.kube/config and switch to it\n" +
			"  podbox kubeconfig --merge\n" +
			"  kubectl config use-context podbox",
		Flags: []cli.Flag{&cli.BoolFlag{
			Name:  "merge",
			Usage: "add podbox to $KUBECONFIG or ~/.kube/config, keeping everything else, instead of printing it",
		}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unexpected arguments: %s", strings.Join(c.Args().Slice(), " "))
			}
			d, err := dirs.FromEnv()
			if err != nil {
				return err
			}
			if err := daemon.Ensure(c.Context, d); err != nil {
				return err
			}
			cfg, err := podboxKubeconfig(d)
			if err != nil {
				return err
			}
			if err := checkEndpoint(cfg); err != nil {
				fmt.Fprintf(c.App.ErrWriter, "Warning: %v; the supervisor's log says why (%s when it runs in the background)\n", err, d.DaemonLog())
			}
			if !c.Bool("merge") {
				out, err := clientcmd.Write(*cfg)
				if err != nil {
					return err
				}
				_, err = c.App.Writer.Write(out)
				return err
			}
			return mergeKubeconfigFile(clientcmd.NewDefaultClientConfigLoadingRules().GetDefaultFilename(), cfg, c.App.Writer)
		},
	}
}

// podboxKubeconfig is the kubeconfig of the user's HTTPS endpoint, from the
// port and credentials the supervisor keeps under d.HTTPS().
func podboxKubeconfig(d dirs.Dirs) (*clientcmdapi.Config, error) {
	port, err := daemon.HTTPSPort(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the podbox supervisor serves no HTTPS endpoint (%s is missing): it may be older than `podbox kubeconfig`; "+
			"restart it with `podbox daemon stop`, or see its log (%s when it runs in the background)", d.HTTPSPort(), d.DaemonLog())
	}
	if err != nil {
		return nil, err
	}
	cred, err := pki.ReadClient(d.HTTPS())
	if err != nil {
		return nil, fmt.Errorf("podbox's client certificate: %w", err)
	}
	return newKubeconfig(daemon.HTTPSURL(port), cred), nil
}

// newKubeconfig is a kubeconfig whose cluster, user and (current) context
// are named podbox.
func newKubeconfig(server string, cred pki.Client) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cred.CA}
	cfg.AuthInfos[kubeconfigName] = &clientcmdapi.AuthInfo{ClientCertificateData: cred.Cert, ClientKeyData: cred.Key}
	cfg.Contexts[kubeconfigName] = &clientcmdapi.Context{Cluster: kubeconfigName, AuthInfo: kubeconfigName}
	cfg.CurrentContext = kubeconfigName
	return cfg
}

// checkEndpoint makes a TLS handshake with the endpoint of cfg, proving that
// podbox answers on its port (which another program could hold).
func checkEndpoint(cfg *clientcmdapi.Config) error {
	cluster, user := cfg.Clusters[kubeconfigName], cfg.AuthInfos[kubeconfigName]
	pair, err := tls.X509KeyPair(user.ClientCertificateData, user.ClientKeyData)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cluster.CertificateAuthorityData)
	addr := strings.TrimPrefix(cluster.Server, "https://")
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return fmt.Errorf("podbox does not answer on %s: %w", cluster.Server, err)
	}
	return conn.Close()
}

// mergeKubeconfigFile adds or updates podbox's entries in the kubeconfig
// file at path (created if missing) and says what it did on w.
func mergeKubeconfigFile(path string, podbox *clientcmdapi.Config, w io.Writer) error {
	// Through a symbolic link (a ~/.kube/config kept with dotfiles), the
	// file it points to is replaced, not the link, as kubectl writes it.
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	updated, switched := mergeKubeconfig(cfg, podbox)
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := dirs.WriteFile(path, out, 0o600); err != nil {
		return err
	}
	verb := "added to"
	if updated {
		verb = "updated in"
	}
	fmt.Fprintf(w, "Context %q %s %s.\n", kubeconfigName, verb, path)
	if switched {
		fmt.Fprintf(w, "Switched to context %q.\n", kubeconfigName)
	} else if cfg.CurrentContext != kubeconfigName {
		fmt.Fprintf(w, "The current context is still %q; switch with: kubectl config use-context %s\n", cfg.CurrentContext, kubeconfigName)
	}
	return nil
}

// mergeKubeconfig puts podbox's cluster, user and context into cfg,
// replacing entries of the same names and keeping all others, and makes
// podbox the current context if cfg had none. It reports whether podbox's
// context was there already and whether the current context was set.
func mergeKubeconfig(cfg, podbox *clientcmdapi.Config) (updated, switched bool) {
	_, updated = cfg.Contexts[kubeconfigName]
	cfg.Clusters[kubeconfigName] = podbox.Clusters[kubeconfigName]
	cfg.AuthInfos[kubeconfigName] = podbox.AuthInfos[kubeconfigName]
	cfg.Contexts[kubeconfigName] = podbox.Contexts[kubeconfigName]
	if cfg.CurrentContext == "" {
		cfg.CurrentContext = kubeconfigName
		switched = true
	}
	return updated, switched
}
