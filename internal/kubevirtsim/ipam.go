package kubevirtsim

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ipAllocator hands out addresses of the simulated pod network, one per owner (a VMI's
// namespace/name), never one that another live owner holds. It is safe for concurrent
// use. Before its first allocation it loads the addresses already in use (see
// loadOnce), so a restarted simulator never hands out an address twice.
type ipAllocator struct {
	prefix netip.Prefix
	first  netip.Addr // first address handed out (network address + 2)
	last   netip.Addr // last address handed out (broadcast address - 1)

	mu      sync.Mutex
	loaded  bool
	byOwner map[string]netip.Addr
	byAddr  map[netip.Addr]string
	next    netip.Addr // where the next search starts
}

// errPoolExhausted is returned when every address of the pod network is in use.
var errPoolExhausted = errors.New("the simulated pod network has no free address")

func newIPAllocator(prefix netip.Prefix) (*ipAllocator, error) {
	prefix = prefix.Masked()
	if !prefix.Addr().Is4() {
		return nil, fmt.Errorf("%s: only IPv4 pod networks are simulated", prefix)
	}
	if prefix.Bits() > 29 {
		return nil, fmt.Errorf("%s: a pod network needs at least a /29", prefix)
	}
	network := prefix.Addr()
	// The network address and the first host (a gateway) are never handed out, nor
	// is the broadcast address.
	first := network.Next().Next()
	last := lastAddr(prefix).Prev()
	return &ipAllocator{
		prefix:  prefix,
		first:   first,
		last:    last,
		byOwner: map[string]netip.Addr{},
		byAddr:  map[netip.Addr]string{},
		next:    first,
	}, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	hostBits := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << hostBits) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// loadOnce calls load, once, before the first allocation, to learn the addresses in use;
// load returns owner -> address. A failed load is retried on the next call.
func (a *ipAllocator) loadOnce(load func() (map[string]string, error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded {
		return nil
	}
	inUse, err := load()
	if err != nil {
		return fmt.Errorf("loading the addresses in use: %w", err)
	}
	for owner, s := range inUse {
		addr, err := netip.ParseAddr(s)
		if err != nil || !a.prefix.Contains(addr) {
			continue
		}
		if _, taken := a.byAddr[addr]; taken {
			continue
		}
		a.byOwner[owner] = addr
		a.byAddr[addr] = owner
	}
	a.loaded = true
	return nil
}

// Allocate returns owner's address, allocating a free one if owner has none.
func (a *ipAllocator) Allocate(owner string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.byOwner[owner]; ok {
		return addr, nil
	}
	addr := a.next
	for {
		if _, taken := a.byAddr[addr]; !taken {
			break
		}
		addr = a.after(addr)
		if addr == a.next {
			return netip.Addr{}, errPoolExhausted
		}
	}
	a.byOwner[owner] = addr
	a.byAddr[addr] = owner
	// Searching on from the address just handed out (rather than from the start)
	// keeps a released address out of use for as long as possible, as pod IPAMs do.
	a.next = a.after(addr)
	return addr, nil
}

// Release frees owner's address, if it has one.
func (a *ipAllocator) Release(owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.byOwner[owner]; ok {
		delete(a.byOwner, owner)
		delete(a.byAddr, addr)
	}
}

// Lookup returns owner's address, if it has one.
func (a *ipAllocator) Lookup(owner string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.byOwner[owner]
	return addr, ok
}

// InUse returns how many addresses are allocated.
func (a *ipAllocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byOwner)
}

func (a *ipAllocator) after(addr netip.Addr) netip.Addr {
	if addr == a.last {
		return a.first
	}
	return addr.Next()
}
