package store

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/ipam"
)

// Lookups of the network kinds. As in lookup.go, single lookups return copies the
// caller may change; lists are shared with the cache and read-only.

// Allocator hands out subnet addresses and public addresses through claims.
func (s *Store) Allocator() *ipam.Allocator { return s.alloc }

// byID returns the account's object of a kind with that EC2 ID, or nil.
func byID[L client.ObjectList](ctx context.Context, s *Store, acct Account, list L, id string, items func(L) int) (L, bool, error) {
	if err := s.cache.List(ctx, list, client.InNamespace(acct.Namespace), client.MatchingFields{index.EC2ID: id}); err != nil {
		return list, false, fmt.Errorf("looking up %s: %w", id, err)
	}
	return list, items(list) > 0, nil
}

// VPC returns the account's VPC with that ID, or nil.
func (s *Store) VPC(ctx context.Context, acct Account, id string) (*koalav1.Network, error) {
	list, ok, err := byID(ctx, s, acct, &koalav1.NetworkList{}, id, func(l *koalav1.NetworkList) int { return len(l.Items) })
	if err != nil || !ok {
		return nil, err
	}
	return &list.Items[0], nil
}

// VPCs returns all the account's VPCs, read-only.
func (s *Store) VPCs(ctx context.Context, acct Account) ([]koalav1.Network, error) {
	var list koalav1.NetworkList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing VPCs: %w", err)
	}
	return list.Items, nil
}

// DefaultVPC returns the account's default VPC, or nil.
func (s *Store) DefaultVPC(ctx context.Context, acct Account) (*koalav1.Network, error) {
	vpcs, err := s.VPCs(ctx, acct)
	if err != nil {
		return nil, err
	}
	for i := range vpcs {
		if vpcs[i].Spec.IsDefault && vpcs[i].DeletionTimestamp.IsZero() && vpcs[i].EC2ID() != "" {
			return vpcs[i].DeepCopy(), nil
		}
	}
	return nil, nil
}

// Subnet returns the account's subnet with that ID, or nil.
func (s *Store) Subnet(ctx context.Context, acct Account, id string) (*koalav1.Subnet, error) {
	list, ok, err := byID(ctx, s, acct, &koalav1.SubnetList{}, id, func(l *koalav1.SubnetList) int { return len(l.Items) })
	if err != nil || !ok {
		return nil, err
	}
	return &list.Items[0], nil
}

// Subnets returns all the account's subnets, read-only.
func (s *Store) Subnets(ctx context.Context, acct Account) ([]koalav1.Subnet, error) {
	var list koalav1.SubnetList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing subnets: %w", err)
	}
	return list.Items, nil
}

// SubnetsOfVPC returns the account's subnets of a VPC, read-only.
func (s *Store) SubnetsOfVPC(ctx context.Context, acct Account, vpcID string) ([]koalav1.Subnet, error) {
	var list koalav1.SubnetList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.VPCID: vpcID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the subnets of %s: %w", vpcID, err)
	}
	return list.Items, nil
}

// SecurityGroup returns the account's security group with that ID, or nil.
func (s *Store) SecurityGroup(ctx context.Context, acct Account, id string) (*koalav1.SecurityGroup, error) {
	list, ok, err := byID(ctx, s, acct, &koalav1.SecurityGroupList{}, id, func(l *koalav1.SecurityGroupList) int { return len(l.Items) })
	if err != nil || !ok {
		return nil, err
	}
	return &list.Items[0], nil
}

// SecurityGroupByName returns the VPC's group of that name (the oldest, when kubectl
// users made several), or nil.
func (s *Store) SecurityGroupByName(ctx context.Context, acct Account, vpcID, name string) (*koalav1.SecurityGroup, error) {
	var list koalav1.SecurityGroupList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.GroupName: index.GroupNameValue(vpcID, name)}); err != nil {
		return nil, fmt.Errorf("looking up security group %q: %w", name, err)
	}
	var first *koalav1.SecurityGroup
	for i := range list.Items {
		if g := &list.Items[i]; first == nil || g.Precedes(first) {
			first = g
		}
	}
	return first, nil
}

// SecurityGroups returns all the account's security groups, read-only.
func (s *Store) SecurityGroups(ctx context.Context, acct Account) ([]koalav1.SecurityGroup, error) {
	var list koalav1.SecurityGroupList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing security groups: %w", err)
	}
	return list.Items, nil
}

// SecurityGroupsOfVPC returns the account's security groups of a VPC, read-only.
func (s *Store) SecurityGroupsOfVPC(ctx context.Context, acct Account, vpcID string) ([]koalav1.SecurityGroup, error) {
	var list koalav1.SecurityGroupList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.VPCID: vpcID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the security groups of %s: %w", vpcID, err)
	}
	return list.Items, nil
}

// GroupsReferencing returns the account's groups whose rules name the group, read-only.
func (s *Store) GroupsReferencing(ctx context.Context, acct Account, groupID string) ([]koalav1.SecurityGroup, error) {
	var list koalav1.SecurityGroupList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.ReferencedGroupID: groupID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the groups that reference %s: %w", groupID, err)
	}
	return list.Items, nil
}

// Address returns the account's Elastic IP with that allocation ID, or nil.
func (s *Store) Address(ctx context.Context, acct Account, id string) (*koalav1.Address, error) {
	list, ok, err := byID(ctx, s, acct, &koalav1.AddressList{}, id, func(l *koalav1.AddressList) int { return len(l.Items) })
	if err != nil || !ok {
		return nil, err
	}
	return &list.Items[0], nil
}

// Addresses returns all the account's Elastic IPs, read-only.
func (s *Store) Addresses(ctx context.Context, acct Account) ([]koalav1.Address, error) {
	var list koalav1.AddressList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	return list.Items, nil
}

// AddressesOfInstance returns the account's Elastic IPs associated (in spec) with the
// instance, read-only.
func (s *Store) AddressesOfInstance(ctx context.Context, acct Account, instanceID string) ([]koalav1.Address, error) {
	var list koalav1.AddressList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.AddressInstanceID: instanceID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the addresses of %s: %w", instanceID, err)
	}
	return list.Items, nil
}

// InstancesInGroup returns the account's instances that are in the security group or
// asked to be, terminated ones excepted, read-only.
func (s *Store) InstancesInGroup(ctx context.Context, acct Account, groupID string) ([]koalav1.Instance, error) {
	var list koalav1.InstanceList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.InstanceGroupID: groupID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the instances of %s: %w", groupID, err)
	}
	out := list.Items[:0]
	for _, inst := range list.Items {
		if inst.Status.State != koalav1.InstanceStateTerminated && inst.Spec.State != koalav1.DesiredStateTerminated {
			out = append(out, inst)
		}
	}
	return out, nil
}

// ClaimsOf returns the claims of a scope (a subnet's ID, a pool's name), read-only.
func (s *Store) ClaimsOf(ctx context.Context, scope string) ([]koalav1.NetworkClaim, error) {
	var list koalav1.NetworkClaimList
	if err := s.cache.List(ctx, &list, client.MatchingFields{index.ClaimScope: scope}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the claims of %s: %w", scope, err)
	}
	return list.Items, nil
}

// ProviderNetworks returns the cluster's provider networks, read-only.
func (s *Store) ProviderNetworks(ctx context.Context) ([]koalav1.ProviderNetwork, error) {
	var list koalav1.ProviderNetworkList
	if err := s.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing provider networks: %w", err)
	}
	return list.Items, nil
}

// AddressPools returns the cluster's address pools, read-only.
func (s *Store) AddressPools(ctx context.Context) ([]koalav1.AddressPool, error) {
	var list koalav1.AddressPoolList
	if err := s.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing address pools: %w", err)
	}
	return list.Items, nil
}
