package netstack

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// HostAlias is one extra line of a pod's /etc/hosts.
type HostAlias struct {
	IP        string
	Hostnames []string
}

// HostsFile is a pod's /etc/hosts as the kubelet writes it
// (managedHostsFileContent): the fixed localhost lines, the pod's own
// address and name (its FQDN first when it has a subdomain), then extra
// lines (podbox's host gateway name, when enabled) and the pod's
// hostAliases.
func HostsFile(podIP, hostname, subdomain, namespace string, extra, aliases []HostAlias) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	if podIP != "" {
		if subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.cluster.local\t%s\n", podIP, hostname, subdomain, namespace, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
		}
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "%s\t%s\n", e.IP, strings.Join(e.Hostnames, "\t"))
	}
	if len(aliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range aliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.String()
}

// HostResolv is what the pod's resolv.conf takes from the host's.
type HostResolv struct {
	Nameservers []string
	Searches    []string
	Options     []string
}

// ParseResolvConf reads the nameserver, search/domain and options lines of
// a resolv.conf.
func ParseResolvConf(r io.Reader) HostResolv {
	var h HostResolv
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			h.Nameservers = append(h.Nameservers, f[1])
		case "search", "domain":
			// The last search or domain line wins, as in the resolver.
			h.Searches = slices.Clone(f[1:])
		case "options":
			h.Options = append(h.Options, f[1:]...)
		}
	}
	return h
}

// ResolvConf is a pod's /etc/resolv.conf as the kubelet builds it from the
// pod's dnsPolicy and dnsConfig. There is no cluster DNS, so ClusterFirst
// falls back to Default as the kubelet does without clusterDNS: the pod's
// nameserver is podbox's DNS forwarder (dnsServer, which relays to the
// host's resolvers), with the host's search domains and options. None uses
// dnsConfig alone. dnsConfig's nameservers and searches are appended and
// its options override same-named ones.
func ResolvConf(policy corev1.DNSPolicy, cfg *corev1.PodDNSConfig, host HostResolv, dnsServer string) string {
	var servers, searches, opts []string
	if policy != corev1.DNSNone {
		if dnsServer != "" {
			servers = []string{dnsServer}
		}
		searches = slices.Clone(host.Searches)
		opts = slices.Clone(host.Options)
	}
	if cfg != nil {
		for _, s := range cfg.Nameservers {
			if !slices.Contains(servers, s) {
				servers = append(servers, s)
			}
		}
		for _, s := range cfg.Searches {
			if !slices.Contains(searches, s) {
				searches = append(searches, s)
			}
		}
		for _, o := range cfg.Options {
			v := o.Name
			if o.Value != nil {
				v += ":" + *o.Value
			}
			opts = slices.DeleteFunc(opts, func(have string) bool {
				name, _, _ := strings.Cut(have, ":")
				return name == o.Name
			})
			opts = append(opts, v)
		}
	}
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.String()
}
