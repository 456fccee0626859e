// Package instances answers EC2's instance actions: RunInstances, DescribeInstances,
// DescribeInstanceStatus, Start/Stop/Reboot/TerminateInstances, Describe/
// ModifyInstanceAttribute and DescribeInstanceCreditSpecifications.
package instances

import (
	"context"
	"time"

	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/quota"
)

// Store is what the handlers read and write.
type Store interface {
	Instance(ctx context.Context, acct store.Account, id string) (*koalav1.Instance, error)
	InstanceByName(ctx context.Context, acct store.Account, name string) (*koalav1.Instance, error)
	Instances(ctx context.Context, acct store.Account) ([]koalav1.Instance, error)
	InstancesByTag(ctx context.Context, acct store.Account, key string, values []string) ([]koalav1.Instance, error)
	InstancesByState(ctx context.Context, acct store.Account, states []string) ([]koalav1.Instance, error)
	Image(ctx context.Context, acct store.Account, id string) (*koalav1.Image, error)
	KeyPairByName(ctx context.Context, acct store.Account, name string) (*koalav1.KeyPair, error)
	InstanceType(ctx context.Context, name string) (*instancetypev1beta1.VirtualMachineClusterInstancetype, error)
	InstanceTypes(ctx context.Context) ([]instancetypev1beta1.VirtualMachineClusterInstancetype, error)
	Zones(ctx context.Context, region string) ([]string, error)
	NodeLabels(ctx context.Context) ([]map[string]string, error)
	Volume(ctx context.Context, acct store.Account, id string) (*koalav1.Volume, error)
	VolumesOfInstance(ctx context.Context, acct store.Account, instanceID string) ([]koalav1.Volume, error)
	Volumes(ctx context.Context, acct store.Account) ([]koalav1.Volume, error)
	Snapshot(ctx context.Context, acct store.Account, id string) (*koalav1.Snapshot, error)
	VPC(ctx context.Context, acct store.Account, id string) (*koalav1.Network, error)
	DefaultVPC(ctx context.Context, acct store.Account) (*koalav1.Network, error)
	Subnet(ctx context.Context, acct store.Account, id string) (*koalav1.Subnet, error)
	Subnets(ctx context.Context, acct store.Account) ([]koalav1.Subnet, error)
	SubnetsOfVPC(ctx context.Context, acct store.Account, vpcID string) ([]koalav1.Subnet, error)
	ClaimsOf(ctx context.Context, scope string) ([]koalav1.NetworkClaim, error)
	SecurityGroup(ctx context.Context, acct store.Account, id string) (*koalav1.SecurityGroup, error)
	SecurityGroupByName(ctx context.Context, acct store.Account, vpcID, name string) (*koalav1.SecurityGroup, error)
	SecurityGroups(ctx context.Context, acct store.Account) ([]koalav1.SecurityGroup, error)
	Addresses(ctx context.Context, acct store.Account) ([]koalav1.Address, error)
	Allocator() *ipam.Allocator
	store.Writer
}

// Handlers answers the instance actions.
type Handlers struct {
	Store  Store
	Region string
	// DefaultInstanceType is launched when RunInstances names none (EC2: m1.small).
	DefaultInstanceType string
	Now                 func() time.Time

	// QuotaLocks are taken while a launch or a start checks the account's quotas and
	// creates or starts its instances; shared with the handlers of volumes, snapshots
	// and images, whose creations count against the same limits.
	QuotaLocks *quota.Locks

	filters filter.Schema[*koalav1.Instance]
}

// Actions returns the instance actions.
func (h *Handlers) Actions() []action.Action {
	h.filters = instanceFilters(h.Region)
	return []action.Action{
		action.Bind("RunInstances", true, h.parseRun, h.run),
		action.Bind("DescribeInstances", false, parseDescribe, h.describe),
		action.Bind("DescribeInstanceStatus", false, parseDescribeStatus, h.describeStatus),
		action.Bind("DescribeInstanceCreditSpecifications", false, parseDescribeCredits, h.describeCredits),
		action.Bind("StartInstances", true, parseIDs, h.start),
		action.Bind("StopInstances", true, parseStop, h.stop),
		action.Bind("RebootInstances", true, parseIDs, h.reboot),
		action.Bind("TerminateInstances", true, parseIDs, h.terminate),
		action.Bind("DescribeInstanceAttribute", false, parseDescribeAttribute, h.describeAttribute),
		action.Bind("ModifyInstanceAttribute", true, parseModifyAttribute, h.modifyAttribute),
	}
}
