// Package vpcs answers EC2's VPC actions: CreateVpc, CreateDefaultVpc, DeleteVpc,
// DescribeVpcs, ModifyVpcAttribute and DescribeVpcAttribute. A VPC is a Network
// object; the operator puts it on a provider network and gives it a default security
// group (and, for a default VPC, default subnets).
package vpcs

import (
	"context"
	"fmt"
	"net/netip"
	"sort"

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
)

// Store is what the handlers read and write.
type Store interface {
	VPC(ctx context.Context, acct store.Account, id string) (*koalav1.Network, error)
	VPCs(ctx context.Context, acct store.Account) ([]koalav1.Network, error)
	DefaultVPC(ctx context.Context, acct store.Account) (*koalav1.Network, error)
	SubnetsOfVPC(ctx context.Context, acct store.Account, vpcID string) ([]koalav1.Subnet, error)
	SecurityGroupsOfVPC(ctx context.Context, acct store.Account, vpcID string) ([]koalav1.SecurityGroup, error)
	ProviderNetworks(ctx context.Context) ([]koalav1.ProviderNetwork, error)
	store.Writer
}

// Handlers answers the VPC actions.
type Handlers struct {
	Store Store
}

// Actions returns the VPC actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("CreateVpc", true, parseCreate, h.create),
		action.Bind("CreateDefaultVpc", true, action.NoInput, h.createDefault),
		action.Bind("DeleteVpc", true, parseVPCID, h.delete),
		action.Bind("DescribeVpcs", false, parseDescribe, h.describe),
		action.Bind("ModifyVpcAttribute", true, parseModifyAttribute, h.modifyAttribute),
		action.Bind("DescribeVpcAttribute", false, parseDescribeAttribute, h.describeAttribute),
	}
}

// networkFinalizer is the operator's; set at creation so that it need not spend a write.
const networkFinalizer = "cloud.koala.dev/network"

// defaultCIDR is a default VPC's range, as in EC2.
const defaultCIDR = "172.31.0.0/16"

var malformed = netview.Malformed(protocol.CodeInvalidVpcIDMalformed, ids.VPC)

func notFound(missing ...string) error {
	return netview.NotFound(protocol.CodeInvalidVpcIDNotFound, "vpc", missing)
}

func parseVPCID(p *protocol.Params) (string, error) {
	id, err := p.Required("VpcId")
	if err != nil {
		return "", err
	}
	if !ids.Valid(ids.VPC, id) {
		return "", malformed(id)
	}
	return id, nil
}

// checkCIDR applies EC2's rules to a VPC's range: an IPv4 CIDR (else
// InvalidParameterValue) of prefix length 16 to 28 (else InvalidVpc.Range), returned
// in canonical form.
func checkCIDR(cidr string) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", cidr)
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return "", protocol.Errorf(protocol.CodeInvalidVpcRange, "The CIDR '%s' is invalid.", cidr)
	}
	return p.Masked().String(), nil
}

// vpcXML is a VPC as EC2 shows it.
type vpcXML struct {
	VPCID                   string               `xml:"vpcId"`
	OwnerID                 string               `xml:"ownerId"`
	State                   string               `xml:"state"`
	CIDRBlock               string               `xml:"cidrBlock"`
	CIDRBlockAssociationSet []cidrAssociationXML `xml:"cidrBlockAssociationSet>item"`
	IPv6CIDRAssociationSet  struct{}             `xml:"ipv6CidrBlockAssociationSet"`
	DHCPOptionsID           string               `xml:"dhcpOptionsId"`
	InstanceTenancy         string               `xml:"instanceTenancy"`
	IsDefault               bool                 `xml:"isDefault"`
	TagSet                  []tagging.Item       `xml:"tagSet>item,omitempty"`
	BlockPublicAccessStates blockPublicAccessXML `xml:"blockPublicAccessStates"`
}

type cidrAssociationXML struct {
	AssociationID  string   `xml:"associationId"`
	CIDRBlock      string   `xml:"cidrBlock"`
	CIDRBlockState stateXML `xml:"cidrBlockState"`
}

type stateXML struct {
	State string `xml:"state"`
}

type blockPublicAccessXML struct {
	InternetGatewayBlockMode string `xml:"internetGatewayBlockMode"`
}

func state(n *koalav1.Network) string {
	if n.Status.State == "" {
		return string(koalav1.NetworkStatePending)
	}
	return string(n.Status.State)
}

// associationID is the ID of the VPC's one CIDR association, derived from the VPC.
func associationID(vpcID string) string { return ids.FromSeed("vpc-cidr-assoc", vpcID) }

func render(n *koalav1.Network, ownerID string) vpcXML {
	return vpcXML{
		VPCID:     n.EC2ID(),
		OwnerID:   ownerID,
		State:     state(n),
		CIDRBlock: n.Spec.CIDRBlock,
		CIDRBlockAssociationSet: []cidrAssociationXML{{
			AssociationID: associationID(n.EC2ID()), CIDRBlock: n.Spec.CIDRBlock, CIDRBlockState: stateXML{State: "associated"},
		}},
		DHCPOptionsID:           "default",
		InstanceTenancy:         "default",
		IsDefault:               n.Spec.IsDefault,
		TagSet:                  tagging.Set(n.Spec.Tags),
		BlockPublicAccessStates: blockPublicAccessXML{InternetGatewayBlockMode: "off"},
	}
}

type vpcResponse struct {
	protocol.Meta
	VPC vpcXML `xml:"vpc"`
}

// CreateVpc.

type createInput struct {
	cidr string
	tags map[string]string
}

func parseCreate(p *protocol.Params) (createInput, error) {
	var in createInput
	cidr, err := p.Required("CidrBlock")
	if err != nil {
		return in, err
	}
	if in.cidr, err = checkCIDR(cidr); err != nil {
		return in, err
	}
	if v, _, err := p.Bool("AmazonProvidedIpv6CidrBlock"); err != nil {
		return in, err
	} else if v {
		return in, protocol.InvalidValue("AmazonProvidedIpv6CidrBlock", "true", "IPv6 is not supported.")
	}
	if t, ok := p.String("InstanceTenancy"); ok && t != "default" {
		return in, protocol.InvalidValue("InstanceTenancy", t, "Only the default tenancy is supported.")
	}
	for _, name := range []string{"Ipv4IpamPoolId", "Ipv4NetmaskLength", "Ipv6IpamPoolId", "Ipv6NetmaskLength", "Ipv6Pool", "Ipv6CidrBlock", "Ipv6CidrBlockNetworkBorderGroup"} {
		if v, ok := p.String(name); ok && v != "" {
			return in, protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	specs, err := tagging.Specifications(p, "vpc")
	if err != nil {
		return in, err
	}
	in.tags = specs["vpc"]
	return in, nil
}

// checkProviderNetwork refuses to make a VPC that could never become available: the
// cluster has no provider network to put it on.
func (h *Handlers) checkProviderNetwork(ctx context.Context) error {
	pns, err := h.Store.ProviderNetworks(ctx)
	if err != nil {
		return err
	}
	if koalav1.DefaultProviderNetwork(pns) == nil {
		return protocol.Errorf(protocol.CodeUnsupportedOperation, "This cloud has no network for VPCs yet: the platform team has to configure a default ProviderNetwork")
	}
	return nil
}

func (h *Handlers) createNetwork(ctx context.Context, c *action.Call, spec koalav1.NetworkSpec) (*koalav1.Network, error) {
	if err := h.checkProviderNetwork(ctx); err != nil {
		return nil, err
	}
	id := ids.New(ids.VPC)
	n := &koalav1.Network{
		ObjectMeta: metav1.ObjectMeta{
			Name: id, Namespace: c.Account.Namespace,
			Annotations: map[string]string{koalav1.IDAnnotation: id},
			Finalizers:  []string{networkFinalizer},
		},
		Spec: spec,
	}
	if err := h.Store.Create(ctx, n); err != nil {
		return nil, netview.APIError(err, "creating VPC")
	}
	c.Created(id)
	return n, nil
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in createInput) (protocol.Body, error) {
	n, err := h.createNetwork(ctx, c, koalav1.NetworkSpec{CIDRBlock: in.cidr, Tags: in.tags})
	if err != nil {
		return nil, err
	}
	return &vpcResponse{VPC: render(n, c.Account.ID)}, nil
}

func (h *Handlers) createDefault(ctx context.Context, c *action.Call, _ struct{}) (protocol.Body, error) {
	existing, err := h.Store.DefaultVPC(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, protocol.Errorf(protocol.CodeDefaultVpcAlreadyExists, "A Default VPC already exists for this account in this region.")
	}
	n, err := h.createNetwork(ctx, c, koalav1.NetworkSpec{CIDRBlock: defaultCIDR, IsDefault: true, EnableDNSHostnames: true})
	if err != nil {
		return nil, err
	}
	return &vpcResponse{VPC: render(n, c.Account.ID)}, nil
}

// DeleteVpc.

// delete removes a VPC that has nothing left in it: its subnets (and so its
// instances) and its security groups other than the default one must be gone first,
// as in EC2.
func (h *Handlers) delete(ctx context.Context, c *action.Call, id string) (protocol.Body, error) {
	n, err := h.Store.VPC(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, notFound(id)
	}
	if !n.DeletionTimestamp.IsZero() {
		return protocol.OK(), nil
	}
	subnets, err := h.Store.SubnetsOfVPC(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if len(subnets) > 0 {
		return nil, protocol.Errorf(protocol.CodeDependencyViolation, "The vpc '%s' has dependencies and cannot be deleted.", id)
	}
	groups, err := h.Store.SecurityGroupsOfVPC(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	for i := range groups {
		if groups[i].Spec.GroupName != "default" {
			return nil, protocol.Errorf(protocol.CodeDependencyViolation, "The vpc '%s' has dependencies and cannot be deleted.", id)
		}
	}
	if err := h.Store.Delete(ctx, n, client.Preconditions{UID: &n.UID}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting VPC %s: %w", id, err)
	}
	return protocol.OK(), nil
}

// DescribeVpcs.

func vpcFilters(ownerID string) filter.Schema[*koalav1.Network] {
	cidr := func(n *koalav1.Network) string { return n.Spec.CIDRBlock }
	return filter.Schema[*koalav1.Network]{
		Single: map[string]func(*koalav1.Network) string{
			"vpc-id":                                func(n *koalav1.Network) string { return n.EC2ID() },
			"state":                                 state,
			"cidr":                                  cidr,
			"cidr-block":                            cidr,
			"cidrBlock":                             cidr,
			"cidr-block-association.cidr-block":     cidr,
			"cidr-block-association.association-id": func(n *koalav1.Network) string { return associationID(n.EC2ID()) },
			"cidr-block-association.state":          func(*koalav1.Network) string { return "associated" },
			"dhcp-options-id":                       func(*koalav1.Network) string { return "default" },
			"is-default":                            func(n *koalav1.Network) string { return netview.BoolString(n.Spec.IsDefault) },
			"isDefault":                             func(n *koalav1.Network) string { return netview.BoolString(n.Spec.IsDefault) },
			"instance-tenancy":                      func(*koalav1.Network) string { return "default" },
			"owner-id":                              func(*koalav1.Network) string { return ownerID },
		},
		Tags: func(n *koalav1.Network) map[string]string { return n.Spec.Tags },
	}
}

func parseDescribe(p *protocol.Params) (netview.DescribeInput, error) {
	return netview.ParseDescribe(p, "DescribeVpcs", "VpcId", ids.VPC, malformed)
}

type describeResponse struct {
	protocol.Meta
	VPCSet    []vpcXML `xml:"vpcSet>item"`
	NextToken string   `xml:"nextToken,omitempty"`
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in netview.DescribeInput) (protocol.Body, error) {
	match, err := vpcFilters(c.Account.ID).Compile(in.Filters)
	if err != nil {
		return nil, err
	}
	candidates, err := netview.Candidates(in.IDs,
		func(id string) (*koalav1.Network, error) { return h.Store.VPC(ctx, c.Account, id) },
		func() ([]koalav1.Network, error) { return h.Store.VPCs(ctx, c.Account) },
		notFound)
	if err != nil {
		return nil, err
	}
	kept := candidates[:0]
	for _, n := range candidates {
		if match.Match(n) {
			kept = append(kept, n)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].EC2ID() < kept[j].EC2ID() })
	page, next, err := protocol.Page(kept, func(n **koalav1.Network) string { return (*n).EC2ID() }, in.Max, in.Token, in.Scope)
	if err != nil {
		return nil, err
	}
	out := &describeResponse{NextToken: next}
	for _, n := range page {
		out.VPCSet = append(out.VPCSet, render(n, c.Account.ID))
	}
	return out, nil
}

// ModifyVpcAttribute and DescribeVpcAttribute.

type modifyInput struct {
	id        string
	attribute string
	value     bool
}

func parseModifyAttribute(p *protocol.Params) (modifyInput, error) {
	var in modifyInput
	var err error
	if in.id, err = parseVPCID(p); err != nil {
		return in, err
	}
	for _, name := range []string{"EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics"} {
		sub, ok := p.Struct(name)
		if !ok {
			continue
		}
		if in.attribute != "" {
			return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "Only one attribute can be modified at a time")
		}
		v, has, err := sub.Bool("Value")
		if err != nil {
			return in, err
		}
		if !has {
			return in, protocol.MissingParameter(sub.Path("Value"))
		}
		in.attribute, in.value = name, v
	}
	if in.attribute == "" {
		return in, protocol.MissingParameter("EnableDnsSupport or EnableDnsHostnames")
	}
	if in.attribute == "EnableNetworkAddressUsageMetrics" && in.value {
		return in, protocol.InvalidValue("EnableNetworkAddressUsageMetrics.Value", "true", "Network address usage metrics are not supported.")
	}
	return in, nil
}

func (h *Handlers) modifyAttribute(ctx context.Context, c *action.Call, in modifyInput) (protocol.Body, error) {
	n, err := h.Store.VPC(ctx, c.Account, in.id)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, notFound(in.id)
	}
	base := n.DeepCopy()
	switch in.attribute {
	case "EnableDnsSupport":
		v := in.value
		n.Spec.EnableDNSSupport = &v
	case "EnableDnsHostnames":
		n.Spec.EnableDNSHostnames = in.value
	default:
		return protocol.OK(), nil
	}
	if err := h.Store.Patch(ctx, n, client.MergeFrom(base)); err != nil {
		return nil, netview.APIError(err, "updating VPC")
	}
	return protocol.OK(), nil
}

type attributeInput struct{ id, attribute string }

func parseDescribeAttribute(p *protocol.Params) (attributeInput, error) {
	var in attributeInput
	var err error
	if in.id, err = parseVPCID(p); err != nil {
		return in, err
	}
	if in.attribute, err = p.Required("Attribute"); err != nil {
		return in, err
	}
	switch in.attribute {
	case "enableDnsSupport", "enableDnsHostnames", "enableNetworkAddressUsageMetrics":
		return in, nil
	}
	return in, protocol.InvalidValue("Attribute", in.attribute, "Expected enableDnsSupport, enableDnsHostnames or enableNetworkAddressUsageMetrics.")
}

type boolValueXML struct {
	Value bool `xml:"value"`
}

type attributeResponse struct {
	protocol.Meta
	VPCID                            string        `xml:"vpcId"`
	EnableDNSSupport                 *boolValueXML `xml:"enableDnsSupport,omitempty"`
	EnableDNSHostnames               *boolValueXML `xml:"enableDnsHostnames,omitempty"`
	EnableNetworkAddressUsageMetrics *boolValueXML `xml:"enableNetworkAddressUsageMetrics,omitempty"`
}

func (h *Handlers) describeAttribute(ctx context.Context, c *action.Call, in attributeInput) (protocol.Body, error) {
	n, err := h.Store.VPC(ctx, c.Account, in.id)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, notFound(in.id)
	}
	out := &attributeResponse{VPCID: in.id}
	switch in.attribute {
	case "enableDnsSupport":
		out.EnableDNSSupport = &boolValueXML{Value: n.Spec.DNSSupport()}
	case "enableDnsHostnames":
		out.EnableDNSHostnames = &boolValueXML{Value: n.Spec.EnableDNSHostnames}
	default:
		out.EnableNetworkAddressUsageMetrics = &boolValueXML{}
	}
	return out, nil
}
