// Package blockdevice decides the volumes an instance is launched with: its root volume
// (cloned from the image) and one volume for each other device of the image and of the
// launch's block device mappings. The EC2 endpoint creates them with RunInstances, the
// operator creates those that are missing for an instance made with kubectl; both make
// the same objects, named after the instance, so neither creates one twice.
package blockdevice

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// DefaultRootDevice and DefaultRootSize are EC2's usual root device and Koala's
// default root volume size in GiB.
const (
	DefaultRootDevice = "/dev/xvda"
	DefaultRootSize   = 8
)

// RootVolumeName is the object name of an instance's root volume (and of its
// DataVolume, which the instance's VirtualMachine creates).
func RootVolumeName(instanceName string) string { return instanceName + "-root" }

// VolumeName is the object name of the launch volume at device (e.g. "web-sdf").
func VolumeName(instanceName, device string) string {
	return instanceName + "-" + strings.TrimPrefix(device, "/dev/")
}

// RootDevice is the image's root device name.
func RootDevice(img *koalav1.Image) string {
	if img.Spec.RootDeviceName != "" {
		return img.Spec.RootDeviceName
	}
	return DefaultRootDevice
}

// RootSize is the image's root volume size in GiB.
func RootSize(img *koalav1.Image) int32 {
	if img.Spec.RootVolumeSize > 0 {
		return img.Spec.RootVolumeSize
	}
	return DefaultRootSize
}

// RootType is the image's root volume type.
func RootType(img *koalav1.Image) koalav1.VolumeType {
	if img.Spec.RootVolumeType != "" {
		return img.Spec.RootVolumeType
	}
	return koalav1.VolumeTypeGP3
}

// SameDevice reports whether two EC2 device names name one attachment point: on EC2's
// Xen instances /dev/sdf is /dev/xvdf.
func SameDevice(a, b string) bool { return Canonical(a) == Canonical(b) }

// Canonical is a device name with /dev/sd written as /dev/xvd.
func Canonical(device string) string {
	if rest, ok := strings.CutPrefix(device, "/dev/sd"); ok {
		return "/dev/xvd" + rest
	}
	return device
}

// Launch is what LaunchVolumes needs to know about the launch.
type Launch struct {
	// Instance is the instance launched; its name and spec.blockDeviceMappings count.
	Instance *koalav1.Instance
	// InstanceID is its EC2 ID.
	InstanceID string
	// Zone is the zone it is placed in.
	Zone string
	// Image is the image it is launched from.
	Image *koalav1.Image
	// SnapshotSize gives the size in GiB of a snapshot of the account (0: unknown), for
	// a mapping that restores one without saying its size.
	SnapshotSize func(snapshotID string) int32
}

// LaunchVolumes returns the volumes of a launch, root first, then by device name. They
// have no EC2 ID and no finalizer: the caller adds what it needs. An invalid
// combination (a shrunken root, a mapping without a size) is an error; the EC2 endpoint
// refuses such a launch before it creates anything.
func LaunchVolumes(l Launch) ([]*koalav1.Volume, error) {
	inst, img := l.Instance, l.Image
	root := RootDevice(img)
	byDevice := map[string]koalav1.BlockDeviceMapping{}
	for _, m := range inst.Spec.BlockDeviceMappings {
		byDevice[Canonical(m.DeviceName)] = m
	}

	rootVol := newVolume(l, RootVolumeName(inst.Name), root)
	rootVol.Spec.ImageID = inst.Spec.ImageID
	rootVol.Spec.Size = RootSize(img)
	rootVol.Spec.VolumeType = RootType(img)
	if m, ok := byDevice[Canonical(root)]; ok {
		if m.NoDevice || m.EBS == nil {
			return nil, fmt.Errorf("the root device %s cannot be left out", root)
		}
		if m.EBS.SnapshotID != "" {
			return nil, fmt.Errorf("the root device %s is the image's; it cannot be restored from a snapshot", root)
		}
		if m.EBS.VolumeSize != 0 {
			if m.EBS.VolumeSize < rootVol.Spec.Size {
				return nil, fmt.Errorf("the root volume of %d GiB is smaller than the image's %d GiB", m.EBS.VolumeSize, rootVol.Spec.Size)
			}
			rootVol.Spec.Size = m.EBS.VolumeSize
		}
		applyEBS(rootVol, m.EBS)
		delete(byDevice, Canonical(root))
	}
	out := []*koalav1.Volume{rootVol}

	var others []*koalav1.Volume
	for _, im := range img.Spec.BlockDeviceMappings {
		if im.NoDevice || im.EBS == nil || SameDevice(im.DeviceName, root) {
			continue
		}
		m, overridden := byDevice[Canonical(im.DeviceName)]
		delete(byDevice, Canonical(im.DeviceName))
		if overridden && m.NoDevice {
			continue
		}
		v := newVolume(l, VolumeName(inst.Name, im.DeviceName), im.DeviceName)
		v.Spec.SnapshotID = im.EBS.SnapshotID
		v.Spec.Size = im.EBS.VolumeSize
		v.Spec.VolumeType = koalav1.VolumeTypeGP3
		applyEBS(v, im.EBS)
		if overridden && m.EBS != nil {
			if m.EBS.SnapshotID != "" && m.EBS.SnapshotID != im.EBS.SnapshotID {
				return nil, fmt.Errorf("the device %s of the image cannot be restored from another snapshot", im.DeviceName)
			}
			if m.EBS.VolumeSize != 0 {
				if m.EBS.VolumeSize < v.Spec.Size {
					return nil, fmt.Errorf("the volume at %s of %d GiB is smaller than the image's %d GiB", im.DeviceName, m.EBS.VolumeSize, v.Spec.Size)
				}
				v.Spec.Size = m.EBS.VolumeSize
			}
			applyEBS(v, m.EBS)
		}
		if err := sizeFromSnapshot(l, v, im.DeviceName); err != nil {
			return nil, err
		}
		others = append(others, v)
	}
	for _, m := range byDevice {
		if m.NoDevice {
			continue // leaves out nothing the image has: nothing to do
		}
		if m.EBS == nil {
			return nil, fmt.Errorf("the mapping of %s has neither ebs nor noDevice", m.DeviceName)
		}
		v := newVolume(l, VolumeName(inst.Name, m.DeviceName), m.DeviceName)
		v.Spec.SnapshotID = m.EBS.SnapshotID
		v.Spec.Size = m.EBS.VolumeSize
		v.Spec.VolumeType = koalav1.VolumeTypeGP3
		applyEBS(v, m.EBS)
		if err := sizeFromSnapshot(l, v, m.DeviceName); err != nil {
			return nil, err
		}
		others = append(others, v)
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Spec.Attachment.Device < others[j].Spec.Attachment.Device })
	return append(out, others...), nil
}

func newVolume(l Launch, name, device string) *koalav1.Volume {
	return &koalav1.Volume{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: l.Instance.Namespace,
		},
		Spec: koalav1.VolumeSpec{
			AvailabilityZone: l.Zone,
			Attachment: &koalav1.VolumeAttachment{
				InstanceID:          l.InstanceID,
				Device:              device,
				DeleteOnTermination: true,
			},
		},
	}
}

// applyEBS copies a mapping's type, IOPS, throughput and deleteOnTermination.
func applyEBS(v *koalav1.Volume, e *koalav1.EBSBlockDevice) {
	if e.VolumeType != "" {
		v.Spec.VolumeType = e.VolumeType
	}
	if e.Iops != nil {
		v.Spec.Iops = ptrTo(*e.Iops)
	}
	if e.Throughput != nil {
		v.Spec.Throughput = ptrTo(*e.Throughput)
	}
	v.Spec.Attachment.DeleteOnTermination = e.DeleteOnTerminationOrDefault()
}

// sizeFromSnapshot gives a volume without a size its snapshot's size, and refuses one
// smaller than its snapshot.
func sizeFromSnapshot(l Launch, v *koalav1.Volume, device string) error {
	var snapSize int32
	if v.Spec.SnapshotID != "" && l.SnapshotSize != nil {
		snapSize = l.SnapshotSize(v.Spec.SnapshotID)
	}
	switch {
	case v.Spec.Size == 0 && snapSize > 0:
		v.Spec.Size = snapSize
	case v.Spec.Size == 0:
		return fmt.Errorf("the mapping of %s needs a volume size", device)
	case snapSize > 0 && v.Spec.Size < snapSize:
		return fmt.Errorf("the volume at %s of %d GiB is smaller than its snapshot's %d GiB", device, v.Spec.Size, snapSize)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
