package instances

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"sort"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/zones"
)

// launchNetwork is where a launch puts its instances: RunInstances' SubnetId,
// SecurityGroupId.N, SecurityGroup.N and PrivateIpAddress, or the same of
// NetworkInterface.1 (device index 0).
type launchNetwork struct {
	subnetID   string
	groupIDs   []string
	groupNames []string
	privateIP  string
}

func (n launchNetwork) empty() bool {
	return n.subnetID == "" && len(n.groupIDs) == 0 && len(n.groupNames) == 0 && n.privateIP == ""
}

func digestLaunchNetwork(h hash.Hash, in runInput) {
	n := in.network
	fmt.Fprintf(h, " net %q %q %q %q", n.subnetID, n.groupIDs, n.groupNames, n.privateIP)
}

// parseLaunchNetwork reads the network parameters, refusing the combinations EC2
// refuses.
func parseLaunchNetwork(p *protocol.Params, in *runInput) error {
	var top launchNetwork
	var err error
	top.subnetID, _ = p.String("SubnetId")
	if top.groupIDs, err = p.Strings("SecurityGroupId"); err != nil {
		return err
	}
	if top.groupNames, err = p.Strings("SecurityGroup"); err != nil {
		return err
	}
	top.privateIP, _ = p.String("PrivateIpAddress")
	nics, err := p.Structs("NetworkInterface")
	if err != nil {
		return err
	}
	in.network = top
	if len(nics) > 0 {
		switch {
		case top.subnetID != "":
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "Network interfaces and an instance-level subnet ID may not be specified on the same request")
		case len(top.groupIDs) > 0 || len(top.groupNames) > 0:
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "Network interfaces and an instance-level security groups may not be specified on the same request")
		case top.privateIP != "":
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "Network interfaces and an instance-level private IP address should not be specified on the same request")
		}
		if len(nics) > 1 {
			return protocol.InvalidValue("NetworkInterface", fmt.Sprint(len(nics)), "Only one network interface, of device index 0, is supported.")
		}
		nic := nics[0]
		idx, ok, err := nic.Int("DeviceIndex", 0, 15)
		if err != nil {
			return err
		}
		if ok && idx != 0 {
			return protocol.InvalidValue("NetworkInterface.1.DeviceIndex", fmt.Sprint(idx), "Only device index 0 is supported.")
		}
		if id, ok := nic.String("NetworkInterfaceId"); ok && id != "" {
			return protocol.InvalidValue("NetworkInterface.1.NetworkInterfaceId", id, "Attaching an existing network interface is not supported.")
		}
		if pub, _, err := nic.Bool("AssociatePublicIpAddress"); err != nil {
			return err
		} else if pub {
			return protocol.InvalidValue("NetworkInterface.1.AssociatePublicIpAddress", "true", "Public addresses are given through Elastic IPs only.")
		}
		if _, _, err := nic.Bool("DeleteOnTermination"); err != nil {
			return err
		}
		nic.Remove("Description")
		in.network.subnetID, _ = nic.String("SubnetId")
		if in.network.groupIDs, err = nic.Strings("SecurityGroupId"); err != nil {
			return err
		}
		in.network.privateIP, _ = nic.String("PrivateIpAddress")
	}
	n := &in.network
	if n.subnetID != "" && !ids.Valid(ids.Subnet, n.subnetID) {
		return protocol.Errorf(protocol.CodeInvalidSubnetIDMalformed, "Invalid id: \"%s\" (expecting \"subnet-...\")", n.subnetID)
	}
	for _, g := range n.groupIDs {
		if !ids.Valid(ids.SecurityGroup, g) {
			return protocol.Errorf(protocol.CodeInvalidGroupIDMalformed, "Invalid id: \"%s\" (expecting \"sg-...\")", g)
		}
	}
	if n.privateIP != "" {
		if a, err := netip.ParseAddr(n.privateIP); err != nil || !a.Is4() {
			return protocol.InvalidValue("PrivateIpAddress", n.privateIP, "Expected an IPv4 address.")
		}
		if in.maxCount > 1 {
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "Cannot specify a private IP address when launching more than one instance")
		}
	}
	return nil
}

// resolvedNetwork is the subnet and groups a launch's instances go to; nil subnet:
// the pod network alone (an account without a default VPC that named no subnet).
type resolvedNetwork struct {
	subnet *koalav1.Subnet
	groups []string
}

// resolveLaunchNetwork finds the launch's subnet (the one named, else the default
// subnet of the zone asked for, else of the zone Koala chooses) and groups (those
// named by ID or name in the subnet's VPC, else its default group), with EC2's errors.
func (h *Handlers) resolveLaunchNetwork(ctx context.Context, c *action.Call, in *runInput, reservation string) (*resolvedNetwork, error) {
	n := in.network
	var sub *koalav1.Subnet
	var err error
	if n.subnetID != "" {
		if sub, err = h.Store.Subnet(ctx, c.Account, n.subnetID); err != nil {
			return nil, err
		}
		if sub == nil || !sub.DeletionTimestamp.IsZero() {
			return nil, protocol.Errorf(protocol.CodeInvalidSubnetIDNotFound, "The subnet ID '%s' does not exist", n.subnetID)
		}
		if in.zone != "" && sub.Zone() != "" && in.zone != sub.Zone() {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "The subnet '%s' is in %s, not in the availability zone %s asked for", n.subnetID, sub.Zone(), in.zone)
		}
	} else {
		vpc, err := h.Store.DefaultVPC(ctx, c.Account)
		if err != nil {
			return nil, err
		}
		if vpc == nil {
			if len(n.groupIDs) > 0 || len(n.groupNames) > 0 || n.privateIP != "" {
				return nil, protocol.Errorf(protocol.CodeVPCIDNotSpecified, "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
			}
			return nil, nil // the pod network alone, as before VPCs
		}
		zone := in.zone
		if zone == "" {
			labels, err := h.Store.NodeLabels(ctx)
			if err != nil {
				return nil, err
			}
			zone, _ = zones.Assign(h.Region, labels, reservation)
		}
		subnets, err := h.Store.SubnetsOfVPC(ctx, c.Account, vpc.EC2ID())
		if err != nil {
			return nil, err
		}
		var any *koalav1.Subnet
		for i := range subnets {
			s := &subnets[i]
			if !s.Spec.DefaultForAZ || !s.DeletionTimestamp.IsZero() || s.EC2ID() == "" {
				continue
			}
			if s.Zone() == zone {
				sub = s.DeepCopy()
			}
			if any == nil {
				any = s
			}
		}
		if sub == nil && in.zone == "" && any != nil {
			sub = any.DeepCopy()
		}
		if sub == nil {
			if len(n.groupIDs) > 0 || len(n.groupNames) > 0 || n.privateIP != "" {
				return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "The default VPC %s has no default subnet in %s yet", vpc.EC2ID(), zone)
			}
			// A default VPC made a moment ago, whose subnets this endpoint has not seen
			// yet: the operator puts the instances on the default subnet of their zone
			// once it exists.
			return nil, nil
		}
	}
	vpcID := sub.Spec.VPCID
	var groups []string
	for _, id := range n.groupIDs {
		g, err := h.Store.SecurityGroup(ctx, c.Account, id)
		if err != nil {
			return nil, err
		}
		if g == nil || g.Spec.VPCID != vpcID || !g.DeletionTimestamp.IsZero() {
			return nil, protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist in VPC '%s'", id, vpcID)
		}
		groups = append(groups, id)
	}
	for _, name := range n.groupNames {
		g, err := h.Store.SecurityGroupByName(ctx, c.Account, vpcID, name)
		if err != nil {
			return nil, err
		}
		if g == nil || g.EC2ID() == "" {
			return nil, protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist in VPC '%s'", name, vpcID)
		}
		groups = append(groups, g.EC2ID())
	}
	sort.Strings(groups)
	groups = slices.Compact(groups)
	if len(groups) == 0 {
		vpc, err := h.Store.VPC(ctx, c.Account, vpcID)
		if err != nil {
			return nil, err
		}
		if vpc != nil && vpc.Status.DefaultSecurityGroupID != "" {
			groups = []string{vpc.Status.DefaultSecurityGroupID}
		}
	}
	return &resolvedNetwork{subnet: sub, groups: groups}, nil
}

// claimAddress holds the instance's address of its subnet before the instance exists,
// so that RunInstances answers with it, and refuses a taken or full subnet as EC2
// does. The operator finds the claim held by the instance and keeps it.
func (h *Handlers) claimAddress(ctx context.Context, c *action.Call, net *resolvedNetwork, id, want string) (string, error) {
	alloc := h.Store.Allocator()
	if alloc == nil {
		return "", errors.New("no address allocator")
	}
	space, err := ipam.ParseSubnet(net.subnet.Spec.CIDRBlock)
	if err != nil {
		return "", fmt.Errorf("the subnet's range: %w", err)
	}
	value, err := alloc.Allocate(ctx, ipam.Request{
		Type: koalav1.ClaimPrivateAddress, Scope: net.subnet.EC2ID(), Space: space, Value: want,
		Holder: koalav1.ClaimHolder{Namespace: c.Account.Namespace, Name: id, ID: id},
	})
	var inUse *ipam.InUseError
	switch {
	case err == nil:
		return value, nil
	case errors.Is(err, ipam.ErrExhausted):
		return "", protocol.Errorf(protocol.CodeInsufficientFreeAddressesInSubnet,
			"There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", net.subnet.EC2ID())
	case errors.As(err, &inUse):
		return "", protocol.Errorf(protocol.CodeInvalidIPAddressInUse, "Address %s is in use.", want)
	case errors.Is(err, ipam.ErrOutOfRange):
		return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "Address %s does not fall within the subnet's address range", want)
	}
	return "", err
}

// releaseAddress gives back an address claimed for an instance whose creation failed.
func (h *Handlers) releaseAddress(ctx context.Context, c *action.Call, net *resolvedNetwork, id, value string) {
	if alloc := h.Store.Allocator(); alloc != nil && value != "" {
		_ = alloc.Release(ctx, koalav1.ClaimPrivateAddress, net.subnet.EC2ID(), value,
			koalav1.ClaimHolder{Namespace: c.Account.Namespace, Name: id, ID: id})
	}
}

// statusSlack is how many addresses a subnet's status may count free that launches
// took since (see fitSubnet): a default subnet (a /20, 4,091 addresses) is always
// counted exactly.
const statusSlack = 4096

// fitSubnet launches as many instances as the subnet has free addresses for, down to
// MinCount, else answers InsufficientFreeAddressesInSubnet, as EC2 does, before
// anything is created. Launches racing on other replicas are caught by the claims.
func (h *Handlers) fitSubnet(ctx context.Context, net *resolvedNetwork, in *runInput) error {
	// The subnet's status counts its free addresses as of a few seconds ago. When it
	// leaves room for the launch with statusSlack to spare (more than launches take in
	// the seconds the count lags by), the exact count is not needed: it lists every
	// claim of the subnet, a cost per launch that grows with the instances it holds.
	// Should the count be far behind, the claims themselves still refuse an address
	// taken twice, and a full subnet (ipam.ErrExhausted).
	if net.subnet.Status.AvailableIPAddressCount >= int64(in.maxCount)+statusSlack {
		return nil
	}
	space, err := ipam.ParseSubnet(net.subnet.Spec.CIDRBlock)
	if err != nil {
		return fmt.Errorf("the subnet's range: %w", err)
	}
	claims, err := h.Store.ClaimsOf(ctx, net.subnet.EC2ID())
	if err != nil {
		return err
	}
	free := int(space.Size()) - len(claims)
	if free < in.minCount {
		return protocol.Errorf(protocol.CodeInsufficientFreeAddressesInSubnet,
			"There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", net.subnet.EC2ID())
	}
	in.maxCount = min(in.maxCount, free)
	return nil
}
