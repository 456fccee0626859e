// Package ipam hands out the numbers of Koala's networks: the private addresses of a
// subnet, the public addresses of an address pool and the VLAN IDs of a provider
// network. Each number taken is a NetworkClaim object whose name is made of the
// number, so the API server itself refuses to hand one out twice: any number of EC2
// endpoint replicas and the operator can allocate at once without a lock between them.
//
// The math of the spaces (space.go) is pure; the Allocator (allocator.go) probes a
// cache of the claims for a free number and creates its claim.
package ipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Space is a set of numbers that can be handed out, indexed from 0 to Size()-1.
type Space interface {
	// Size is how many numbers the space has.
	Size() uint64
	// At is the i-th number, rendered as a claim value.
	At(i uint64) string
	// Index is the position of a value in the space, and whether it is in it.
	Index(value string) (uint64, bool)
}

// reservedLow and reservedHigh are the addresses EC2 keeps of every subnet: the
// network address, the VPC router, the DNS server and one for future use at the start,
// the broadcast address at the end.
const (
	reservedLow  = 4
	reservedHigh = 1
)

// SubnetSpace is the usable addresses of an IPv4 subnet: all but the first four and
// the last, as in EC2.
type SubnetSpace struct {
	first uint32 // the first usable address
	size  uint64
}

// ParseSubnet returns the usable addresses of an IPv4 CIDR of prefix length 16 to 28.
func ParseSubnet(cidr string) (SubnetSpace, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return SubnetSpace{}, fmt.Errorf("%q is not an IPv4 CIDR", cidr)
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return SubnetSpace{}, fmt.Errorf("the prefix length of %s is not between 16 and 28", cidr)
	}
	total := uint64(1) << (32 - p.Bits())
	return SubnetSpace{first: addrToUint(p.Masked().Addr()) + reservedLow, size: total - reservedLow - reservedHigh}, nil
}

// Size is the number of usable addresses (a /28 has 11, a /24 251).
func (s SubnetSpace) Size() uint64 { return s.size }

// At is the i-th usable address.
func (s SubnetSpace) At(i uint64) string { return uintToAddr(s.first + uint32(i)).String() }

// Index is the position of a usable address; reserved and foreign addresses are not in
// the space.
func (s SubnetSpace) Index(value string) (uint64, bool) {
	a, err := netip.ParseAddr(value)
	if err != nil || !a.Is4() {
		return 0, false
	}
	n := addrToUint(a)
	if n < s.first || uint64(n-s.first) >= s.size {
		return 0, false
	}
	return uint64(n - s.first), true
}

// PoolSpace is every address of a pool's CIDRs and ranges, in the order given.
type PoolSpace struct {
	ranges []addrRange
	size   uint64
}

type addrRange struct{ first, last uint32 }

// ParsePool reads an address pool's entries: IPv4 CIDRs ("203.0.113.0/24", every
// address usable, as MetalLB hands them out) and ranges ("198.51.100.10-198.51.100.20").
// Entries must not overlap.
func ParsePool(entries []string) (PoolSpace, error) {
	var ps PoolSpace
	for _, e := range entries {
		r, err := parseRange(e)
		if err != nil {
			return PoolSpace{}, err
		}
		for _, o := range ps.ranges {
			if r.first <= o.last && o.first <= r.last {
				return PoolSpace{}, fmt.Errorf("%s overlaps another entry of the pool", e)
			}
		}
		ps.ranges = append(ps.ranges, r)
		ps.size += uint64(r.last-r.first) + 1
	}
	if ps.size == 0 {
		return PoolSpace{}, errors.New("the pool has no addresses")
	}
	return ps, nil
}

func parseRange(e string) (addrRange, error) {
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		if err != nil || !p.Addr().Is4() {
			return addrRange{}, fmt.Errorf("%q is not an IPv4 CIDR", e)
		}
		first := addrToUint(p.Masked().Addr())
		return addrRange{first: first, last: first + uint32((uint64(1)<<(32-p.Bits()))-1)}, nil
	}
	lo, hi, ok := strings.Cut(e, "-")
	a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
		return addrRange{}, fmt.Errorf("%q is not an IPv4 range (first-last)", e)
	}
	return addrRange{first: addrToUint(a), last: addrToUint(b)}, nil
}

// Size is the number of addresses of the pool.
func (ps PoolSpace) Size() uint64 { return ps.size }

// At is the i-th address of the pool.
func (ps PoolSpace) At(i uint64) string {
	for _, r := range ps.ranges {
		n := uint64(r.last-r.first) + 1
		if i < n {
			return uintToAddr(r.first + uint32(i)).String()
		}
		i -= n
	}
	return ""
}

// Index is the position of an address in the pool.
func (ps PoolSpace) Index(value string) (uint64, bool) {
	a, err := netip.ParseAddr(value)
	if err != nil || !a.Is4() {
		return 0, false
	}
	n := addrToUint(a)
	var base uint64
	for _, r := range ps.ranges {
		if n >= r.first && n <= r.last {
			return base + uint64(n-r.first), true
		}
		base += uint64(r.last-r.first) + 1
	}
	return 0, false
}

// VLANSpace is an inclusive range of VLAN IDs.
type VLANSpace struct{ Min, Max int32 }

// Size is the number of VLAN IDs.
func (v VLANSpace) Size() uint64 {
	if v.Max < v.Min {
		return 0
	}
	return uint64(v.Max-v.Min) + 1
}

// At is the i-th VLAN ID.
func (v VLANSpace) At(i uint64) string { return strconv.Itoa(int(v.Min) + int(i)) }

// Index is the position of a VLAN ID in the range.
func (v VLANSpace) Index(value string) (uint64, bool) {
	n, err := strconv.Atoi(value)
	if err != nil || n < int(v.Min) || n > int(v.Max) {
		return 0, false
	}
	return uint64(n - int(v.Min)), true
}

// Contains reports whether the CIDR inner lies inside outer (both IPv4).
func Contains(outer, inner string) bool {
	o, err1 := netip.ParsePrefix(outer)
	i, err2 := netip.ParsePrefix(inner)
	if err1 != nil || err2 != nil {
		return false
	}
	return o.Bits() <= i.Bits() && o.Contains(i.Masked().Addr())
}

// Overlaps reports whether two CIDRs share an address.
func Overlaps(a, b string) bool {
	pa, err1 := netip.ParsePrefix(a)
	pb, err2 := netip.ParsePrefix(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return pa.Overlaps(pb)
}

// PrefixLength returns the prefix length of a CIDR, or -1.
func PrefixLength(cidr string) int {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return -1
	}
	return p.Bits()
}

// Split carves the /bits subnets out of cidr, in order, at most max of them: the
// default VPC's one subnet per zone (172.31.0.0/16 into /20s).
func Split(cidr string, bitsLen, max int) []string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || bitsLen < p.Bits() || bitsLen > 32 {
		return nil
	}
	step := uint32(1) << (32 - bitsLen)
	base := addrToUint(p.Masked().Addr())
	n := 1 << (bitsLen - p.Bits())
	var out []string
	for i := 0; i < n && len(out) < max; i++ {
		out = append(out, netip.PrefixFrom(uintToAddr(base+uint32(i)*step), bitsLen).String())
	}
	return out
}

// NextFree returns the first /bitsLen block of cidr, in address order, that overlaps
// none of taken, and whether there is one: where a default VPC's default subnet of a
// zone that appeared later goes, around the subnets the VPC already has.
func NextFree(cidr string, bitsLen int, taken []string) (string, bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || bitsLen < p.Bits() || bitsLen > 32 {
		return "", false
	}
	used := make([]netip.Prefix, 0, len(taken))
	for _, t := range taken {
		if tp, err := netip.ParsePrefix(t); err == nil {
			used = append(used, tp.Masked())
		}
	}
	step := uint64(1) << (32 - bitsLen)
	base := uint64(addrToUint(p.Masked().Addr()))
	n := uint64(1) << (bitsLen - p.Bits())
next:
	for i := range n {
		c := netip.PrefixFrom(uintToAddr(uint32(base+i*step)), bitsLen)
		for _, u := range used {
			if u.Overlaps(c) {
				continue next
			}
		}
		return c.String(), true
	}
	return "", false
}

func addrToUint(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func uintToAddr(n uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b)
}
