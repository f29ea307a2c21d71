package netstack

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Allocator hands out pod IPs from a prefix. Owners (pod UIDs) hold their
// address until they release it; an address in use is never handed out
// again. Addresses are handed out round-robin after the last one given,
// as CNI's host-local IPAM does, so a freed address is reused as late as
// possible (other pods may still cache its old MAC).
//
// The allocator's memory is not the source of truth for what is in use:
// the supervisor reserves the addresses recorded in its pod records when it
// starts (see Reserve). Only the round-robin position is kept in a file.
type Allocator struct {
	prefix   netip.Prefix
	stateDir string

	mu    sync.Mutex
	owner map[netip.Addr]string
	last  netip.Addr
}

// ErrExhausted is returned when every address of the prefix is in use.
var ErrExhausted = errors.New("no free address left on the pod network")

// NewAllocator returns an allocator for prefix. The network address, the
// broadcast address and the addresses in reserved (the bridge) are never
// handed out. stateDir ("" for none) keeps the round-robin position.
func NewAllocator(prefix netip.Prefix, stateDir string, reserved ...netip.Addr) *Allocator {
	a := &Allocator{prefix: prefix.Masked(), stateDir: stateDir, owner: map[netip.Addr]string{}}
	for _, r := range reserved {
		a.owner[r] = "reserved"
	}
	a.last = a.prefix.Addr()
	if stateDir != "" {
		if b, err := os.ReadFile(filepath.Join(stateDir, "last-reserved-ip")); err == nil {
			if ip, err := netip.ParseAddr(strings.TrimSpace(string(b))); err == nil && a.prefix.Contains(ip) {
				a.last = ip
			}
		}
	}
	return a
}

// Reserve marks ip as owner's, as found in a pod record. It fails if the
// address is outside the prefix or held by someone else.
func (a *Allocator) Reserve(ip netip.Addr, owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.usable(ip) {
		return fmt.Errorf("address %s is not usable on the pod network %s", ip, a.prefix)
	}
	if cur, ok := a.owner[ip]; ok && cur != owner {
		return fmt.Errorf("address %s is already in use", ip)
	}
	a.owner[ip] = owner
	return nil
}

// Owner returns who holds ip ("" for nobody).
func (a *Allocator) Owner(ip netip.Addr) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.owner[ip]
}

// Allocate gives owner the next free address after the last one handed out.
func (a *Allocator) Allocate(owner string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip := a.last
	for range a.size() {
		ip = ip.Next()
		if !a.prefix.Contains(ip) {
			ip = a.prefix.Addr()
			continue
		}
		if !a.usable(ip) {
			continue
		}
		if _, taken := a.owner[ip]; taken {
			continue
		}
		a.owner[ip] = owner
		a.last = ip
		a.persist()
		return ip, nil
	}
	return netip.Addr{}, ErrExhausted
}

// Release frees ip if owner holds it.
func (a *Allocator) Release(ip netip.Addr, owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.owner[ip] == owner {
		delete(a.owner, ip)
	}
}

// size is the number of addresses in the prefix (capped: a /8 is plenty
// to scan).
func (a *Allocator) size() int {
	bits := a.prefix.Addr().BitLen() - a.prefix.Bits()
	if bits > 24 {
		bits = 24
	}
	return 1 << bits
}

// usable excludes the network and broadcast addresses.
func (a *Allocator) usable(ip netip.Addr) bool {
	return a.prefix.Contains(ip) && ip != a.prefix.Addr() && ip != lastAddr(a.prefix)
}

func (a *Allocator) persist() {
	if a.stateDir == "" {
		return
	}
	if err := os.MkdirAll(a.stateDir, 0o700); err != nil {
		return
	}
	tmp := filepath.Join(a.stateDir, ".last-reserved-ip.tmp")
	if os.WriteFile(tmp, []byte(a.last.String()+"\n"), 0o600) == nil {
		_ = os.Rename(tmp, filepath.Join(a.stateDir, "last-reserved-ip"))
	}
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << host) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
