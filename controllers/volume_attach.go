package controllers

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
)

// instanceAttachments is how an instance's volumes are placed on it: the root volume
// (its VirtualMachine's DataVolume template), the other volumes hotplugged into it by
// device, and those that cannot be attached, with why. The Instance reconciler builds
// the VirtualMachine from it and the Volume reconciler reports from it, so both agree.
type instanceAttachments struct {
	root     *koalav1.Volume
	hotplug  []*koalav1.Volume
	refused  map[string]*metav1.Condition // by volume name
	rootName string
}

// instanceZone is the zone an instance is placed in ("" while unknown).
func instanceZone(inst *koalav1.Instance) string {
	if inst.Status.AvailabilityZone != "" {
		return inst.Status.AvailabilityZone
	}
	return inst.Spec.Placement.AvailabilityZone
}

// instanceRootDevice is the instance's root device name.
func instanceRootDevice(inst *koalav1.Instance) string {
	if inst.Status.RootDeviceName != "" {
		return inst.Status.RootDeviceName
	}
	return blockdevice.DefaultRootDevice
}

// placeVolumes decides the attachments of the instance (EC2 ID id) among vols, the
// volumes whose spec attaches them to it. A volume being deleted is detached; one of
// another zone, or at a device another volume (attached earlier) or the root has, is
// refused; one whose EC2 ID is not known yet waits.
func placeVolumes(inst *koalav1.Instance, id string, vols []koalav1.Volume) instanceAttachments {
	out := instanceAttachments{refused: map[string]*metav1.Condition{}, rootName: blockdevice.RootVolumeName(inst.Name)}
	zone := instanceZone(inst)
	rootDevice := instanceRootDevice(inst)
	var candidates []*koalav1.Volume
	for i := range vols {
		v := &vols[i]
		a := v.Spec.Attachment
		if a == nil || a.InstanceID != id || !v.DeletionTimestamp.IsZero() {
			continue
		}
		if v.Name == out.rootName && v.Spec.ImageID != "" {
			out.root = v
			continue
		}
		if zone != "" && v.Spec.AvailabilityZone != zone {
			out.refused[v.Name] = &metav1.Condition{Reason: koalav1.VolumeReasonZoneMismatch,
				Message: fmt.Sprintf("The volume is in zone %s and instance %s in zone %s", v.Spec.AvailabilityZone, id, zone)}
			continue
		}
		if blockdevice.SameDevice(a.Device, rootDevice) {
			out.refused[v.Name] = &metav1.Condition{Reason: koalav1.VolumeReasonDeviceInUse,
				Message: fmt.Sprintf("%s is the root device of instance %s", a.Device, id)}
			continue
		}
		if v.EC2ID() == "" {
			continue // its ID names its disk; the ID's confirmation brings it back
		}
		candidates = append(candidates, v)
	}
	// Of several volumes at one device, the one attached first keeps it.
	sort.Slice(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	taken := map[string]string{}
	for _, v := range candidates {
		dev := blockdevice.Canonical(v.Spec.Attachment.Device)
		if other, ok := taken[dev]; ok {
			out.refused[v.Name] = &metav1.Condition{Reason: koalav1.VolumeReasonDeviceInUse,
				Message: fmt.Sprintf("Volume %s is already attached to instance %s at %s", other, id, v.Spec.Attachment.Device)}
			continue
		}
		taken[dev] = v.EC2ID()
		out.hotplug = append(out.hotplug, v)
	}
	sort.Slice(out.hotplug, func(i, j int) bool {
		return blockdevice.Canonical(out.hotplug[i].Spec.Attachment.Device) < blockdevice.Canonical(out.hotplug[j].Spec.Attachment.Device)
	})
	return out
}

// hotplugVolumeName is the name of a volume's disk in the VirtualMachine: its EC2 ID.
func hotplugVolumeName(v *koalav1.Volume) string { return v.EC2ID() }

// diskSerial is the serial number the guest sees a volume's disk with: the volume ID
// without its dash, as on EC2's Nitro instances (/dev/disk/by-id/...vol0123...).
func diskSerial(v *koalav1.Volume) string {
	id := v.EC2ID()
	if len(id) > 4 && id[:4] == "vol-" {
		return "vol" + id[4:]
	}
	return id
}

// hotplugDisks are the VirtualMachine volumes and disks of the hotplugged volumes:
// hotpluggable DataVolume volumes (the volume's DataVolume has the volume's name) and
// SCSI disks, in device order.
func hotplugDisks(vols []*koalav1.Volume) ([]kubevirtv1.Volume, []kubevirtv1.Disk) {
	var volumes []kubevirtv1.Volume
	var disks []kubevirtv1.Disk
	for _, v := range vols {
		name := hotplugVolumeName(v)
		volumes = append(volumes, kubevirtv1.Volume{
			Name:         name,
			VolumeSource: kubevirtv1.VolumeSource{DataVolume: &kubevirtv1.DataVolumeSource{Name: v.Name, Hotpluggable: true}},
		})
		disks = append(disks, kubevirtv1.Disk{
			Name:       name,
			Serial:     diskSerial(v),
			DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusSCSI}},
		})
	}
	return volumes, disks
}

// isHotplugVolume reports whether a VirtualMachine volume is hotpluggable.
func isHotplugVolume(v kubevirtv1.Volume) bool {
	return (v.DataVolume != nil && v.DataVolume.Hotpluggable) ||
		(v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.Hotpluggable)
}

// claimOf is the claim (or DataVolume) a VirtualMachine volume uses, "" for none.
func claimOf(v kubevirtv1.Volume) string {
	switch {
	case v.DataVolume != nil:
		return v.DataVolume.Name
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName
	}
	return ""
}
