// Package addresses answers EC2's Elastic IP actions: AllocateAddress,
// AssociateAddress, DisassociateAddress, ReleaseAddress and DescribeAddresses.
//
// An Elastic IP is an Address object in the account's namespace. The endpoint holds
// its public IP at once, through a NetworkClaim on the pool's address (the API server
// refuses a second claim of the same address, across every endpoint replica), so that
// AllocateAddress can answer with the address as EC2 does. Association is a field of
// the Address; the operator carries it out with a Service of type LoadBalancer.
package addresses

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/ipam"
)

// Store is what the handlers read and write.
type Store interface {
	Address(ctx context.Context, acct store.Account, id string) (*koalav1.Address, error)
	Addresses(ctx context.Context, acct store.Account) ([]koalav1.Address, error)
	AddressesOfInstance(ctx context.Context, acct store.Account, instanceID string) ([]koalav1.Address, error)
	AddressPools(ctx context.Context) ([]koalav1.AddressPool, error)
	Instance(ctx context.Context, acct store.Account, id string) (*koalav1.Instance, error)
	Allocator() *ipam.Allocator
	store.Writer
}

// Handlers answers the Elastic IP actions.
type Handlers struct {
	Store  Store
	Region string
}

// Actions returns the Elastic IP actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("AllocateAddress", true, parseAllocate, h.allocate),
		action.Bind("AssociateAddress", true, parseAssociate, h.associate),
		action.Bind("DisassociateAddress", true, parseDisassociate, h.disassociate),
		action.Bind("ReleaseAddress", true, parseRelease, h.release),
		action.Bind("DescribeAddresses", false, parseDescribe, h.describe),
	}
}

// addressFinalizer is the operator's: it removes the address's Service and then gives
// the address back to its pool. Set at creation so that the operator need not spend a
// write, and so that a release never frees an address a Service still carries.
const addressFinalizer = "cloud.koala.dev/address"

func allocationNotFound(id string) error {
	return protocol.Errorf(protocol.CodeInvalidAllocationIDNotFound, "The allocation ID '%s' does not exist", id)
}

func addressNotFound(ip string) error {
	return protocol.Errorf(protocol.CodeInvalidAddressNotFound, "Address '%s' not found.", ip)
}

func malformedAllocation(id string) error {
	return protocol.Errorf(protocol.CodeInvalidAllocationIDNotFound, "The allocation ID '%s' is malformed", id)
}

// ref names an address by allocation ID or, in the older form, by public IP.
type ref struct {
	allocationID, publicIP string
}

func parseRef(p *protocol.Params) (ref, error) {
	var r ref
	r.allocationID, _ = p.String("AllocationId")
	r.publicIP, _ = p.String("PublicIp")
	switch {
	case r.allocationID != "" && r.publicIP != "":
		return r, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameters AllocationId and PublicIp cannot be used together")
	case r.allocationID != "":
		if !ids.Valid(ids.Allocation, r.allocationID) {
			return r, malformedAllocation(r.allocationID)
		}
	case r.publicIP != "":
		if _, err := netip.ParseAddr(r.publicIP); err != nil {
			return r, protocol.InvalidValue("PublicIp", r.publicIP, "It is not an IPv4 address.")
		}
	default:
		return r, protocol.MissingParameter("AllocationId")
	}
	return r, nil
}

// find returns the account's address that r names, or the EC2 error for none.
func (h *Handlers) find(ctx context.Context, c *action.Call, r ref) (*koalav1.Address, error) {
	if r.allocationID != "" {
		a, err := h.Store.Address(ctx, c.Account, r.allocationID)
		if err != nil {
			return nil, err
		}
		if a == nil || !a.DeletionTimestamp.IsZero() {
			return nil, allocationNotFound(r.allocationID)
		}
		return a, nil
	}
	all, err := h.Store.Addresses(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].IP() == r.publicIP && all[i].DeletionTimestamp.IsZero() {
			return &all[i], nil
		}
	}
	return nil, addressNotFound(r.publicIP)
}

// holder is the claim holder of an address.
func holder(a *koalav1.Address) koalav1.ClaimHolder {
	return koalav1.ClaimHolder{Namespace: a.Namespace, Name: a.Name, ID: a.EC2ID()}
}

// AllocateAddress.

type allocateInput struct {
	domain, address, pool, borderGroup string
	tags                               map[string]string
}

func parseAllocate(p *protocol.Params) (allocateInput, error) {
	var in allocateInput
	in.domain, _ = p.String("Domain")
	if in.domain != "" && in.domain != "vpc" && in.domain != "standard" {
		return in, protocol.InvalidValue("Domain", in.domain, "Expected vpc or standard.")
	}
	if a, ok := p.String("Address"); ok {
		addr, err := netip.ParseAddr(a)
		if err != nil || !addr.Is4() {
			return in, protocol.InvalidValue("Address", a, "It is not an IPv4 address.")
		}
		in.address = addr.String()
	}
	in.pool, _ = p.String("PublicIpv4Pool")
	if in.pool == "amazon" {
		in.pool = "" // EC2's name for its own pool: here, the default pool
	}
	in.borderGroup, _ = p.String("NetworkBorderGroup")
	for _, name := range []string{"CustomerOwnedIpv4Pool", "IpamPoolId"} {
		if v, ok := p.String(name); ok {
			return in, protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	specs, err := tagging.Specifications(p, "elastic-ip")
	if err != nil {
		return in, err
	}
	in.tags = specs["elastic-ip"]
	return in, nil
}

type allocateResponse struct {
	protocol.Meta
	PublicIP           string `xml:"publicIp"`
	Domain             string `xml:"domain"`
	AllocationID       string `xml:"allocationId"`
	PublicIPv4Pool     string `xml:"publicIpv4Pool"`
	NetworkBorderGroup string `xml:"networkBorderGroup"`
}

// pool picks the pool to allocate from: the one named, else the cluster's default one,
// chosen as the operator chooses it.
func (h *Handlers) pool(ctx context.Context, name string) (*koalav1.AddressPool, ipam.PoolSpace, error) {
	pools, err := h.Store.AddressPools(ctx)
	if err != nil {
		return nil, ipam.PoolSpace{}, err
	}
	var p *koalav1.AddressPool
	if name == "" {
		if p = koalav1.DefaultAddressPool(pools); p == nil {
			return nil, ipam.PoolSpace{}, protocol.Errorf(protocol.CodeInsufficientAddressCapacity, "There are no Elastic IP addresses to allocate: the platform has no default address pool")
		}
	} else {
		for i := range pools {
			if pools[i].Name == name {
				p = &pools[i]
			}
		}
		if p == nil {
			return nil, ipam.PoolSpace{}, protocol.InvalidValue("PublicIpv4Pool", name, "The pool does not exist.")
		}
	}
	space, err := ipam.ParsePool(p.Spec.Addresses)
	if err != nil {
		return nil, ipam.PoolSpace{}, protocol.Errorf(protocol.CodeInsufficientAddressCapacity, "The address pool %s is misconfigured: %v", p.Name, err)
	}
	return p, space, nil
}

// poolOf finds the pool that holds a given address, when none was named.
func (h *Handlers) poolOf(ctx context.Context, addr string) (*koalav1.AddressPool, ipam.PoolSpace, error) {
	pools, err := h.Store.AddressPools(ctx)
	if err != nil {
		return nil, ipam.PoolSpace{}, err
	}
	for i := range pools {
		space, err := ipam.ParsePool(pools[i].Spec.Addresses)
		if _, in := space.Index(addr); err == nil && in {
			return &pools[i], space, nil
		}
	}
	return nil, ipam.PoolSpace{}, protocol.InvalidValue("Address", addr, "The address is in no address pool of this region.")
}

func (h *Handlers) allocate(ctx context.Context, c *action.Call, in allocateInput) (protocol.Body, error) {
	if in.borderGroup != "" && in.borderGroup != h.Region {
		// The region is the one border group Koala has.
		return nil, protocol.InvalidValue("NetworkBorderGroup", in.borderGroup, "The network border group does not exist.")
	}
	if q := c.Account.Quotas.Addresses; q != nil {
		all, err := h.Store.Addresses(ctx, c.Account)
		if err != nil {
			return nil, err
		}
		if int32(len(all)) >= *q {
			return nil, protocol.Errorf(protocol.CodeAddressLimitExceeded, "The maximum number of addresses has been reached (%d).", *q)
		}
	}
	var (
		pool  *koalav1.AddressPool
		space ipam.PoolSpace
		err   error
	)
	if in.address != "" && in.pool == "" {
		pool, space, err = h.poolOf(ctx, in.address)
	} else {
		pool, space, err = h.pool(ctx, in.pool)
	}
	if err != nil {
		return nil, err
	}
	id := ids.New(ids.Allocation)
	a := &koalav1.Address{
		ObjectMeta: metav1.ObjectMeta{
			Name: id, Namespace: c.Account.Namespace,
			Annotations: map[string]string{koalav1.IDAnnotation: id},
			Finalizers:  []string{addressFinalizer},
		},
		Spec: koalav1.AddressSpec{Pool: pool.Name, Tags: in.tags},
	}
	ip, err := h.Store.Allocator().Allocate(ctx, ipam.Request{
		Type: koalav1.ClaimPublicAddress, Scope: pool.Name, Space: space, Value: in.address, Holder: holder(a),
	})
	if err != nil {
		var inUse *ipam.InUseError
		switch {
		case errors.Is(err, ipam.ErrExhausted):
			return nil, protocol.Errorf(protocol.CodeAddressLimitExceeded, "The address pool %s has no free address left.", pool.Name)
		case errors.As(err, &inUse):
			return nil, protocol.Errorf(protocol.CodeInvalidIPAddressInUse, "Address %s is in use.", in.address)
		case errors.Is(err, ipam.ErrOutOfRange):
			return nil, protocol.InvalidValue("Address", in.address, "The address is not in the pool.")
		}
		return nil, fmt.Errorf("allocating an Elastic IP: %w", err)
	}
	a.Spec.PublicIP = ip
	if err := h.Store.Create(ctx, a); err != nil {
		// Give the address back: nothing holds it.
		_ = h.Store.Allocator().Release(ctx, koalav1.ClaimPublicAddress, pool.Name, ip, holder(a))
		if apierrors.IsInvalid(err) {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "%v", err)
		}
		return nil, fmt.Errorf("creating Elastic IP: %w", err)
	}
	c.Created(id)
	return &allocateResponse{PublicIP: ip, Domain: "vpc", AllocationID: id, PublicIPv4Pool: pool.Name, NetworkBorderGroup: h.Region}, nil
}

// AssociateAddress.

type associateInput struct {
	ref
	instanceID, privateIP string
	allowReassociation    bool
}

func parseAssociate(p *protocol.Params) (associateInput, error) {
	var in associateInput
	var err error
	if in.ref, err = parseRef(p); err != nil {
		return in, err
	}
	if ni, ok := p.String("NetworkInterfaceId"); ok {
		if !p.Has("InstanceId") {
			return in, protocol.Errorf(protocol.CodeInvalidNetworkInterfaceIDNotFound, "The networkInterface ID '%s' does not exist", ni)
		}
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameters InstanceId and NetworkInterfaceId cannot be used together")
	}
	if in.instanceID, err = p.Required("InstanceId"); err != nil {
		return in, err
	}
	if !ids.Valid(ids.Instance, in.instanceID) {
		return in, protocol.Errorf(protocol.CodeInvalidInstanceIDMalformed, "Invalid id: \"%s\"", in.instanceID)
	}
	in.privateIP, _ = p.String("PrivateIpAddress")
	if in.allowReassociation, _, err = p.Bool("AllowReassociation"); err != nil {
		return in, err
	}
	return in, nil
}

type associateResponse struct {
	protocol.Meta
	Return        bool   `xml:"return"`
	AssociationID string `xml:"associationId"`
}

func (h *Handlers) associate(ctx context.Context, c *action.Call, in associateInput) (protocol.Body, error) {
	a, err := h.find(ctx, c, in.ref)
	if err != nil {
		return nil, err
	}
	inst, err := h.Store.Instance(ctx, c.Account, in.instanceID)
	if err != nil {
		return nil, err
	}
	if inst == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist", in.instanceID)
	}
	switch inst.Status.State {
	case koalav1.InstanceStateShuttingDown, koalav1.InstanceStateTerminated:
		return nil, protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' is not in a valid state for this operation.", in.instanceID)
	}
	if !inst.DeletionTimestamp.IsZero() || inst.Spec.State == koalav1.DesiredStateTerminated {
		return nil, protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' is not in a valid state for this operation.", in.instanceID)
	}
	if in.privateIP != "" && inst.Status.PrivateIPAddress != "" && in.privateIP != inst.Status.PrivateIPAddress {
		return nil, protocol.InvalidValue("PrivateIpAddress", in.privateIP, "The address is not an address of the instance.")
	}
	if a.Spec.InstanceID == in.instanceID {
		return &associateResponse{Return: true, AssociationID: associationID(a)}, nil
	}
	if a.Spec.InstanceID != "" && !in.allowReassociation {
		return nil, protocol.Errorf(protocol.CodeResourceAlreadyAssociated, "resource %s is already associated with associate-id %s", a.EC2ID(), associationID(a))
	}
	// An instance has one public address: another Elastic IP on it is disassociated, as
	// EC2 does when a new one is associated with the same private address.
	others, err := h.Store.AddressesOfInstance(ctx, c.Account, in.instanceID)
	if err != nil {
		return nil, err
	}
	for i := range others {
		if others[i].Name != a.Name {
			if err := h.setAssociation(ctx, &others[i], "", ""); err != nil {
				return nil, err
			}
		}
	}
	assoc := ids.New(ids.Association)
	if err := h.setAssociation(ctx, a, in.instanceID, assoc); err != nil {
		return nil, err
	}
	return &associateResponse{Return: true, AssociationID: assoc}, nil
}

// associationID is the address's association: the one the endpoint recorded, else
// one derived from the address and its instance.
func associationID(a *koalav1.Address) string {
	if a.Spec.InstanceID == "" {
		return ""
	}
	if a.Spec.AssociationID != "" {
		return a.Spec.AssociationID
	}
	return ids.FromSeed(ids.Association, a.EC2ID(), a.Spec.InstanceID)
}

// setAssociation writes an address's association, rereading it on a conflict. a may be
// the cache's own object: it is copied, never changed.
func (h *Handlers) setAssociation(ctx context.Context, a *koalav1.Address, instanceID, assoc string) error {
	a = a.DeepCopy()
	key := client.ObjectKeyFromObject(a)
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if err := h.Store.Direct().Get(ctx, key, a); err != nil {
				return err
			}
		}
		first = false
		base := a.DeepCopy()
		a.Spec.InstanceID, a.Spec.AssociationID = instanceID, assoc
		return h.Store.Patch(ctx, a, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return allocationNotFound(a.EC2ID())
		}
		return fmt.Errorf("updating Elastic IP %s: %w", a.EC2ID(), err)
	}
	return nil
}

// DisassociateAddress.

type disassociateInput struct {
	associationID, publicIP string
}

func parseDisassociate(p *protocol.Params) (disassociateInput, error) {
	var in disassociateInput
	in.associationID, _ = p.String("AssociationId")
	in.publicIP, _ = p.String("PublicIp")
	switch {
	case in.associationID != "" && in.publicIP != "":
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameters AssociationId and PublicIp cannot be used together")
	case in.associationID != "":
		if !ids.Valid(ids.Association, in.associationID) {
			return in, protocol.Errorf(protocol.CodeInvalidAssociationIDNotFound, "The association ID '%s' is malformed", in.associationID)
		}
	case in.publicIP == "":
		return in, protocol.MissingParameter("AssociationId")
	}
	return in, nil
}

func (h *Handlers) disassociate(ctx context.Context, c *action.Call, in disassociateInput) (protocol.Body, error) {
	all, err := h.Store.Addresses(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	for i := range all {
		a := &all[i]
		if !a.DeletionTimestamp.IsZero() || a.Spec.InstanceID == "" {
			continue
		}
		if (in.associationID != "" && associationID(a) == in.associationID) || (in.publicIP != "" && a.IP() == in.publicIP) {
			if err := h.setAssociation(ctx, a, "", ""); err != nil {
				return nil, err
			}
			return protocol.OK(), nil
		}
	}
	if in.associationID != "" {
		return nil, protocol.Errorf(protocol.CodeInvalidAssociationIDNotFound, "The association ID '%s' does not exist", in.associationID)
	}
	return nil, addressNotFound(in.publicIP)
}

// ReleaseAddress.

func parseRelease(p *protocol.Params) (ref, error) {
	// NetworkBorderGroup names where the address was allocated: the region, always.
	p.String("NetworkBorderGroup")
	return parseRef(p)
}

func (h *Handlers) release(ctx context.Context, c *action.Call, r ref) (protocol.Body, error) {
	a, err := h.find(ctx, c, r)
	if err != nil {
		return nil, err
	}
	if a.Spec.InstanceID != "" {
		return nil, protocol.Errorf(protocol.CodeInvalidIPAddressInUse, "Address %s is in use.", a.IP())
	}
	// The operator's finalizer removes the Service, then the claim: the address is free
	// again only once nothing carries it.
	if err := h.Store.Delete(ctx, a, client.Preconditions{UID: &a.UID}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("releasing Elastic IP %s: %w", a.EC2ID(), err)
	}
	return protocol.OK(), nil
}

// DescribeAddresses.

type describeInput struct {
	allocationIDs, publicIPs []string
	filters                  []filter.Filter
}

func parseDescribe(p *protocol.Params) (describeInput, error) {
	var in describeInput
	var err error
	if in.allocationIDs, err = p.Strings("AllocationId"); err != nil {
		return in, err
	}
	for _, id := range in.allocationIDs {
		if !ids.Valid(ids.Allocation, id) {
			return in, malformedAllocation(id)
		}
	}
	if in.publicIPs, err = p.Strings("PublicIp"); err != nil {
		return in, err
	}
	if in.filters, err = p.Filters(); err != nil {
		return in, err
	}
	return in, nil
}

type addressXML struct {
	PublicIP           string         `xml:"publicIp"`
	AllocationID       string         `xml:"allocationId"`
	Domain             string         `xml:"domain"`
	InstanceID         string         `xml:"instanceId,omitempty"`
	AssociationID      string         `xml:"associationId,omitempty"`
	NetworkInterfaceID string         `xml:"networkInterfaceId,omitempty"`
	PrivateIPAddress   string         `xml:"privateIpAddress,omitempty"`
	NetworkOwnerID     string         `xml:"networkInterfaceOwnerId,omitempty"`
	PublicIPv4Pool     string         `xml:"publicIpv4Pool"`
	NetworkBorderGroup string         `xml:"networkBorderGroup"`
	TagSet             []tagging.Item `xml:"tagSet>item,omitempty"`
}

type describeResponse struct {
	protocol.Meta
	Addresses []addressXML `xml:"addressesSet>item"`
}

// view is an address with what DescribeAddresses shows of its instance.
type view struct {
	a         *koalav1.Address
	privateIP string
}

func schema(region string) filter.Schema[*view] {
	return filter.Schema[*view]{
		Single: map[string]func(*view) string{
			"allocation-id":        func(v *view) string { return v.a.EC2ID() },
			"association-id":       func(v *view) string { return associationID(v.a) },
			"domain":               func(*view) string { return "vpc" },
			"instance-id":          func(v *view) string { return v.a.Spec.InstanceID },
			"network-border-group": func(*view) string { return region },
			"private-ip-address":   func(v *view) string { return v.privateIP },
			"public-ip":            func(v *view) string { return v.a.IP() },
			"public-ipv4-pool":     func(v *view) string { return v.a.Spec.Pool },
		},
		Tags: func(v *view) map[string]string { return v.a.Spec.Tags },
	}
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in describeInput) (protocol.Body, error) {
	match, err := schema(h.Region).Compile(in.filters)
	if err != nil {
		return nil, err
	}
	all, err := h.Store.Addresses(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	byID, byIP := map[string]*koalav1.Address{}, map[string]*koalav1.Address{}
	var live []*koalav1.Address
	for i := range all {
		a := &all[i]
		if !a.DeletionTimestamp.IsZero() || a.EC2ID() == "" {
			continue
		}
		live = append(live, a)
		byID[a.EC2ID()] = a
		if ip := a.IP(); ip != "" {
			byIP[ip] = a
		}
	}
	candidates := live
	if len(in.allocationIDs) > 0 || len(in.publicIPs) > 0 {
		candidates = nil
		seen := map[string]bool{}
		for _, id := range in.allocationIDs {
			a := byID[id]
			if a == nil {
				return nil, allocationNotFound(id)
			}
			if !seen[a.Name] {
				seen[a.Name] = true
				candidates = append(candidates, a)
			}
		}
		for _, ip := range in.publicIPs {
			a := byIP[ip]
			if a == nil {
				return nil, addressNotFound(ip)
			}
			if !seen[a.Name] {
				seen[a.Name] = true
				candidates = append(candidates, a)
			}
		}
	}
	out := &describeResponse{Addresses: []addressXML{}}
	for _, a := range candidates {
		v := &view{a: a}
		if a.Spec.InstanceID != "" {
			if inst, err := h.Store.Instance(ctx, c.Account, a.Spec.InstanceID); err == nil && inst != nil {
				v.privateIP = inst.Status.PrivateIPAddress
			}
		}
		if !match.Match(v) {
			continue
		}
		x := addressXML{
			PublicIP: a.IP(), AllocationID: a.EC2ID(), Domain: "vpc",
			InstanceID: a.Spec.InstanceID, AssociationID: associationID(a), PrivateIPAddress: v.privateIP,
			PublicIPv4Pool: a.Spec.Pool, NetworkBorderGroup: h.Region, TagSet: tagging.Set(a.Spec.Tags),
		}
		if x.InstanceID != "" {
			x.NetworkOwnerID = c.Account.ID
		}
		out.Addresses = append(out.Addresses, x)
	}
	sort.Slice(out.Addresses, func(i, j int) bool { return out.Addresses[i].AllocationID < out.Addresses[j].AllocationID })
	return out, nil
}
