// Package index declares the cache field indexes that the operator and the EC2 endpoint
// look Koala objects up by, so that no lookup lists and scans.
package index

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// Index names.
const (
	// EC2ID indexes Instances, Images, KeyPairs, Volumes, Snapshots, Networks, Subnets,
	// SecurityGroups and Addresses by their EC2 ID.
	EC2ID = "koala.ec2id"
	// ImageID indexes Instances by spec.imageId.
	ImageID = "koala.spec.imageId"
	// InstanceType indexes Instances by spec.instanceType.
	InstanceType = "koala.spec.instanceType"
	// KeyName indexes Instances by spec.keyName and KeyPairs by their key name.
	KeyName = "koala.keyName"
	// Tag indexes Instances by each of their tags, as TagValue(key, value).
	Tag = "koala.tag"
	// InstanceState indexes Instances by the state EC2 clients see (DisplayState).
	InstanceState = "koala.instance.state"
	// VolumeInstanceID indexes Volumes by the EC2 IDs of the instances they are attached
	// to, or being attached to or detached from (spec and status).
	VolumeInstanceID = "koala.volume.instanceId"
	// SnapshotID indexes by the snapshots they use: Images (root and devices), Volumes
	// (spec.snapshotId) and Snapshots (spec.sourceSnapshotId of a copy).
	SnapshotID = "koala.snapshotId"
	// AccountID indexes Accounts by their 12-digit ID (spec's, else status's).
	AccountID = "koala.accountId"
	// AccessKeyID indexes AccessKeys by their key ID.
	AccessKeyID = "koala.accessKeyId"
	// AccessKeyAccount indexes AccessKeys by the Account they act in.
	AccessKeyAccount = "koala.accessKey.account"
	// VPCID indexes Subnets and SecurityGroups by the VPC they belong to.
	VPCID = "koala.vpcId"
	// GroupName indexes SecurityGroups by GroupNameValue(vpcId, groupName).
	GroupName = "koala.groupName"
	// ReferencedGroupID indexes SecurityGroups by the groups their rules reference.
	ReferencedGroupID = "koala.referencedGroupId"
	// AddressInstanceID indexes Addresses by the instance they are associated with.
	AddressInstanceID = "koala.address.instanceId"
	// ClaimScope indexes NetworkClaims by their scope (a subnet's ID, a pool's name, a
	// provider network's name).
	ClaimScope = "koala.claim.scope"
	// ClaimHolder indexes NetworkClaims by ClaimHolderValue(namespace, name) of their
	// holder.
	ClaimHolder = "koala.claim.holder"
	// InstanceGroupID indexes Instances by their security groups (spec's and status's),
	// for a group's DependencyViolation and its Elastic IPs.
	InstanceGroupID = "koala.instance.groupId"
	// ProviderNetwork indexes Networks by the provider network they are on.
	ProviderNetwork = "koala.providerNetwork"
)

// GroupNameValue is the GroupName index's value of a group name in a VPC.
func GroupNameValue(vpcID, name string) string { return vpcID + "\x00" + name }

// ClaimHolderValue is the ClaimHolder index's value of a holder.
func ClaimHolderValue(namespace, name string) string { return namespace + "/" + name }

// TagValue is the Tag index's value for one tag. Two tags that render alike (a NUL in a
// key) only widen a lookup's candidates: the filter that follows still decides.
func TagValue(key, value string) string { return key + "\x00" + value }

// Reader names the process whose cache an index is for.
type Reader int

const (
	// Endpoint is the EC2 endpoint: it looks objects up by every index.
	Endpoint Reader = iota
	// Operator is the operator: it has no use for the indexes only the endpoint's
	// lookups use (endpointOnly), and every index costs memory per object.
	Operator
)

// endpointOnly are the indexes that only the EC2 endpoint's lookups use. At 10,000
// instances an index of mostly distinct values (tags) costs the operator megabytes.
var endpointOnly = map[string]bool{Tag: true, InstanceState: true, ReferencedGroupID: true, AccessKeyID: true}

// Setup registers the field indexes that reader looks objects up by with the
// manager's cache. Call it once, before the cache starts. The operator's indexer must
// be its cache.Cache, and its lookups go through ClusterWideLookups (clusterWide).
func Setup(ctx context.Context, indexer client.FieldIndexer, reader Reader) error {
	type index struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}
	indexes := []index{
		{&koalav1.Instance{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).EC2ID()) }},
		{&koalav1.Image{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Image).EC2ID()) }},
		{&koalav1.KeyPair{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.KeyPair).EC2ID()) }},
		{&koalav1.Volume{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Volume).EC2ID()) }},
		{&koalav1.Snapshot{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Snapshot).EC2ID()) }},
		{&koalav1.Volume{}, VolumeInstanceID, volumeInstanceIDs},
		{&koalav1.Network{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Network).EC2ID()) }},
		{&koalav1.Subnet{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Subnet).EC2ID()) }},
		{&koalav1.SecurityGroup{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.SecurityGroup).EC2ID()) }},
		{&koalav1.Address{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Address).EC2ID()) }},
		{&koalav1.Subnet{}, VPCID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Subnet).Spec.VPCID) }},
		{&koalav1.SecurityGroup{}, VPCID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.SecurityGroup).Spec.VPCID) }},
		{&koalav1.SecurityGroup{}, GroupName, func(o client.Object) []string {
			g := o.(*koalav1.SecurityGroup)
			return []string{GroupNameValue(g.Spec.VPCID, g.Spec.GroupName)}
		}},
		{&koalav1.SecurityGroup{}, ReferencedGroupID, referencedGroupIDs},
		{&koalav1.Address{}, AddressInstanceID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Address).Spec.InstanceID) }},
		{&koalav1.NetworkClaim{}, ClaimScope, func(o client.Object) []string { return nonEmpty(o.(*koalav1.NetworkClaim).Spec.Scope) }},
		{&koalav1.NetworkClaim{}, ClaimHolder, func(o client.Object) []string {
			h := o.(*koalav1.NetworkClaim).Spec.Holder
			return []string{ClaimHolderValue(h.Namespace, h.Name)}
		}},
		{&koalav1.Network{}, ProviderNetwork, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Network).Status.ProviderNetwork) }},
		{&koalav1.Image{}, SnapshotID, func(o client.Object) []string { return o.(*koalav1.Image).SnapshotIDs() }},
		{&koalav1.Volume{}, SnapshotID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Volume).Spec.SnapshotID) }},
		{&koalav1.Snapshot{}, SnapshotID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Snapshot).Spec.SourceSnapshotID) }},
		{&koalav1.Instance{}, ImageID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).Spec.ImageID) }},
		{&koalav1.Instance{}, InstanceType, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).Spec.InstanceType) }},
		{&koalav1.Instance{}, KeyName, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).Spec.KeyName) }},
		{&koalav1.KeyPair{}, KeyName, func(o client.Object) []string { return nonEmpty(o.(*koalav1.KeyPair).KeyName()) }},
		{&koalav1.Account{}, AccountID, func(o client.Object) []string {
			a := o.(*koalav1.Account)
			if a.Spec.AccountID != "" {
				return []string{a.Spec.AccountID}
			}
			return nonEmpty(a.Status.AccountID)
		}},
		{&koalav1.AccessKey{}, AccessKeyID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.AccessKey).Status.AccessKeyID) }},
		{&koalav1.AccessKey{}, AccessKeyAccount, func(o client.Object) []string { return nonEmpty(o.(*koalav1.AccessKey).Spec.Account) }},
		{&koalav1.Instance{}, InstanceGroupID, instanceGroupIDs},
		{&koalav1.Instance{}, InstanceState, func(o client.Object) []string {
			return []string{string(o.(*koalav1.Instance).DisplayState())}
		}},
		{&koalav1.Instance{}, Tag, func(o client.Object) []string {
			tags := o.(*koalav1.Instance).Spec.Tags
			out := make([]string, 0, len(tags))
			for k, v := range tags {
				out = append(out, TagValue(k, v))
			}
			return out
		}},
	}
	for _, ix := range indexes {
		if reader == Operator && endpointOnly[ix.field] {
			continue
		}
		var err error
		if reader == Operator && clusterWide[ix.field] {
			informers, ok := indexer.(informerSource)
			if !ok {
				return fmt.Errorf("the operator's indexes need a cache's informers, not a %T", indexer)
			}
			err = indexClusterWide(ctx, informers, ix.obj, ix.field, ix.extract)
		} else {
			err = indexer.IndexField(ctx, ix.obj, ix.field, ix.extract)
		}
		if err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// volumeInstanceIDs are the instances a volume is, or is being, attached to or detached
// from.
func volumeInstanceIDs(o client.Object) []string {
	v := o.(*koalav1.Volume)
	var out []string
	if a := v.Spec.Attachment; a != nil {
		out = append(out, a.InstanceID)
	}
	for _, a := range v.Status.Attachments {
		if len(out) == 0 || out[0] != a.InstanceID {
			out = append(out, a.InstanceID)
		}
	}
	return out
}

// referencedGroupIDs are the groups a security group's rules name, each once.
func referencedGroupIDs(o client.Object) []string {
	g := o.(*koalav1.SecurityGroup)
	seen := map[string]bool{}
	var out []string
	for _, rules := range [][]koalav1.SecurityGroupRule{g.Spec.Ingress, g.Spec.Egress} {
		for _, r := range rules {
			if r.ReferencedGroupID != "" && !seen[r.ReferencedGroupID] {
				seen[r.ReferencedGroupID] = true
				out = append(out, r.ReferencedGroupID)
			}
		}
	}
	return out
}

// instanceGroupIDs are the groups an instance is in or asks for, each once.
func instanceGroupIDs(o client.Object) []string {
	i := o.(*koalav1.Instance)
	var out []string
	for _, ids := range [][]string{i.Spec.SecurityGroupIDs, i.Status.SecurityGroupIDs} {
		for _, id := range ids {
			if id != "" && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}
