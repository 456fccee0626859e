package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
)

// An instance's volumes: the root volume is its VirtualMachine's DataVolume template
// (KubeVirt creates the DataVolume, cloned from the image), the others are hotplugged
// DataVolume volumes. The volumes an instance is launched with are created once,
// before its VirtualMachine: by the EC2 endpoint for RunInstances, by the operator for
// an instance made with kubectl. When the instance terminates its volumes are deleted
// or detached, as each one's deleteOnTermination says.

// instancesOfVolume maps a volume to the instances it is (or was being) attached to.
func (r *InstanceReconciler) instancesOfVolume(ctx context.Context, obj client.Object) []reconcile.Request {
	vol := obj.(*koalav1.Volume)
	seen := map[string]bool{}
	var idList []string
	if a := vol.Spec.Attachment; a != nil {
		idList = append(idList, a.InstanceID)
	}
	for _, a := range vol.Status.Attachments {
		idList = append(idList, a.InstanceID)
	}
	var out []reconcile.Request
	for _, id := range idList {
		if seen[id] {
			continue
		}
		seen[id] = true
		var list koalav1.InstanceList
		if err := r.Client.List(ctx, &list, client.InNamespace(vol.Namespace), client.MatchingFields{index.EC2ID: id}); err != nil {
			log.FromContext(ctx).Error(err, "looking up the instance of a volume", "instance", id)
			continue
		}
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// volumePlacementChanged passes the volume events that can change where the volume
// goes: creation, deletion, a new spec (attachment), a confirmed ID, a deletion begun.
var volumePlacementChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, ok1 := e.ObjectOld.(*koalav1.Volume)
		cur, ok2 := e.ObjectNew.(*koalav1.Volume)
		if !ok1 || !ok2 {
			return true
		}
		return old.Generation != cur.Generation || old.EC2ID() != cur.EC2ID() ||
			old.DeletionTimestamp.IsZero() != cur.DeletionTimestamp.IsZero()
	},
}

// observeVolumes reads the volumes attached to the instance and places them.
func (r *InstanceReconciler) observeVolumes(ctx context.Context, s *instanceScope) error {
	var list koalav1.VolumeList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.instance.Namespace), client.MatchingFields{index.VolumeInstanceID: s.id}); err != nil {
		return fmt.Errorf("listing volumes: %w", err)
	}
	s.volumes = list.Items
	s.placed = placeVolumes(s.instance, s.id, list.Items)
	return nil
}

// ensureLaunchVolumes creates the volumes the instance is launched with that do not
// exist yet, and returns its root volume once the cache has it (nil: wait for the
// volume's event). A Volume of the root volume's name that is not this instance's
// blocks the launch.
func (r *InstanceReconciler) ensureLaunchVolumes(ctx context.Context, s *instanceScope, image *koalav1.Image) (*koalav1.Volume, *metav1.Condition, error) {
	inst := s.instance
	vols, err := blockdevice.LaunchVolumes(blockdevice.Launch{
		Instance: inst, InstanceID: s.id, Zone: instanceZone(inst), Image: image,
		SnapshotSize: func(id string) int32 { return r.snapshotSize(ctx, inst.Namespace, id) },
	})
	if err != nil {
		return nil, &metav1.Condition{Reason: koalav1.InstanceReasonInvalidBlockDeviceMapping, Message: err.Error()}, nil
	}
	existing := map[string]bool{}
	for i := range s.volumes {
		existing[s.volumes[i].Name] = true
	}
	waiting := false
	for _, v := range vols {
		if existing[v.Name] {
			continue
		}
		// The endpoint creates these before the instance: our cache may not have them
		// yet (the volumes' informer can lag the instances'). A volume the cache has not
		// heard of is asked of the API server before it is created: a read costs less
		// than a create the API server refuses, which is a write all the same.
		key, taken := client.ObjectKeyFromObject(v), &koalav1.Volume{}
		err := r.Client.Get(ctx, key, taken)
		if apierrors.IsNotFound(err) && r.APIReader != nil {
			err = r.APIReader.Get(ctx, key, taken)
		}
		switch {
		case err == nil:
			if a := taken.Spec.Attachment; a == nil || a.InstanceID != s.id {
				if v.Name == s.placed.rootName {
					return nil, &metav1.Condition{Reason: koalav1.InstanceReasonRootVolumeNameTaken,
						Message: fmt.Sprintf("A Volume named %s that is not this instance's root volume exists", v.Name)}, nil
				}
				continue // a volume of that name that is not ours: the instance goes without
			}
			waiting = true // ours, but not yet in the index: its event brings us back
			continue
		case !apierrors.IsNotFound(err):
			return nil, nil, fmt.Errorf("getting volume %s: %w", v.Name, err)
		}
		// With the finalizer and the ID set now, the volume costs one status write (see
		// volumeSettled) and no finalizer write.
		v.Finalizers = []string{VolumeFinalizer}
		v.Annotations = map[string]string{koalav1.IDAnnotation: ids.FromSeed(ids.Volume, string(inst.UID), v.Spec.Attachment.Device)}
		if err := r.Client.Create(ctx, v); err != nil {
			if !apierrors.IsAlreadyExists(err) {
				return nil, nil, fmt.Errorf("creating volume %s: %w", v.Name, err)
			}
		}
		waiting = true
	}
	if waiting || s.placed.root == nil {
		return nil, nil, nil
	}
	return s.placed.root, nil, nil
}

// snapshotSize is the size in GiB of a snapshot of ns (0 when unknown).
func (r *InstanceReconciler) snapshotSize(ctx context.Context, ns, id string) int32 {
	var list koalav1.SnapshotList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.EC2ID: id}); err != nil || len(list.Items) == 0 {
		return 0
	}
	return list.Items[0].Status.VolumeSize
}

// syncHotplug makes the VirtualMachine's hotpluggable volumes those of the instance's
// attached volumes, and reports whether it changed anything.
func syncHotplug(vm *kubevirtv1.VirtualMachine, hotplug []*koalav1.Volume) bool {
	if vm.Spec.Template == nil {
		return false
	}
	spec := &vm.Spec.Template.Spec
	wantVolumes, wantDisks := hotplugDisks(hotplug)
	var haveVolumes []kubevirtv1.Volume
	hot := map[string]bool{}
	for _, v := range spec.Volumes {
		if isHotplugVolume(v) {
			haveVolumes = append(haveVolumes, v)
			hot[v.Name] = true
		}
	}
	if sameHotplug(haveVolumes, wantVolumes) {
		return false
	}
	volumes := slices.DeleteFunc(slices.Clone(spec.Volumes), isHotplugVolume)
	disks := slices.DeleteFunc(slices.Clone(spec.Domain.Devices.Disks), func(d kubevirtv1.Disk) bool { return hot[d.Name] })
	spec.Volumes = append(volumes, wantVolumes...)
	spec.Domain.Devices.Disks = append(disks, wantDisks...)
	return true
}

func sameHotplug(have, want []kubevirtv1.Volume) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if have[i].Name != want[i].Name || claimOf(have[i]) != claimOf(want[i]) {
			return false
		}
	}
	return true
}

// keepRootDataVolume hands the root volume's DataVolume over from the VirtualMachine to
// the Volume before the VirtualMachine is deleted, when the root volume outlives the
// instance (deleteOnTermination false): the garbage collector would delete it with the
// VirtualMachine otherwise.
func (r *InstanceReconciler) keepRootDataVolume(ctx context.Context, s *instanceScope) error {
	root := s.placed.root
	if root == nil || root.Spec.Attachment.DeleteOnTermination || s.vm == nil {
		return nil
	}
	dv := &cdiv1beta1.DataVolume{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(root), dv); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(dv, s.vm) {
		return nil
	}
	base := dv.DeepCopy()
	refs := []metav1.OwnerReference{*metav1.NewControllerRef(root, koalav1.GroupVersion.WithKind("Volume"))}
	for _, ref := range dv.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			refs = append(refs, ref)
		}
	}
	dv.OwnerReferences = refs
	if err := r.Client.Patch(ctx, dv, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("handing the root DataVolume over to volume %s: %w", root.Name, err)
	}
	return nil
}

// releaseVolumes deletes or detaches the volumes of a terminated instance, as each
// one's deleteOnTermination says. The VirtualMachine is gone by then.
func (r *InstanceReconciler) releaseVolumes(ctx context.Context, s *instanceScope) error {
	for i := range s.volumes {
		v := &s.volumes[i]
		a := v.Spec.Attachment
		if a == nil || a.InstanceID != s.id || !v.DeletionTimestamp.IsZero() {
			continue
		}
		if a.DeleteOnTermination {
			if err := r.Client.Delete(ctx, v, client.Preconditions{UID: &v.UID}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting volume %s: %w", v.Name, err)
			}
			if r.Recorder != nil {
				r.Recorder.Eventf(s.instance, v, corev1.EventTypeNormal, "VolumeDeleted", "Terminate", "Deleted volume %s (deleteOnTermination)", v.EC2ID())
			}
			continue
		}
		base := v.DeepCopy()
		v.Spec.Attachment = nil
		if err := r.Client.Patch(ctx, v, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("detaching volume %s: %w", v.Name, err)
		}
		if r.Recorder != nil {
			r.Recorder.Eventf(s.instance, v, corev1.EventTypeNormal, "VolumeDetached", "Terminate", "Detached volume %s", v.EC2ID())
		}
	}
	return nil
}
