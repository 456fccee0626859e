// Package subnets answers EC2's subnet actions: CreateSubnet, DeleteSubnet,
// DescribeSubnets and ModifySubnetAttribute. A subnet is a Subnet object; the operator
// gives it a Multus NetworkAttachmentDefinition on its VPC's provider network, and
// instances launched into it get their addresses from it.
package subnets

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/netview"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/zones"
)

// Store is what the handlers read and write.
type Store interface {
	VPC(ctx context.Context, acct store.Account, id string) (*koalav1.Network, error)
	Subnet(ctx context.Context, acct store.Account, id string) (*koalav1.Subnet, error)
	Subnets(ctx context.Context, acct store.Account) ([]koalav1.Subnet, error)
	SubnetsOfVPC(ctx context.Context, acct store.Account, vpcID string) ([]koalav1.Subnet, error)
	ClaimsOf(ctx context.Context, scope string) ([]koalav1.NetworkClaim, error)
	Zones(ctx context.Context, region string) ([]string, error)
	NodeLabels(ctx context.Context) ([]map[string]string, error)
	store.Writer
}

// Handlers answers the subnet actions.
type Handlers struct {
	Store  Store
	Region string

	// vpcLocks holds a mutex per VPC, taken while a create checks its range against
	// the VPC's other subnets (the operator settles races between replicas: the older
	// subnet wins).
	vpcLocks sync.Map
}

// Actions returns the subnet actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("CreateSubnet", true, parseCreate, h.create),
		action.Bind("DeleteSubnet", true, parseSubnetID, h.delete),
		action.Bind("DescribeSubnets", false, parseDescribe, h.describe),
		action.Bind("ModifySubnetAttribute", true, parseModifyAttribute, h.modifyAttribute),
	}
}

const subnetFinalizer = "cloud.koala.dev/subnet"

var malformed = netview.Malformed(protocol.CodeInvalidSubnetIDMalformed, ids.Subnet)

func notFound(missing ...string) error {
	return netview.NotFound(protocol.CodeInvalidSubnetIDNotFound, "subnet", missing)
}

func parseSubnetID(p *protocol.Params) (string, error) {
	id, err := p.Required("SubnetId")
	if err != nil {
		return "", err
	}
	if !ids.Valid(ids.Subnet, id) {
		return "", malformed(id)
	}
	return id, nil
}

// subnetXML is a subnet as EC2 shows it.
type subnetXML struct {
	SubnetID                      string               `xml:"subnetId"`
	SubnetArn                     string               `xml:"subnetArn"`
	State                         string               `xml:"state"`
	VPCID                         string               `xml:"vpcId"`
	OwnerID                       string               `xml:"ownerId"`
	CIDRBlock                     string               `xml:"cidrBlock"`
	IPv6CIDRAssociationSet        struct{}             `xml:"ipv6CidrBlockAssociationSet"`
	AvailableIPAddressCount       int64                `xml:"availableIpAddressCount"`
	AvailabilityZone              string               `xml:"availabilityZone"`
	AvailabilityZoneID            string               `xml:"availabilityZoneId,omitempty"`
	DefaultForAZ                  bool                 `xml:"defaultForAz"`
	MapPublicIPOnLaunch           bool                 `xml:"mapPublicIpOnLaunch"`
	MapCustomerOwnedIPOnLaunch    bool                 `xml:"mapCustomerOwnedIpOnLaunch"`
	AssignIPv6AddressOnCreation   bool                 `xml:"assignIpv6AddressOnCreation"`
	EnableDNS64                   bool                 `xml:"enableDns64"`
	IPv6Native                    bool                 `xml:"ipv6Native"`
	PrivateDNSNameOptionsOnLaunch privateDNSOptionsXML `xml:"privateDnsNameOptionsOnLaunch"`
	BlockPublicAccessStates       blockPublicAccessXML `xml:"blockPublicAccessStates"`
	TagSet                        []tagging.Item       `xml:"tagSet>item,omitempty"`
}

type privateDNSOptionsXML struct {
	HostnameType                    string `xml:"hostnameType"`
	EnableResourceNameDNSARecord    bool   `xml:"enableResourceNameDnsARecord"`
	EnableResourceNameDNSAAAARecord bool   `xml:"enableResourceNameDnsAAAARecord"`
}

type blockPublicAccessXML struct {
	InternetGatewayBlockMode string `xml:"internetGatewayBlockMode"`
}

// view is a subnet with what Describe computes for it.
type view struct {
	s         *koalav1.Subnet
	available int64
}

func state(s *koalav1.Subnet) string {
	if s.Status.State == "" {
		return string(koalav1.NetworkStatePending)
	}
	return string(s.Status.State)
}

func (h *Handlers) render(v *view, ownerID string, zs []string) subnetXML {
	s := v.s
	return subnetXML{
		SubnetID:                      s.EC2ID(),
		SubnetArn:                     fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", h.Region, ownerID, s.EC2ID()),
		State:                         state(s),
		VPCID:                         s.Spec.VPCID,
		OwnerID:                       ownerID,
		CIDRBlock:                     s.Spec.CIDRBlock,
		AvailableIPAddressCount:       v.available,
		AvailabilityZone:              s.Zone(),
		AvailabilityZoneID:            zones.ID(h.Region, zs, s.Zone()),
		DefaultForAZ:                  s.Spec.DefaultForAZ,
		MapPublicIPOnLaunch:           s.Spec.MapPublicIPOnLaunch,
		PrivateDNSNameOptionsOnLaunch: privateDNSOptionsXML{HostnameType: "ip-name"},
		BlockPublicAccessStates:       blockPublicAccessXML{InternetGatewayBlockMode: "off"},
		TagSet:                        tagging.Set(s.Spec.Tags),
	}
}

// available counts the subnet's free addresses now, from the claims.
func (h *Handlers) available(ctx context.Context, s *koalav1.Subnet) (int64, error) {
	space, err := ipam.ParseSubnet(s.Spec.CIDRBlock)
	if err != nil {
		return 0, nil
	}
	claims, err := h.Store.ClaimsOf(ctx, s.EC2ID())
	if err != nil {
		return 0, err
	}
	return max(int64(space.Size())-int64(len(claims)), 0), nil
}

// CreateSubnet.

type createInput struct {
	vpcID, cidr, zone, zoneID string
	tags                      map[string]string
}

func parseCreate(p *protocol.Params) (createInput, error) {
	var in createInput
	var err error
	if in.vpcID, err = p.Required("VpcId"); err != nil {
		return in, err
	}
	if !ids.Valid(ids.VPC, in.vpcID) {
		return in, netview.Malformed(protocol.CodeInvalidVpcIDMalformed, ids.VPC)(in.vpcID)
	}
	cidr, err := p.Required("CidrBlock")
	if err != nil {
		return in, err
	}
	pfx, perr := netip.ParsePrefix(cidr)
	if perr != nil || !pfx.Addr().Is4() {
		return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", cidr)
	}
	if pfx.Bits() < 16 || pfx.Bits() > 28 {
		return in, protocol.Errorf(protocol.CodeInvalidSubnetRange, "The CIDR '%s' is invalid.", cidr)
	}
	in.cidr = pfx.Masked().String()
	in.zone, _ = p.String("AvailabilityZone")
	in.zoneID, _ = p.String("AvailabilityZoneId")
	if v, _, err := p.Bool("Ipv6Native"); err != nil {
		return in, err
	} else if v {
		return in, protocol.InvalidValue("Ipv6Native", "true", "IPv6 is not supported.")
	}
	for _, name := range []string{"Ipv6CidrBlock", "OutpostArn", "Ipv4IpamPoolId", "Ipv4NetmaskLength", "Ipv6IpamPoolId", "Ipv6NetmaskLength"} {
		if v, ok := p.String(name); ok && v != "" {
			return in, protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	specs, err := tagging.Specifications(p, "subnet")
	if err != nil {
		return in, err
	}
	in.tags = specs["subnet"]
	return in, nil
}

type subnetResponse struct {
	protocol.Meta
	Subnet subnetXML `xml:"subnet"`
}

// zone settles the new subnet's zone: the one asked for by name or ID, which must
// exist, else one chosen as the operator would.
func (h *Handlers) zone(ctx context.Context, in createInput, id string) (string, []string, error) {
	zs, err := h.Store.Zones(ctx, h.Region)
	if err != nil {
		return "", nil, err
	}
	switch {
	case in.zone != "":
		for _, z := range zs {
			if z == in.zone {
				return z, zs, nil
			}
		}
		return "", nil, protocol.Errorf(protocol.CodeInvalidParameterValue,
			"Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.", in.zone, strings.Join(zs, ", "))
	case in.zoneID != "":
		for _, z := range zs {
			if zones.ID(h.Region, zs, z) == in.zoneID {
				return z, zs, nil
			}
		}
		return "", nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "Value (%s) for parameter availabilityZoneId is invalid.", in.zoneID)
	}
	labels, err := h.Store.NodeLabels(ctx)
	if err != nil {
		return "", nil, err
	}
	z, _ := zones.Assign(h.Region, labels, id)
	return z, zs, nil
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in createInput) (protocol.Body, error) {
	vpc, err := h.Store.VPC(ctx, c.Account, in.vpcID)
	if err != nil {
		return nil, err
	}
	if vpc == nil || !vpc.DeletionTimestamp.IsZero() {
		return nil, netview.NotFound(protocol.CodeInvalidVpcIDNotFound, "vpc", []string{in.vpcID})
	}
	if !ipam.Contains(vpc.Spec.CIDRBlock, in.cidr) {
		return nil, protocol.Errorf(protocol.CodeInvalidSubnetRange, "The CIDR '%s' is invalid.", in.cidr)
	}
	id := ids.New(ids.Subnet)
	zone, zs, err := h.zone(ctx, in, id)
	if err != nil {
		return nil, err
	}
	mu, _ := h.vpcLocks.LoadOrStore(in.vpcID, &sync.Mutex{})
	lock := mu.(*sync.Mutex)
	lock.Lock()
	defer lock.Unlock()
	siblings, err := h.Store.SubnetsOfVPC(ctx, c.Account, in.vpcID)
	if err != nil {
		return nil, err
	}
	for i := range siblings {
		if ipam.Overlaps(siblings[i].Spec.CIDRBlock, in.cidr) {
			return nil, protocol.Errorf(protocol.CodeInvalidSubnetConflict, "The CIDR '%s' conflicts with another subnet", in.cidr)
		}
	}
	sub := &koalav1.Subnet{
		ObjectMeta: metav1.ObjectMeta{
			Name: id, Namespace: c.Account.Namespace,
			Annotations: map[string]string{koalav1.IDAnnotation: id},
			Finalizers:  []string{subnetFinalizer},
		},
		Spec: koalav1.SubnetSpec{VPCID: in.vpcID, CIDRBlock: in.cidr, AvailabilityZone: zone, Tags: in.tags},
	}
	if err := h.Store.Create(ctx, sub); err != nil {
		return nil, netview.APIError(err, "creating subnet")
	}
	c.Created(id)
	space, _ := ipam.ParseSubnet(in.cidr)
	return &subnetResponse{Subnet: h.render(&view{s: sub, available: int64(space.Size())}, c.Account.ID, zs)}, nil
}

// DeleteSubnet.

// delete removes a subnet no instance is in: every instance holds a claim on one of its
// addresses until it is terminated.
func (h *Handlers) delete(ctx context.Context, c *action.Call, id string) (protocol.Body, error) {
	sub, err := h.Store.Subnet(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if sub == nil {
		return nil, notFound(id)
	}
	if !sub.DeletionTimestamp.IsZero() {
		return protocol.OK(), nil
	}
	claims, err := h.Store.ClaimsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(claims) > 0 {
		return nil, protocol.Errorf(protocol.CodeDependencyViolation, "The subnet '%s' has dependencies and cannot be deleted.", id)
	}
	if err := h.Store.Delete(ctx, sub, client.Preconditions{UID: &sub.UID}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting subnet %s: %w", id, err)
	}
	return protocol.OK(), nil
}

// DescribeSubnets.

func (h *Handlers) subnetFilters(ownerID string, zs []string) filter.Schema[*view] {
	cidr := func(v *view) string { return v.s.Spec.CIDRBlock }
	isDefault := func(v *view) string { return netview.BoolString(v.s.Spec.DefaultForAZ) }
	return filter.Schema[*view]{
		Single: map[string]func(*view) string{
			"subnet-id":                  func(v *view) string { return v.s.EC2ID() },
			"vpc-id":                     func(v *view) string { return v.s.Spec.VPCID },
			"state":                      func(v *view) string { return state(v.s) },
			"cidr-block":                 cidr,
			"cidr":                       cidr,
			"cidrBlock":                  cidr,
			"availability-zone":          func(v *view) string { return v.s.Zone() },
			"availabilityZone":           func(v *view) string { return v.s.Zone() },
			"availability-zone-id":       func(v *view) string { return zones.ID(h.Region, zs, v.s.Zone()) },
			"available-ip-address-count": func(v *view) string { return strconv.FormatInt(v.available, 10) },
			"default-for-az":             isDefault,
			"defaultForAz":               isDefault,
			"map-public-ip-on-launch":    func(v *view) string { return netview.BoolString(v.s.Spec.MapPublicIPOnLaunch) },
			"owner-id":                   func(*view) string { return ownerID },
			"subnet-arn": func(v *view) string {
				return fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", h.Region, ownerID, v.s.EC2ID())
			},
		},
		Tags: func(v *view) map[string]string { return v.s.Spec.Tags },
	}
}

func parseDescribe(p *protocol.Params) (netview.DescribeInput, error) {
	return netview.ParseDescribe(p, "DescribeSubnets", "SubnetId", ids.Subnet, malformed)
}

type describeResponse struct {
	protocol.Meta
	SubnetSet []subnetXML `xml:"subnetSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in netview.DescribeInput) (protocol.Body, error) {
	zs, err := h.Store.Zones(ctx, h.Region)
	if err != nil {
		return nil, err
	}
	match, err := h.subnetFilters(c.Account.ID, zs).Compile(in.Filters)
	if err != nil {
		return nil, err
	}
	candidates, err := netview.Candidates(in.IDs,
		func(id string) (*koalav1.Subnet, error) { return h.Store.Subnet(ctx, c.Account, id) },
		func() ([]koalav1.Subnet, error) { return h.Store.Subnets(ctx, c.Account) },
		notFound)
	if err != nil {
		return nil, err
	}
	var kept []*view
	for _, s := range candidates {
		v := &view{s: s}
		if v.available, err = h.available(ctx, s); err != nil {
			return nil, err
		}
		if match.Match(v) {
			kept = append(kept, v)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].s.EC2ID() < kept[j].s.EC2ID() })
	page, next, err := protocol.Page(kept, func(v **view) string { return (*v).s.EC2ID() }, in.Max, in.Token, in.Scope)
	if err != nil {
		return nil, err
	}
	out := &describeResponse{NextToken: next}
	for _, v := range page {
		out.SubnetSet = append(out.SubnetSet, h.render(v, c.Account.ID, zs))
	}
	return out, nil
}

// ModifySubnetAttribute.

type modifyInput struct {
	id    string
	mapIP *bool
}

func parseModifyAttribute(p *protocol.Params) (modifyInput, error) {
	var in modifyInput
	var err error
	if in.id, err = parseSubnetID(p); err != nil {
		return in, err
	}
	if sub, ok := p.Struct("MapPublicIpOnLaunch"); ok {
		v, has, err := sub.Bool("Value")
		if err != nil {
			return in, err
		}
		if !has {
			return in, protocol.MissingParameter(sub.Path("Value"))
		}
		in.mapIP = &v
	}
	// Attributes Koala does not have can only be set to what they are.
	for _, name := range []string{"AssignIpv6AddressOnCreation", "EnableDns64", "MapCustomerOwnedIpOnLaunch",
		"EnableResourceNameDnsARecordOnLaunch", "EnableResourceNameDnsAAAARecordOnLaunch", "DisableLniAtDeviceIndex"} {
		if sub, ok := p.Struct(name); ok {
			v, _, err := sub.Bool("Value")
			if err != nil {
				return in, err
			}
			if v {
				return in, protocol.InvalidValue(name+".Value", "true", "It is not supported.")
			}
		}
	}
	if t, ok := p.String("PrivateDnsHostnameTypeOnLaunch"); ok && t != "ip-name" {
		return in, protocol.InvalidValue("PrivateDnsHostnameTypeOnLaunch", t, "Only ip-name is supported.")
	}
	for _, name := range []string{"CustomerOwnedIpv4Pool", "EnableLniAtDeviceIndex"} {
		if v, ok := p.String(name); ok && v != "" {
			return in, protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	return in, nil
}

func (h *Handlers) modifyAttribute(ctx context.Context, c *action.Call, in modifyInput) (protocol.Body, error) {
	sub, err := h.Store.Subnet(ctx, c.Account, in.id)
	if err != nil {
		return nil, err
	}
	if sub == nil {
		return nil, notFound(in.id)
	}
	if in.mapIP == nil || sub.Spec.MapPublicIPOnLaunch == *in.mapIP {
		return protocol.OK(), nil
	}
	base := sub.DeepCopy()
	sub.Spec.MapPublicIPOnLaunch = *in.mapIP
	if err := h.Store.Patch(ctx, sub, client.MergeFrom(base)); err != nil {
		return nil, netview.APIError(err, "updating subnet")
	}
	return protocol.OK(), nil
}
