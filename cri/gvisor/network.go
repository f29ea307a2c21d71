package gvisor

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

	"podbox.dev/podbox/cri"
	"podbox.dev/podbox/netstack"
	"podbox.dev/podbox/pod"
	"podbox.dev/podbox/probes"
)

// This file is the runtime's side of pod networking: the per-user pod
// network opened with the runtime, and each pod's place in it (its
// address, veth, host ports and the network files of its containers).

// podNetwork is the runtime's pod network state.
type podNetwork struct {
	// net is nil when the pod network could not be built (openErr says
	// why): pods then get loopback only, as before podbox had a network.
	net     *netstack.Network
	openErr error
	cfg     netstack.Config
	ipam    *netstack.Allocator

	mu sync.Mutex
	// ports are the bound host ports, by sandbox ID, with the pod's key
	// for conflict messages.
	ports map[string]*boundPorts
}

type boundPorts struct {
	key string
	hp  *netstack.HostPorts
}

// network returns the pod network, nil before Recover opened it.
func (rt *Runtime) network() *podNetwork {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.net
}

// openNetwork builds the user's pod network (infra namespace, bridge, NAT)
// and reserves the addresses the known pods hold, so that pods started
// again after a restart keep theirs and no new pod gets one of them.
func (rt *Runtime) openNetwork(known []*cri.SandboxConfig) {
	pn := &podNetwork{ports: map[string]*boundPorts{}}
	pn.net, pn.openErr = netstack.Open(filepath.Join(rt.opts.Dirs.Netns(), infraPin), rt.netCfg)
	if pn.openErr != nil {
		rt.opts.Log.Error("pod network unavailable; pods get loopback only", "err", pn.openErr)
		pn.net = nil
		pn.cfg = rt.netCfg
		if !pn.cfg.Subnet.IsValid() {
			pn.cfg.Subnet = netstack.DefaultSubnet
		}
	} else {
		pn.cfg = pn.net.Config()
		rt.opts.Log.Info("pod network", "subnet", pn.cfg.Subnet, "gateway", pn.net.BridgeIP(), "hostGateway", pn.cfg.HostGateway)
	}
	bridge := pn.cfg.Subnet.Addr().Next()
	pn.ipam = netstack.NewAllocator(pn.cfg.Subnet, filepath.Join(rt.opts.Dirs.Runtime, "network"), bridge)
	for _, cfg := range known {
		if cfg.PodIP == "" {
			continue
		}
		ip, err := netip.ParseAddr(cfg.PodIP)
		if err == nil {
			err = pn.ipam.Reserve(ip, string(cfg.Pod.UID))
		}
		if err != nil {
			// The pod gets a new address when it starts.
			rt.opts.Log.Warn("pod address not kept", "pod", cfg.Pod.Name, "ip", cfg.PodIP, "err", err)
			continue
		}
		rt.ensureSandbox(cfg).setIP(rt, ip)
	}
	rt.mu.Lock()
	rt.net = pn
	rt.mu.Unlock()
}

// closeNetwork releases it when the supervisor exits.
func (rt *Runtime) closeNetwork() {
	pn := rt.network()
	if pn == nil {
		return
	}
	pn.mu.Lock()
	for id, b := range pn.ports {
		b.hp.Close()
		delete(pn.ports, id)
	}
	pn.mu.Unlock()
	if pn.net != nil {
		pn.net.Close()
	}
	rt.mu.Lock()
	rt.net = nil
	rt.mu.Unlock()
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

// ReserveHostPorts binds the pod's host ports before anything of the pod
// exists, so that a port taken by the host or by another pod is refused at
// apply time with nothing created. The supervisor calls it when it admits
// a pod; createNetwork serves the bound ports once the pod has its address.
func (rt *Runtime) ReserveHostPorts(_ context.Context, sandboxID string, p *corev1.Pod) error {
	maps, err := hostPortMappings(p)
	if err != nil {
		return err
	}
	if len(maps) == 0 {
		return nil
	}
	pn := rt.network()
	if pn == nil || pn.net == nil {
		why := "not set up"
		if pn != nil && pn.openErr != nil {
			why = pn.openErr.Error()
		}
		return fmt.Errorf("hostPort needs the pod network, which is unavailable: %s", why)
	}
	hp, err := pn.bindHostPorts(maps)
	if err != nil {
		return err
	}
	pn.mu.Lock()
	pn.ports[sandboxID] = &boundPorts{key: pod.Key(p.Namespace, p.Name), hp: hp}
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
// pod started again after a supervisor restart (nil if it has none).
func (pn *podNetwork) hostPortsOf(sb *podSandbox) (*netstack.HostPorts, error) {
	p := sb.cfg.Pod
	pn.mu.Lock()
	b := pn.ports[sb.cfg.ID]
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
	pn.ports[sb.cfg.ID] = &boundPorts{key: pod.Key(p.Namespace, p.Name), hp: hp}
	pn.mu.Unlock()
	return hp, nil
}

// createNetwork pins the pod's network namespace with loopback up, gives
// it its address on the pod network (the one it had, if it is still
// reserved for it) and serves its host ports.
func (rt *Runtime) createNetwork(sb *podSandbox) (*cri.SandboxStatus, error) {
	st := &cri.SandboxStatus{ID: sb.cfg.ID}
	path := rt.netnsPath(sb.cfg.ID)
	_ = netstack.RemovePinned(path) // left by a crash of this same supervisor
	if err := netstack.CreatePinned(path); err != nil {
		return nil, err
	}
	pn := rt.network()
	if pn == nil || pn.net == nil {
		return st, rt.writeNetworkFiles(sb, pn, netip.Addr{})
	}
	uid := string(sb.cfg.Pod.UID)
	ip, err := netip.ParseAddr(sb.cfg.PodIP)
	if err != nil || pn.ipam.Owner(ip) != uid {
		if ip, err = pn.ipam.Allocate(uid); err != nil {
			return nil, err
		}
	}
	sb.setIP(rt, ip)
	if err := pn.net.AddPod(path, netstack.VethName(sb.cfg.ID), ip); err != nil {
		return nil, fmt.Errorf("connect the pod to the pod network: %w", err)
	}
	hp, err := pn.hostPortsOf(sb)
	if err != nil {
		return nil, err
	}
	if hp != nil {
		hp.Serve(pn.net.DialPod, ip)
	}
	st.PodIP, st.HostIP = ip.String(), pn.net.BridgeIP().String()
	if err := rt.writeNetworkFiles(sb, pn, ip); err != nil {
		return nil, err
	}
	return st, nil
}

// adoptNetwork serves the host ports of a pod adopted after a crash of the
// previous supervisor (its namespace, veth and address are still in place;
// its host port listeners died with that supervisor).
func (rt *Runtime) adoptNetwork(sb *podSandbox) *cri.SandboxStatus {
	st := &cri.SandboxStatus{ID: sb.cfg.ID}
	pn := rt.network()
	ip, err := netip.ParseAddr(sb.cfg.PodIP)
	if pn == nil || pn.net == nil || err != nil {
		return st
	}
	sb.setIP(rt, ip)
	st.PodIP, st.HostIP = ip.String(), pn.net.BridgeIP().String()
	hp, err := pn.hostPortsOf(sb)
	if err != nil {
		rt.opts.Log.Warn("serve the adopted pod's host ports", "pod", sb.cfg.Pod.Name, "err", err)
		return st
	}
	if hp != nil {
		hp.Serve(pn.net.DialPod, ip)
	}
	return st
}

// Dial connects probes and hooks to the address they name: the
// supervisor stays in the host's network namespace, where pod IPs are not
// routed, so connections are made from the infra namespace, where they are.
// handlerDialer has the rule for names and the host's loopback.
func (rt *Runtime) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	pn := rt.network()
	if pn == nil || pn.net == nil {
		return nil, errors.New("the pod network is unavailable")
	}
	d := handlerDialer{hostGateway: pn.cfg.HostGateway, lookup: lookupHost, pod: pn.net.DialPod, loopback: probes.DefaultDial}
	return d.DialContext(ctx, network, addr)
}

// infraPin is the name of the infra namespace's pin in the netns directory.
const infraPin = "infra"

func (rt *Runtime) netnsPath(sandboxID string) string {
	return rt.opts.Dirs.Netns() + "/" + sandboxID
}

// removeNetwork releases the pod's network namespace, veth and host ports;
// it is idempotent. The pod's address stays reserved until the pod is
// deleted (RemovePodSandbox), then it is free again.
func (rt *Runtime) removeNetwork(sandboxID string, ip netip.Addr) error {
	pn := rt.network()
	var errs []error
	if pn != nil {
		pn.mu.Lock()
		b := pn.ports[sandboxID]
		delete(pn.ports, sandboxID)
		pn.mu.Unlock()
		if b != nil {
			b.hp.Close()
		}
		if pn.net != nil {
			errs = append(errs, pn.net.RemovePod(netstack.VethName(sandboxID)))
			if ip.IsValid() {
				pn.net.ForgetPod(ip) // its NAT flows go with its veth
			}
		}
	}
	errs = append(errs, netstack.RemovePinned(rt.netnsPath(sandboxID)))
	return errors.Join(errs...)
}

// releaseAddress frees the address of a deleted pod.
func (rt *Runtime) releaseAddress(ip netip.Addr, uid string) {
	if pn := rt.network(); pn != nil && ip.IsValid() {
		pn.ipam.Release(ip, uid)
	}
}

// The files podbox writes for every container of a pod, in <pod dir>/etc.
var networkFiles = []string{"hosts", "hostname", "resolv.conf"}

// writeNetworkFiles writes the pod's /etc/hosts, /etc/hostname and
// /etc/resolv.conf as the kubelet does.
func (rt *Runtime) writeNetworkFiles(sb *podSandbox, pn *podNetwork, ip netip.Addr) error {
	dir, err := ensureDir(sb.cfg.Dir, "etc")
	if err != nil {
		return err
	}
	p := sb.cfg.Pod
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
func networkMounts(podDir string) []specs.Mount {
	var out []specs.Mount
	for _, name := range networkFiles {
		src := filepath.Join(podDir, "etc", name)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		out = append(out, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
	}
	return out
}
