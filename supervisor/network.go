package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"podbox.dev/podbox/netstack"
	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/probes"
)

// This file is the supervisor's side of pod networking: the per-user pod
// network opened with the supervisor, and each pod's place in it (its
// address, veth, host ports and the network files of its containers).

// podNetwork is the supervisor's pod network state.
type podNetwork struct {
	// net is nil when the pod network could not be built (openErr says
	// why): pods then get loopback only, as before podbox had a network.
	net     *netstack.Network
	openErr error
	cfg     netstack.Config
	ipam    *netstack.Allocator

	mu sync.Mutex
	// ports are the bound host ports, by pod UID, with the pod's key for
	// conflict messages.
	ports map[types.UID]*boundPorts
}

type boundPorts struct {
	key string
	hp  *netstack.HostPorts
}

// networks holds each supervisor's pod network. It lives beside the
// Supervisor rather than in it so that this file owns all of networking;
// a field on Supervisor would do the same.
var networks sync.Map // *Supervisor -> *podNetwork

func (s *Supervisor) network() *podNetwork {
	if v, ok := networks.Load(s); ok {
		return v.(*podNetwork)
	}
	return nil
}

// NetworkConfigFile is where a user configures the pod network:
// $XDG_CONFIG_HOME/podbox/network.yaml (default ~/.config/podbox/network.yaml).
func NetworkConfigFile() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "podbox", "network.yaml")
}

// networkFile is the format of NetworkConfigFile.
type networkFile struct {
	// Subnet is the pod network, default 10.88.0.0/16.
	Subnet string `json:"subnet,omitempty"`
	// MTU of pod interfaces, default 65520.
	MTU int `json:"mtu,omitempty"`
	// HostGateway lets pods reach the host's loopback as
	// host.podbox.internal; off by default.
	HostGateway bool `json:"hostGateway,omitempty"`
	// DNS are the resolvers ("IP" or "IP:port") pods' DNS queries are
	// relayed to; the host's /etc/resolv.conf nameservers by default.
	DNS []string `json:"dns,omitempty"`
	// EgressDeny are networks (CIDR, e.g. "192.168.0.0/16") pods may not
	// reach; none by default, so pods reach the LAN as on a cluster.
	EgressDeny []string `json:"egressDeny,omitempty"`
	// NAT bounds the connections and flows pods hold in the NAT (each
	// holds a file descriptor of the supervisor); omitted or 0 fields
	// take the defaults of netstack.NATLimits.
	NAT natLimitsFile `json:"nat,omitempty"`
}

// natLimitsFile is the nat section of NetworkConfigFile.
type natLimitsFile struct {
	PodTCPConnections int `json:"podTCPConnections,omitempty"` // default 1024
	PodUDPFlows       int `json:"podUDPFlows,omitempty"`       // default 512
	PodPendingTCP     int `json:"podPendingTCP,omitempty"`     // default 128
	TCPConnections    int `json:"tcpConnections,omitempty"`    // default RLIMIT_NOFILE/4, at most 4096
	UDPFlows          int `json:"udpFlows,omitempty"`          // default RLIMIT_NOFILE/4, at most 4096
	PendingTCP        int `json:"pendingTCP,omitempty"`        // default 1024
}

func (f natLimitsFile) limits(path string) (netstack.NATLimits, error) {
	for _, field := range []struct {
		name string
		v    int
	}{{"podTCPConnections", f.PodTCPConnections}, {"podUDPFlows", f.PodUDPFlows}, {"podPendingTCP", f.PodPendingTCP},
		{"tcpConnections", f.TCPConnections}, {"udpFlows", f.UDPFlows}, {"pendingTCP", f.PendingTCP}} {
		if field.v < 0 {
			return netstack.NATLimits{}, fmt.Errorf("%s: nat.%s: %d is negative (omit it or use 0 for the default)", path, field.name, field.v)
		}
	}
	return netstack.NATLimits{PodTCP: f.PodTCPConnections, PodUDP: f.PodUDPFlows, PodPendingTCP: f.PodPendingTCP,
		TCP: f.TCPConnections, UDP: f.UDPFlows, PendingTCP: f.PendingTCP}, nil
}

// EnvHostGateway, set to "true", turns the host gateway on without a
// config file.
const EnvHostGateway = "PODBOX_HOST_GATEWAY"

func loadNetworkConfig() (netstack.Config, error) {
	var cfg netstack.Config
	path := NetworkConfigFile()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return cfg, err
	}
	var f networkFile
	if err == nil {
		if err := yaml.UnmarshalStrict(b, &f); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	}
	if f.Subnet != "" {
		if cfg.Subnet, err = netip.ParsePrefix(f.Subnet); err != nil {
			return cfg, fmt.Errorf("%s: subnet: %w", path, err)
		}
	}
	cfg.MTU = f.MTU
	cfg.HostGateway = f.HostGateway || os.Getenv(EnvHostGateway) == "true"
	for _, d := range f.DNS {
		ap, err := netstack.ParseAddrPort(d, 53)
		if err != nil {
			return cfg, fmt.Errorf("%s: dns: %w", path, err)
		}
		cfg.DNS = append(cfg.DNS, ap)
	}
	for i, d := range f.EgressDeny {
		p, err := netip.ParsePrefix(d)
		if err != nil || !p.Addr().Is4() {
			return cfg, fmt.Errorf("%s: egressDeny[%d]: %q is not an IPv4 network in CIDR form (e.g. \"192.168.0.0/16\")", path, i, d)
		}
		cfg.EgressDeny = append(cfg.EgressDeny, p.Masked())
	}
	if cfg.Limits, err = f.NAT.limits(path); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// openNetwork builds the user's pod network (infra namespace, bridge, NAT)
// and reserves the addresses the pod records hold, so that pods resumed
// after a restart keep theirs and no new pod gets one of them.
func (s *Supervisor) openNetwork() error {
	cfg, err := loadNetworkConfig()
	if err != nil {
		return err // a broken config is the user's to fix, not to ignore
	}
	pn := &podNetwork{ports: map[types.UID]*boundPorts{}}
	pn.net, pn.openErr = netstack.Open(filepath.Join(s.opts.Dirs.Netns(), infraPin), cfg)
	if pn.openErr != nil {
		s.opts.Log.Error("pod network unavailable; pods get loopback only", "err", pn.openErr)
		pn.net = nil
		pn.cfg = cfg
		if !pn.cfg.Subnet.IsValid() {
			pn.cfg.Subnet = netstack.DefaultSubnet
		}
	} else {
		pn.cfg = pn.net.Config()
		s.opts.Log.Info("pod network", "subnet", pn.cfg.Subnet, "gateway", pn.net.BridgeIP(), "hostGateway", pn.cfg.HostGateway)
	}
	bridge := pn.cfg.Subnet.Addr().Next()
	pn.ipam = netstack.NewAllocator(pn.cfg.Subnet, filepath.Join(s.opts.Dirs.Runtime, "network"), bridge)
	entries, _ := os.ReadDir(s.opts.Dirs.Pods())
	for _, e := range entries {
		rec, err := loadRecord(filepath.Join(s.opts.Dirs.Pods(), e.Name()))
		if err != nil || rec.PodIP == "" || rec.Pod.DeletionTimestamp != nil {
			continue
		}
		ip, err := netip.ParseAddr(rec.PodIP)
		if err == nil {
			err = pn.ipam.Reserve(ip, string(rec.Pod.UID))
		}
		if err != nil {
			// The pod gets a new address when it starts.
			s.opts.Log.Warn("pod address not kept", "pod", rec.Pod.Name, "ip", rec.PodIP, "err", err)
		}
	}
	networks.Store(s, pn)
	return nil
}

// closeNetwork releases it when the supervisor exits.
func (s *Supervisor) closeNetwork() {
	pn := s.network()
	if pn == nil {
		return
	}
	pn.mu.Lock()
	for uid, b := range pn.ports {
		b.hp.Close()
		delete(pn.ports, uid)
	}
	pn.mu.Unlock()
	if pn.net != nil {
		pn.net.Close()
	}
	networks.Delete(s)
}

// hostPortMappings lists the pod's hostPorts.
func hostPortMappings(p *corev1.Pod) ([]netstack.PortMapping, error) {
	var out []netstack.PortMapping
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		for _, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			m := netstack.PortMapping{Protocol: strings.ToLower(string(port.Protocol)), HostPort: uint16(port.HostPort), PodPort: uint16(port.ContainerPort)}
			if m.Protocol == "" {
				m.Protocol = "tcp"
			}
			if m.Protocol != "tcp" && m.Protocol != "udp" {
				return nil, fmt.Errorf("container %q: hostPort %d: protocol %s is not supported by podbox (TCP and UDP are)", c.Name, port.HostPort, port.Protocol)
			}
			m.HostIP = netip.IPv4Unspecified()
			if port.HostIP != "" {
				ip, err := netip.ParseAddr(port.HostIP)
				if err != nil || !ip.Is4() {
					return nil, fmt.Errorf("container %q: hostIP %q: podbox serves host ports on IPv4 addresses only", c.Name, port.HostIP)
				}
				m.HostIP = ip
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// reserveHostPorts binds the pod's host ports before anything of the pod
// exists, so that a port taken by the host or by another pod is refused at
// apply time with nothing created. Supervisor.Create calls it after
// validation; createNetwork serves the bound ports once the pod has its
// address.
func (s *Supervisor) reserveHostPorts(p *corev1.Pod) error {
	maps, err := hostPortMappings(p)
	if err != nil {
		return apierrors.NewForbidden(podsResource, p.Name, err)
	}
	if len(maps) == 0 {
		return nil
	}
	pn := s.network()
	if pn == nil || pn.net == nil {
		why := "not set up"
		if pn != nil && pn.openErr != nil {
			why = pn.openErr.Error()
		}
		return apierrors.NewForbidden(podsResource, p.Name, fmt.Errorf("hostPort needs the pod network, which is unavailable: %s", why))
	}
	hp, err := pn.bindHostPorts(maps)
	if err != nil {
		return apierrors.NewForbidden(podsResource, p.Name, err)
	}
	pn.mu.Lock()
	pn.ports[p.UID] = &boundPorts{key: pod.Key(p.Namespace, p.Name), hp: hp}
	pn.mu.Unlock()
	return nil
}

// bindHostPorts binds maps, naming the pod that holds a port already
// taken by one of this user's pods.
func (pn *podNetwork) bindHostPorts(maps []netstack.PortMapping) (*netstack.HostPorts, error) {
	hp, err := netstack.ListenHostPorts(maps)
	if err == nil {
		return hp, nil
	}
	var inUse *netstack.PortInUseError
	if errors.As(err, &inUse) {
		pn.mu.Lock()
		defer pn.mu.Unlock()
		for _, b := range pn.ports {
			for _, m := range b.hp.Mappings() {
				if m.Protocol == inUse.Mapping.Protocol && m.HostPort == inUse.Mapping.HostPort {
					return nil, fmt.Errorf("hostPort %s is already in use by pod %s", inUse.Mapping, b.key)
				}
			}
		}
	}
	return nil, err
}

// hostPortsOf returns the pod's bound host ports, binding them now for a
// pod resumed after a supervisor restart (nil if it has none).
func (r *runner) hostPortsOf(pn *podNetwork) (*netstack.HostPorts, error) {
	p := r.rec.Pod
	pn.mu.Lock()
	b := pn.ports[p.UID]
	pn.mu.Unlock()
	if b != nil {
		return b.hp, nil
	}
	maps, err := hostPortMappings(p)
	if err != nil || len(maps) == 0 {
		return nil, err
	}
	hp, err := pn.bindHostPorts(maps)
	if err != nil {
		return nil, err
	}
	pn.mu.Lock()
	pn.ports[p.UID] = &boundPorts{key: pod.Key(p.Namespace, p.Name), hp: hp}
	pn.mu.Unlock()
	return hp, nil
}

// createNetwork pins the pod's network namespace with loopback up, gives
// it its address on the pod network and serves its host ports.
func (r *runner) createNetwork() error {
	fail := func(err error) error {
		r.awaitAllPrefetches()
		for _, c := range r.rec.Pod.Spec.Containers {
			r.waitingError(c.Name, "CreateContainerError", err)
		}
		return err
	}
	path := r.netnsPath()
	_ = netstack.RemovePinned(path) // left by a crash of this same supervisor
	if err := netstack.CreatePinned(path); err != nil {
		return fail(err)
	}
	pn := r.sup.network()
	if pn == nil || pn.net == nil {
		return r.writeNetworkFiles(pn, netip.Addr{})
	}
	uid := string(r.rec.Pod.UID)
	r.mu.Lock()
	recorded := r.rec.PodIP
	r.mu.Unlock()
	ip, err := netip.ParseAddr(recorded)
	if err != nil || pn.ipam.Owner(ip) != uid {
		if ip, err = pn.ipam.Allocate(uid); err != nil {
			return fail(err)
		}
	}
	if err := pn.net.AddPod(path, netstack.VethName(r.rec.SandboxID), ip); err != nil {
		return fail(fmt.Errorf("connect the pod to the pod network: %w", err))
	}
	hp, err := r.hostPortsOf(pn)
	if err != nil {
		return fail(err)
	}
	if hp != nil {
		hp.Serve(pn.net.DialPod, ip)
	}
	r.update(func(rec *podRecord) {
		rec.PodIP = ip.String()
		rec.HostIP = pn.net.BridgeIP().String()
	})
	if err := r.writeNetworkFiles(pn, ip); err != nil {
		return fail(err)
	}
	return nil
}

// adoptNetwork serves the host ports of a pod adopted after a crash of the
// previous supervisor (its namespace, veth and address are still in place;
// its host port listeners died with that supervisor).
func (r *runner) adoptNetwork() {
	pn := r.sup.network()
	r.mu.Lock()
	ip, err := netip.ParseAddr(r.rec.PodIP)
	r.mu.Unlock()
	if pn == nil || pn.net == nil || err != nil {
		return
	}
	hp, err := r.hostPortsOf(pn)
	if err != nil {
		r.sup.opts.Log.Warn("serve the adopted pod's host ports", "pod", r.name, "err", err)
		return
	}
	if hp != nil {
		hp.Serve(pn.net.DialPod, ip)
	}
}

// dialPod connects probes and hooks to the address they name: the
// supervisor stays in the host's network namespace, where pod IPs are not
// routed, so connections are made from the infra namespace, where they are.
// handlerDialer has the rule for names and the host's loopback. It has the
// shape of net.Dialer.DialContext.
func (s *Supervisor) dialPod(ctx context.Context, network, addr string) (net.Conn, error) {
	pn := s.network()
	if pn == nil || pn.net == nil {
		return nil, errors.New("the pod network is unavailable")
	}
	d := handlerDialer{hostGateway: pn.cfg.HostGateway, lookup: lookupHost, pod: pn.net.DialPod, loopback: probes.DefaultDial}
	return d.DialContext(ctx, network, addr)
}

// infraPin is the name of the infra namespace's pin in the netns directory.
const infraPin = "infra"

func (r *runner) netnsPath() string {
	return r.sup.opts.Dirs.Netns() + "/" + r.rec.SandboxID
}

// removeNetwork releases the pod's network namespace, veth and host ports;
// it is idempotent. The pod's address stays reserved until the pod is
// deleted (its record keeps showing it), then it is free again.
func (r *runner) removeNetwork() error {
	pn := r.sup.network()
	var errs []error
	if pn != nil {
		pn.mu.Lock()
		b := pn.ports[r.rec.Pod.UID]
		delete(pn.ports, r.rec.Pod.UID)
		pn.mu.Unlock()
		if b != nil {
			b.hp.Close()
		}
		if pn.net != nil {
			errs = append(errs, pn.net.RemovePod(netstack.VethName(r.rec.SandboxID)))
			r.mu.Lock()
			ip, err := netip.ParseAddr(r.rec.PodIP)
			r.mu.Unlock()
			if err == nil {
				pn.net.ForgetPod(ip) // its NAT flows go with its veth
			}
		}
	}
	errs = append(errs, netstack.RemovePinned(r.netnsPath()))
	if pn != nil && r.deleting() {
		r.mu.Lock()
		recorded := r.rec.PodIP
		r.mu.Unlock()
		if ip, err := netip.ParseAddr(recorded); err == nil {
			pn.ipam.Release(ip, string(r.rec.Pod.UID))
		}
	}
	return errors.Join(errs...)
}

// The files podbox writes for every container of a pod, in <pod dir>/etc.
var networkFiles = []string{"hosts", "hostname", "resolv.conf"}

// writeNetworkFiles writes the pod's /etc/hosts, /etc/hostname and
// /etc/resolv.conf as the kubelet does.
func (r *runner) writeNetworkFiles(pn *podNetwork, ip netip.Addr) error {
	dir, err := r.ensureDir("etc")
	if err != nil {
		return err
	}
	p := r.rec.Pod
	hostname := pod.Hostname(p)
	podIP := ""
	if ip.IsValid() {
		podIP = ip.String()
	}
	var extra []netstack.HostAlias
	dnsServer := ""
	if pn != nil && pn.net != nil {
		dnsServer = netstack.GatewayAddr.String()
		if pn.cfg.HostGateway {
			extra = append(extra, netstack.HostAlias{IP: netstack.GatewayAddr.String(), Hostnames: []string{netstack.HostGatewayName}})
		}
	}
	var aliases []netstack.HostAlias
	for _, a := range p.Spec.HostAliases {
		aliases = append(aliases, netstack.HostAlias{IP: a.IP, Hostnames: a.Hostnames})
	}
	var host netstack.HostResolv
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		host = netstack.ParseResolvConf(f)
		f.Close()
	}
	files := map[string]string{
		"hosts":       netstack.HostsFile(podIP, hostname, p.Spec.Subdomain, p.Namespace, extra, aliases),
		"hostname":    hostname + "\n",
		"resolv.conf": netstack.ResolvConf(p.Spec.DNSPolicy, p.Spec.DNSConfig, host, dnsServer),
	}
	for name, content := range files {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// networkMounts are the files every container of the pod gets from its
// network: /etc/hosts, /etc/hostname and /etc/resolv.conf, bound read-only
// from the pod directory (written by createNetwork).
func (r *runner) networkMounts() []specs.Mount {
	var out []specs.Mount
	for _, name := range networkFiles {
		src := r.podDir("etc", name)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		out = append(out, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
	}
	return out
}

// PortForward connects to port on the pod's loopback (127.0.0.1 inside
// the sandbox's network stack), as kubectl port-forward does: services
// bound only to localhost in the pod are reachable too. The connection
// goes through runsc, since no host-side socket can reach the sandbox's
// loopback.
func (s *Supervisor) PortForward(ctx context.Context, namespace, name string, port uint16) (net.Conn, error) {
	r, err := s.runner(namespace, name)
	if err != nil {
		return nil, err
	}
	// runsc port-forward matches IDs by prefix, and the sandbox's ID is a
	// prefix of its containers' IDs, so it names a running app container
	// instead: all of the pod's containers share the sandbox's loopback.
	for _, l := range r.liveContainers() {
		select {
		case <-l.exited:
			continue
		default:
		}
		return r.runsc.PortForward(ctx, l.id, port, s.opts.Dirs.Runtime)
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to forward port because pod is not running. Current status=%s", r.object().Status.Phase))
}
