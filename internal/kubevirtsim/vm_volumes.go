package kubevirtsim

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ensureDataVolumes creates the DataVolumes of spec.dataVolumeTemplates that do not
// exist, and loads the DataVolumes the template's volumes name.
func (s *simulator) ensureDataVolumes(ctx context.Context, sc *vmScope) error {
	vm := sc.vm
	sc.dataVolumes = map[string]*cdiv1.DataVolume{}
	for _, t := range vm.Spec.DataVolumeTemplates {
		dv := &cdiv1.DataVolume{}
		err := s.client.Get(ctx, types.NamespacedName{Namespace: vm.Namespace, Name: t.Name}, dv)
		if err == nil {
			if metav1.GetControllerOf(dv) == nil {
				if err := s.adopt(ctx, dv, vm); err != nil {
					return err
				}
			}
			sc.dataVolumes[t.Name] = dv
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		dv = dataVolumeFromTemplate(vm, t)
		if err := s.client.Create(ctx, dv); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue // the cache had not seen it yet
			}
			s.event(vm, corev1.EventTypeWarning, "FailedDataVolumeCreate", "CreateDataVolume", "Error creating DataVolume %s: %v", t.Name, err)
			return fmt.Errorf("creating DataVolume %s: %w", t.Name, err)
		}
		s.event(vm, corev1.EventTypeNormal, reasonSuccessfulDataVolumeCreate, "CreateDataVolume", "Created DataVolume %s", dv.Name)
		sc.dataVolumes[t.Name] = dv
	}
	if vm.Spec.Template == nil {
		return nil
	}
	for _, v := range vm.Spec.Template.Spec.Volumes {
		if v.DataVolume == nil {
			continue
		}
		if _, ok := sc.dataVolumes[v.DataVolume.Name]; ok {
			continue
		}
		dv := &cdiv1.DataVolume{}
		err := s.client.Get(ctx, types.NamespacedName{Namespace: vm.Namespace, Name: v.DataVolume.Name}, dv)
		switch {
		case apierrors.IsNotFound(err):
			sc.dataVolumes[v.DataVolume.Name] = nil
		case err != nil:
			return err
		default:
			sc.dataVolumes[v.DataVolume.Name] = dv
		}
	}
	return nil
}

// dataVolumeFromTemplate is the DataVolume KubeVirt creates for a template.
func dataVolumeFromTemplate(vm *virtv1.VirtualMachine, t virtv1.DataVolumeTemplateSpec) *cdiv1.DataVolume {
	dv := &cdiv1.DataVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        t.Name,
			Namespace:   vm.Namespace,
			Labels:      maps.Clone(t.Labels),
			Annotations: maps.Clone(t.Annotations),
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if dv.Labels == nil {
		dv.Labels = map[string]string{}
	}
	dv.Labels[virtv1.CreatedByLabel] = string(vm.UID)
	if dv.Annotations == nil {
		dv.Annotations = map[string]string{}
	}
	dv.Annotations[SimulatedAnnotation] = simulatedValue
	dv.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(vm, virtv1.VirtualMachineGroupVersionKind)}
	return dv
}

// dataVolumesReady tells whether every DataVolume of the templates is ready for a VMI
// to start (as KubeVirt: Succeeded, or waiting for its first consumer).
func dataVolumesReady(sc *vmScope) bool {
	for _, t := range sc.vm.Spec.DataVolumeTemplates {
		dv := sc.dataVolumes[t.Name]
		if dv == nil || dv.CreationTimestamp.IsZero() {
			return false // missing, or just created
		}
		switch dv.Status.Phase {
		case cdiv1.Succeeded, cdiv1.WaitForFirstConsumer, cdiv1.PendingPopulation:
		default:
			return false
		}
	}
	return true
}

// syncHotplugVolumes makes a running VMI's hotpluggable volumes those of its VM's
// template (KubeVirt's declarative volume hotplug): volumes marked hotpluggable that are
// added to or removed from the template are attached to or detached from the VMI,
// with their disks (a hotplugged disk defaults to the scsi bus), without a restart.
func (s *simulator) syncHotplugVolumes(ctx context.Context, sc *vmScope) error {
	vmi := sc.vmi
	if vmi == nil || vmi.DeletionTimestamp != nil || vmi.IsFinal() || vmi.CreationTimestamp.IsZero() || sc.vm.Spec.Template == nil {
		return nil
	}
	want := &sc.vm.Spec.Template.Spec
	wantVolumes, wantDisks := hotplugVolumes(want.Volumes, want.Domain.Devices.Disks)
	haveVolumes, haveDisks := hotplugVolumes(vmi.Spec.Volumes, vmi.Spec.Domain.Devices.Disks)
	if equality.Semantic.DeepEqual(wantVolumes, haveVolumes) && equality.Semantic.DeepEqual(wantDisks, haveDisks) {
		return nil
	}
	volumes, disks := withoutHotplugVolumes(vmi.Spec.Volumes, vmi.Spec.Domain.Devices.Disks)
	for _, v := range want.Volumes {
		if isHotplug(v) {
			volumes = append(volumes, v)
			disks = append(disks, wantDisks[v.Name])
		}
	}
	base := vmi.DeepCopy()
	vmi.Spec.Volumes = volumes
	vmi.Spec.Domain.Devices.Disks = disks
	if err := s.client.Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("hotplugging volumes into VMI %s: %w", vmi.Name, err)
	}
	return nil
}

// hotplugVolumes returns the hotpluggable volumes and their disks (a volume without a
// disk gets KubeVirt's default for hotplug: a disk on the scsi bus), by name.
func hotplugVolumes(volumes []virtv1.Volume, disks []virtv1.Disk) (map[string]virtv1.Volume, map[string]virtv1.Disk) {
	vs, ds := map[string]virtv1.Volume{}, map[string]virtv1.Disk{}
	for _, v := range volumes {
		if !isHotplug(v) {
			continue
		}
		vs[v.Name] = v
		ds[v.Name] = hotplugDisk(v.Name)
		if i := slices.IndexFunc(disks, func(d virtv1.Disk) bool { return d.Name == v.Name }); i >= 0 {
			ds[v.Name] = disks[i]
		}
	}
	return vs, ds
}

func hotplugDisk(name string) virtv1.Disk {
	return virtv1.Disk{Name: name, DiskDevice: virtv1.DiskDevice{Disk: &virtv1.DiskTarget{Bus: virtv1.DiskBusSCSI}}}
}

// withoutHotplugVolumes returns copies of volumes and disks without the hotpluggable
// volumes and their disks.
func withoutHotplugVolumes(volumes []virtv1.Volume, disks []virtv1.Disk) ([]virtv1.Volume, []virtv1.Disk) {
	hot := map[string]bool{}
	var vs []virtv1.Volume
	for _, v := range volumes {
		if isHotplug(v) {
			hot[v.Name] = true
			continue
		}
		vs = append(vs, v)
	}
	var ds []virtv1.Disk
	for _, d := range disks {
		if !hot[d.Name] {
			ds = append(ds, d)
		}
	}
	return vs, ds
}
