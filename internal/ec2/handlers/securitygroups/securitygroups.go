// Package securitygroups answers EC2's security group actions: CreateSecurityGroup,
// DeleteSecurityGroup, DescribeSecurityGroups, DescribeSecurityGroupRules,
// Authorize/RevokeSecurityGroupIngress/Egress and ModifySecurityGroupRules. A group is
// a SecurityGroup object; the operator enforces its rules with a NetworkPolicy and a
// MultiNetworkPolicy that select its members.
package securitygroups

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/netview"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
)

// Store is what the handlers read and write.
type Store interface {
	VPC(ctx context.Context, acct store.Account, id string) (*koalav1.Network, error)
	DefaultVPC(ctx context.Context, acct store.Account) (*koalav1.Network, error)
	SecurityGroup(ctx context.Context, acct store.Account, id string) (*koalav1.SecurityGroup, error)
	SecurityGroupByName(ctx context.Context, acct store.Account, vpcID, name string) (*koalav1.SecurityGroup, error)
	SecurityGroups(ctx context.Context, acct store.Account) ([]koalav1.SecurityGroup, error)
	GroupsReferencing(ctx context.Context, acct store.Account, groupID string) ([]koalav1.SecurityGroup, error)
	// InstancesInGroup returns the account's instances (not terminated) that are members
	// of the group, read-only.
	InstancesInGroup(ctx context.Context, acct store.Account, groupID string) ([]koalav1.Instance, error)
	store.Writer
}

// Handlers answers the security group actions.
type Handlers struct {
	Store  Store
	Region string
}

// Actions returns the security group actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("CreateSecurityGroup", true, parseCreate, h.create),
		action.Bind("DeleteSecurityGroup", true, parseGroupRef, h.delete),
		action.Bind("DescribeSecurityGroups", false, parseDescribe, h.describe),
		action.Bind("DescribeSecurityGroupRules", false, parseDescribeRules, h.describeRules),
		action.Bind("AuthorizeSecurityGroupIngress", true, parseChange(ingress, true), h.authorize),
		action.Bind("AuthorizeSecurityGroupEgress", true, parseChange(egress, true), h.authorize),
		action.Bind("RevokeSecurityGroupIngress", true, parseChange(ingress, false), h.revoke),
		action.Bind("RevokeSecurityGroupEgress", true, parseChange(egress, false), h.revoke),
		action.Bind("ModifySecurityGroupRules", true, parseModifyRules, h.modifyRules),
	}
}

// securityGroupFinalizer is the operator's; set at creation so that it need not spend a
// write.
const securityGroupFinalizer = "cloud.koala.dev/security-group"

// defaultGroupName is every VPC's default group's name.
const defaultGroupName = "default"

// maxRules is EC2's limit of rules per direction of a group.
const maxRules = 60

var malformed = netview.Malformed(protocol.CodeInvalidGroupIDMalformed, ids.SecurityGroup)

func groupNotFound(what string) error {
	return protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist", what)
}

// objectName is a group's object name (and ID): derived from its VPC and name, so that
// the API server refuses a second group of one name in one VPC, across every replica.
func objectName(vpcID, groupName string) string {
	return ids.FromSeed(ids.SecurityGroup, vpcID, groupName)
}

func arn(region, ownerID, id string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", region, ownerID, id)
}

// groupRef names a group by ID, or by name in the default VPC (EC2's GroupName
// parameters mean the default VPC's group).
type groupRef struct{ id, name string }

func parseGroupRef(p *protocol.Params) (groupRef, error) {
	var ref groupRef
	ref.id, _ = p.String("GroupId")
	ref.name, _ = p.String("GroupName")
	switch {
	case ref.id == "" && ref.name == "":
		return ref, protocol.MissingParameter("GroupId or GroupName")
	case ref.id != "" && !ids.Valid(ids.SecurityGroup, ref.id):
		return ref, malformed(ref.id)
	}
	return ref, nil
}

// find resolves a group reference of the account.
func (h *Handlers) find(ctx context.Context, c *action.Call, ref groupRef) (*koalav1.SecurityGroup, error) {
	if ref.id != "" {
		g, err := h.Store.SecurityGroup(ctx, c.Account, ref.id)
		if err != nil {
			return nil, err
		}
		if g == nil || !g.DeletionTimestamp.IsZero() {
			return nil, groupNotFound(ref.id)
		}
		return g, nil
	}
	vpc, err := h.Store.DefaultVPC(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	if vpc == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist in default VPC 'none'", ref.name)
	}
	g, err := h.Store.SecurityGroupByName(ctx, c.Account, vpc.EC2ID(), ref.name)
	if err != nil {
		return nil, err
	}
	if g == nil || !g.DeletionTimestamp.IsZero() {
		return nil, protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist in default VPC '%s'", ref.name, vpc.EC2ID())
	}
	return g, nil
}

// CreateSecurityGroup.

type createInput struct {
	name, description, vpcID string
	tags                     map[string]string
}

// checkText applies EC2's rule for group names and descriptions: 0 to 255 characters
// of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*.
func checkText(what, s string) error {
	if len(s) > 255 {
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid %s: it may be at most 255 characters long", what)
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid %s: it may contain printable ASCII characters only", what)
		}
	}
	return nil
}

func parseCreate(p *protocol.Params) (createInput, error) {
	var in createInput
	var err error
	if in.name, err = p.Required("GroupName"); err != nil {
		return in, err
	}
	if err := checkText("group name", in.name); err != nil {
		return in, err
	}
	if strings.HasPrefix(in.name, "sg-") {
		return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "Group names may not be in the format sg-*.")
	}
	if in.description, err = p.Required("GroupDescription"); err != nil {
		return in, err
	}
	if err := checkText("description", in.description); err != nil {
		return in, err
	}
	if in.vpcID, _ = p.String("VpcId"); in.vpcID != "" && !ids.Valid(ids.VPC, in.vpcID) {
		return in, netview.Malformed(protocol.CodeInvalidVpcIDMalformed, ids.VPC)(in.vpcID)
	}
	specs, err := tagging.Specifications(p, "security-group")
	if err != nil {
		return in, err
	}
	in.tags = specs["security-group"]
	return in, nil
}

type createResponse struct {
	protocol.Meta
	Return           bool           `xml:"return"`
	GroupID          string         `xml:"groupId"`
	TagSet           []tagging.Item `xml:"tagSet>item,omitempty"`
	SecurityGroupArn string         `xml:"securityGroupArn"`
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in createInput) (protocol.Body, error) {
	var vpc *koalav1.Network
	var err error
	if in.vpcID != "" {
		if vpc, err = h.Store.VPC(ctx, c.Account, in.vpcID); err != nil {
			return nil, err
		}
		if vpc == nil || !vpc.DeletionTimestamp.IsZero() {
			return nil, netview.NotFound(protocol.CodeInvalidVpcIDNotFound, "vpc", []string{in.vpcID})
		}
	} else {
		if vpc, err = h.Store.DefaultVPC(ctx, c.Account); err != nil {
			return nil, err
		}
		if vpc == nil {
			return nil, protocol.Errorf(protocol.CodeVPCIDNotSpecified, "No default VPC for this user")
		}
	}
	vpcID := vpc.EC2ID()
	if in.name == defaultGroupName {
		return nil, protocol.Errorf(protocol.CodeInvalidGroupReserved, "The security group name '%s' is reserved", in.name)
	}
	duplicate := protocol.Errorf(protocol.CodeInvalidGroupDuplicate, "The security group '%s' already exists for VPC '%s'", in.name, vpcID)
	if existing, err := h.Store.SecurityGroupByName(ctx, c.Account, vpcID, in.name); err != nil {
		return nil, err
	} else if existing != nil {
		return nil, duplicate
	}
	id := objectName(vpcID, in.name)
	allowAll := koalav1.AllowAllEgress()
	allowAll.RuleID = ids.New(ids.SecurityGroupRule)
	g := &koalav1.SecurityGroup{
		ObjectMeta: metav1.ObjectMeta{
			Name: id, Namespace: c.Account.Namespace,
			Annotations: map[string]string{koalav1.IDAnnotation: id},
			Finalizers:  []string{securityGroupFinalizer},
		},
		Spec: koalav1.SecurityGroupSpec{
			VPCID: vpcID, GroupName: in.name, Description: in.description, Tags: in.tags,
			// EC2's default outbound rule, with an ID of its own so that it can be revoked.
			Egress: []koalav1.SecurityGroupRule{allowAll},
		},
	}
	if err := h.Store.Create(ctx, g); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, duplicate
		}
		return nil, netview.APIError(err, "creating security group")
	}
	c.Created(id)
	return &createResponse{Return: true, GroupID: id, TagSet: tagging.Set(in.tags), SecurityGroupArn: arn(h.Region, c.Account.ID, id)}, nil
}

// DeleteSecurityGroup.

type deleteResponse struct {
	protocol.Meta
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

// delete removes a group that no instance uses and no other group's rules name, as in
// EC2; a VPC's default group goes only with its VPC.
func (h *Handlers) delete(ctx context.Context, c *action.Call, ref groupRef) (protocol.Body, error) {
	g, err := h.find(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	id := g.EC2ID()
	if g.Spec.GroupName == defaultGroupName {
		return nil, protocol.Errorf(protocol.CodeCannotDelete, "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", id)
	}
	members, err := h.Store.InstancesInGroup(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if len(members) > 0 {
		return nil, protocol.Errorf(protocol.CodeDependencyViolation, "resource %s has a dependent object", id)
	}
	referencing, err := h.Store.GroupsReferencing(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	for i := range referencing {
		if o := &referencing[i]; o.UID != g.UID && o.DeletionTimestamp.IsZero() {
			return nil, protocol.Errorf(protocol.CodeDependencyViolation, "resource %s has a dependent object", id)
		}
	}
	if err := h.Store.Delete(ctx, g, client.Preconditions{UID: &g.UID}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting security group %s: %w", id, err)
	}
	return &deleteResponse{Return: true, GroupID: id}, nil
}
