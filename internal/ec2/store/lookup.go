package store

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/zones"
)

// The lookups below return objects that the caller may modify (deep copies), except
// the bulk lists, whose items are shared with the cache and are read-only.

// Instance returns the account's instance with that EC2 ID, or nil.
func (s *Store) Instance(ctx context.Context, acct Account, id string) (*koalav1.Instance, error) {
	var list koalav1.InstanceList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up instance %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// Instances returns all the account's instances, read-only.
func (s *Store) Instances(ctx context.Context, acct Account) ([]koalav1.Instance, error) {
	var list koalav1.InstanceList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing instances: %w", err)
	}
	return list.Items, nil
}

// InstancesByTag returns the account's instances that have the tag key with one of
// the values, read-only, through the tag index.
func (s *Store) InstancesByTag(ctx context.Context, acct Account, key string, values []string) ([]koalav1.Instance, error) {
	keys := make([]string, len(values))
	for i, v := range values {
		keys[i] = index.TagValue(key, v)
	}
	return s.instancesByIndex(ctx, acct, index.Tag, keys)
}

// InstancesByState returns the account's instances in one of the states (as EC2
// clients see them), read-only, through the state index.
func (s *Store) InstancesByState(ctx context.Context, acct Account, states []string) ([]koalav1.Instance, error) {
	return s.instancesByIndex(ctx, acct, index.InstanceState, states)
}

// instancesByIndex returns the account's instances that the index field holds under
// one of the values, each once, read-only.
func (s *Store) instancesByIndex(ctx context.Context, acct Account, field string, values []string) ([]koalav1.Instance, error) {
	var out []koalav1.Instance
	seen := map[string]bool{}
	for _, v := range values {
		var list koalav1.InstanceList
		if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace),
			client.MatchingFields{field: v}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("looking up instances by %s: %w", field, err)
		}
		for i := range list.Items {
			if uid := string(list.Items[i].UID); !seen[uid] {
				seen[uid] = true
				out = append(out, list.Items[i])
			}
		}
	}
	return out, nil
}

// InstanceByName returns the account's instance with that object name, or nil.
func (s *Store) InstanceByName(ctx context.Context, acct Account, name string) (*koalav1.Instance, error) {
	inst := &koalav1.Instance{}
	if err := s.cache.Get(ctx, client.ObjectKey{Namespace: acct.Namespace, Name: name}, inst); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return inst, nil
}

// visibleImage reports whether an account may see and launch an image.
func visibleImage(acct Account, img *koalav1.Image) bool {
	return img.Namespace == acct.Namespace || img.Spec.Public
}

// Image returns the image with that ID if the account may use it (its own or a
// public one), or nil.
func (s *Store) Image(ctx context.Context, acct Account, id string) (*koalav1.Image, error) {
	var list koalav1.ImageList
	if err := s.cache.List(ctx, &list, client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up image %s: %w", id, err)
	}
	for i := range list.Items {
		if visibleImage(acct, &list.Items[i]) {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// Images returns the images the account may see, read-only.
func (s *Store) Images(ctx context.Context, acct Account) ([]koalav1.Image, error) {
	var list koalav1.ImageList
	if err := s.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	out := list.Items[:0]
	for i := range list.Items {
		if visibleImage(acct, &list.Items[i]) {
			out = append(out, list.Items[i])
		}
	}
	return out, nil
}

// AccountID returns the 12-digit ID of the account whose namespace this is ("" when
// no account owns it: public images of the platform live in such namespaces).
func (s *Store) AccountID(ctx context.Context, namespace string) string {
	a := &koalav1.Account{}
	if err := s.cache.Get(ctx, client.ObjectKey{Name: namespace}, a); err != nil || a.Status.Namespace != namespace {
		return ""
	}
	return a.Status.AccountID
}

// KeyPairByName returns the account's valid key pair of that name (the oldest, when
// kubectl users made several), or nil.
func (s *Store) KeyPairByName(ctx context.Context, acct Account, name string) (*koalav1.KeyPair, error) {
	var list koalav1.KeyPairList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.KeyName: name}); err != nil {
		return nil, fmt.Errorf("looking up key pair %q: %w", name, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	first := &list.Items[0]
	for i := range list.Items[1:] {
		if list.Items[i+1].Precedes(first) {
			first = &list.Items[i+1]
		}
	}
	return first, nil
}

// KeyPair returns the account's key pair with that EC2 ID, or nil.
func (s *Store) KeyPair(ctx context.Context, acct Account, id string) (*koalav1.KeyPair, error) {
	var list koalav1.KeyPairList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up key pair %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// KeyPairs returns the account's key pairs, read-only.
func (s *Store) KeyPairs(ctx context.Context, acct Account) ([]koalav1.KeyPair, error) {
	var list koalav1.KeyPairList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing key pairs: %w", err)
	}
	return list.Items, nil
}

// InstanceTypes returns the catalog: every VirtualMachineClusterInstancetype, read-only.
func (s *Store) InstanceTypes(ctx context.Context) ([]instancetypev1beta1.VirtualMachineClusterInstancetype, error) {
	var list instancetypev1beta1.VirtualMachineClusterInstancetypeList
	if err := s.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing instance types: %w", err)
	}
	return list.Items, nil
}

// InstanceType returns the catalog entry of that name, or nil.
func (s *Store) InstanceType(ctx context.Context, name string) (*instancetypev1beta1.VirtualMachineClusterInstancetype, error) {
	it := &instancetypev1beta1.VirtualMachineClusterInstancetype{}
	if err := s.cache.Get(ctx, client.ObjectKey{Name: name}, it); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting instance type %s: %w", name, err)
	}
	return it, nil
}

// NodeLabels returns the labels of every node (zones come from them).
func (s *Store) NodeLabels(ctx context.Context) ([]map[string]string, error) {
	list := nodeMetadataList()
	if err := s.cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	labelSets := make([]map[string]string, len(list.Items))
	for i := range list.Items {
		labelSets[i] = list.Items[i].Labels
	}
	return labelSets, nil
}

// Zones returns the region's availability zones, from the nodes' zone labels.
func (s *Store) Zones(ctx context.Context, region string) ([]string, error) {
	labelSets, err := s.NodeLabels(ctx)
	if err != nil {
		return nil, err
	}
	return zones.FromNodeLabels(region, labelSets), nil
}

// Volume returns the account's volume with that EC2 ID, or nil.
func (s *Store) Volume(ctx context.Context, acct Account, id string) (*koalav1.Volume, error) {
	var list koalav1.VolumeList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up volume %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// VolumeByName returns the account's volume with that object name, or nil.
func (s *Store) VolumeByName(ctx context.Context, acct Account, name string) (*koalav1.Volume, error) {
	v := &koalav1.Volume{}
	if err := s.cache.Get(ctx, client.ObjectKey{Namespace: acct.Namespace, Name: name}, v); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return v, nil
}

// Volumes returns all the account's volumes, read-only.
func (s *Store) Volumes(ctx context.Context, acct Account) ([]koalav1.Volume, error) {
	var list koalav1.VolumeList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	return list.Items, nil
}

// VolumesOfInstance returns the account's volumes attached (or being attached or
// detached) to the instance, read-only, through the index.
func (s *Store) VolumesOfInstance(ctx context.Context, acct Account, instanceID string) ([]koalav1.Volume, error) {
	var list koalav1.VolumeList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace),
		client.MatchingFields{index.VolumeInstanceID: instanceID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the volumes of %s: %w", instanceID, err)
	}
	return list.Items, nil
}

// Snapshot returns the account's snapshot with that EC2 ID, or nil.
func (s *Store) Snapshot(ctx context.Context, acct Account, id string) (*koalav1.Snapshot, error) {
	var list koalav1.SnapshotList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up snapshot %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// Snapshots returns all the account's snapshots, read-only.
func (s *Store) Snapshots(ctx context.Context, acct Account) ([]koalav1.Snapshot, error) {
	var list koalav1.SnapshotList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	return list.Items, nil
}

// ImagesUsingSnapshot returns the account's images that use the snapshot (as their
// root or one of their devices), read-only.
func (s *Store) ImagesUsingSnapshot(ctx context.Context, acct Account, snapshotID string) ([]koalav1.Image, error) {
	var list koalav1.ImageList
	if err := s.cache.List(ctx, &list, client.InNamespace(acct.Namespace),
		client.MatchingFields{index.SnapshotID: snapshotID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the images of snapshot %s: %w", snapshotID, err)
	}
	return list.Items, nil
}
