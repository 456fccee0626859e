package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VolumeType is an EBS volume type. Each type maps to a StorageClass that the platform
// team configures (one default class serves the types it does not name).
// +kubebuilder:validation:Enum=gp3;gp2;io1;io2;st1;sc1;standard
type VolumeType string

const (
	// VolumeTypeGP3 is a general purpose SSD whose IOPS and throughput are set apart
	// from its size.
	VolumeTypeGP3 VolumeType = "gp3"
	// VolumeTypeGP2 is a general purpose SSD whose IOPS grow with its size (EC2's
	// default for CreateVolume).
	VolumeTypeGP2 VolumeType = "gp2"
	// VolumeTypeIO1 is a provisioned-IOPS SSD.
	VolumeTypeIO1 VolumeType = "io1"
	// VolumeTypeIO2 is a provisioned-IOPS SSD of higher durability.
	VolumeTypeIO2 VolumeType = "io2"
	// VolumeTypeST1 is a throughput-optimised HDD.
	VolumeTypeST1 VolumeType = "st1"
	// VolumeTypeSC1 is a cold HDD.
	VolumeTypeSC1 VolumeType = "sc1"
	// VolumeTypeStandard is the previous generation's magnetic volume.
	VolumeTypeStandard VolumeType = "standard"
)

// SizeLimits are the smallest and largest size in GiB EC2 allows for the type.
func (t VolumeType) SizeLimits() (min, max int32) {
	switch t {
	case VolumeTypeIO1:
		return 4, 16384
	case VolumeTypeIO2:
		return 4, 65536
	case VolumeTypeST1, VolumeTypeSC1:
		return 125, 16384
	case VolumeTypeStandard:
		return 1, 1024
	default:
		return 1, 16384
	}
}

// VolumeStateName is the EC2 state of a volume.
// +kubebuilder:validation:Enum=creating;available;in-use;deleting;deleted;error
type VolumeStateName string

const (
	// VolumeStateCreating: the volume's storage is being provisioned or restored.
	VolumeStateCreating VolumeStateName = "creating"
	// VolumeStateAvailable: the volume is ready and attached to nothing.
	VolumeStateAvailable VolumeStateName = "available"
	// VolumeStateInUse: the volume is attached (or being attached or detached).
	VolumeStateInUse VolumeStateName = "in-use"
	// VolumeStateDeleting: the volume is being deleted.
	VolumeStateDeleting VolumeStateName = "deleting"
	// VolumeStateDeleted: the volume is gone (EC2 shows it briefly).
	VolumeStateDeleted VolumeStateName = "deleted"
	// VolumeStateError: the storage could not be provisioned; see the Ready condition.
	VolumeStateError VolumeStateName = "error"
)

// VolumeAttachmentStateName is the EC2 state of a volume's attachment to an instance.
// +kubebuilder:validation:Enum=attaching;attached;detaching;detached
type VolumeAttachmentStateName string

const (
	// AttachmentStateAttaching: the disk is being added to the instance.
	AttachmentStateAttaching VolumeAttachmentStateName = "attaching"
	// AttachmentStateAttached: the instance has the disk (a running guest sees it; a
	// stopped instance gets it at its next start).
	AttachmentStateAttached VolumeAttachmentStateName = "attached"
	// AttachmentStateDetaching: the disk is being removed from the instance.
	AttachmentStateDetaching VolumeAttachmentStateName = "detaching"
	// AttachmentStateDetached: the disk is no longer the instance's.
	AttachmentStateDetached VolumeAttachmentStateName = "detached"
)

// VolumeModificationStateName is the EC2 state of a volume modification.
// +kubebuilder:validation:Enum=modifying;optimizing;completed;failed
type VolumeModificationStateName string

const (
	// ModificationStateModifying: the storage is being changed.
	ModificationStateModifying VolumeModificationStateName = "modifying"
	// ModificationStateOptimizing: the change is in place and being finished.
	ModificationStateOptimizing VolumeModificationStateName = "optimizing"
	// ModificationStateCompleted: the change is done.
	ModificationStateCompleted VolumeModificationStateName = "completed"
	// ModificationStateFailed: the change cannot be made; see the message.
	ModificationStateFailed VolumeModificationStateName = "failed"
)

// VolumeAttachment is the instance a volume is attached to.
type VolumeAttachment struct {
	// instanceId is the EC2 ID of an instance of the same account and zone.
	// +required
	// +kubebuilder:validation:Pattern=`^i-([0-9a-f]{8}|[0-9a-f]{17})$`
	InstanceID string `json:"instanceId"`

	// device is the EC2 device name the instance sees the volume at: the image's root
	// device for a root volume, /dev/sdf to /dev/sdp or /dev/xvdb to /dev/xvdz (and two
	// letters, /dev/xvdba...) for the others. The guest's kernel names the disk itself;
	// the disk's serial number is the volume ID without its dash, as on EC2's Nitro
	// instances.
	// +required
	// +kubebuilder:validation:Pattern=`^/dev/(sd[a-z][0-9]*|xvd[a-z]{1,2}[0-9]*)$`
	Device string `json:"device"`

	// deleteOnTermination deletes the volume when the instance is terminated. False by
	// default (root volumes and volumes created at launch ask for true, as in EC2).
	// +optional
	DeleteOnTermination bool `json:"deleteOnTermination,omitempty"`
}

// VolumeSpec is the desired state of a volume (an EBS volume). Field names follow the
// EC2 API's CreateVolume members.
//
// +kubebuilder:validation:XValidation:rule="!has(self.snapshotId) || !has(self.imageId)",message="a volume is restored from a snapshot or cloned from an image, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.volumeType) || !(self.volumeType in ['io1', 'io2']) || self.size >= 4",message="io1 and io2 volumes are at least 4 GiB"
// +kubebuilder:validation:XValidation:rule="!has(self.volumeType) || !(self.volumeType in ['st1', 'sc1']) || self.size >= 125",message="st1 and sc1 volumes are at least 125 GiB"
// +kubebuilder:validation:XValidation:rule="(has(self.volumeType) && self.volumeType == 'io2') || self.size <= 16384",message="volumes other than io2 are at most 16384 GiB"
// +kubebuilder:validation:XValidation:rule="!has(self.volumeType) || self.volumeType != 'standard' || self.size <= 1024",message="standard volumes are at most 1024 GiB"
// +kubebuilder:validation:XValidation:rule="!has(self.iops) || (has(self.volumeType) && self.volumeType in ['io1', 'io2', 'gp3'])",message="iops can be set only for io1, io2 and gp3 volumes"
// +kubebuilder:validation:XValidation:rule="!has(self.volumeType) || !(self.volumeType in ['io1', 'io2']) || has(self.iops)",message="io1 and io2 volumes need iops"
// +kubebuilder:validation:XValidation:rule="!has(self.throughput) || (has(self.volumeType) && self.volumeType == 'gp3')",message="throughput can be set only for gp3 volumes"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.attachment) || !has(self.attachment) || (self.attachment.instanceId == oldSelf.attachment.instanceId && self.attachment.device == oldSelf.attachment.device)",message="an attached volume must be detached (attachment removed) before it is attached elsewhere"
type VolumeSpec struct {
	// size is the volume's size in GiB: 1 to 16384 (io2: 65536); io1 and io2 take at
	// least 4, st1 and sc1 at least 125, standard at most 1024. It can grow, never shrink.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65536
	// +kubebuilder:validation:XValidation:rule="self >= oldSelf",message="a volume's size can only grow"
	Size int32 `json:"size"`

	// volumeType is the EBS volume type, gp2 by default (as CreateVolume's). It decides
	// the StorageClass of the volume's PersistentVolumeClaim; a change to a type of
	// another StorageClass is reported as a failed modification.
	// +optional
	// +kubebuilder:default=gp2
	VolumeType VolumeType `json:"volumeType,omitempty"`

	// availabilityZone is the zone the volume lives in; only instances of that zone can
	// attach it. It cannot be changed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="availabilityZone cannot be changed"
	AvailabilityZone string `json:"availabilityZone"`

	// snapshotId is the snapshot ("snap-" and 17 hex digits) of the same account the
	// volume is restored from; empty makes a blank volume. It cannot be changed.
	// +optional
	// +kubebuilder:validation:Pattern=`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="snapshotId cannot be changed"
	SnapshotID string `json:"snapshotId,omitempty"`

	// imageId is set on an instance's root volume: the image its disk is cloned from.
	// While such a volume is attached as its instance's root device, the instance's
	// VirtualMachine provisions the disk (a DataVolume template); otherwise the operator
	// clones it. It cannot be changed.
	// +optional
	// +kubebuilder:validation:Pattern=`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="imageId cannot be changed"
	ImageID string `json:"imageId,omitempty"`

	// iops is the provisioned I/O operations per second: required for io1 (100 to
	// 64000) and io2 (100 to 256000), optional for gp3 (3000 to 80000, 3000 by default).
	// Koala records it; the StorageClass decides what the storage delivers.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=256000
	Iops *int32 `json:"iops,omitempty"`

	// throughput is a gp3 volume's throughput in MiB/s (125 to 2000, 125 by default).
	// Koala records it; the StorageClass decides what the storage delivers.
	// +optional
	// +kubebuilder:validation:Minimum=125
	// +kubebuilder:validation:Maximum=2000
	Throughput *int32 `json:"throughput,omitempty"`

	// attachment is the instance the volume is attached to, if any. Setting it attaches
	// the volume (a hotplugged disk on the instance's VirtualMachine; a stopped instance
	// gets it at its next start), removing it detaches the volume. To move a volume,
	// remove the attachment first.
	// +optional
	Attachment *VolumeAttachment `json:"attachment,omitempty"`

	// tags are the volume's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`

	// clientToken is the idempotency token of the CreateVolume call that created the
	// volume, if any. It cannot be changed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clientToken cannot be changed"
	ClientToken string `json:"clientToken,omitempty"`
}

// VolumeAttachmentStatus is an attachment as the operator observes it.
type VolumeAttachmentStatus struct {
	// instanceId is the instance's EC2 ID.
	// +required
	// +kubebuilder:validation:MaxLength=19
	InstanceID string `json:"instanceId"`

	// device is the EC2 device name.
	// +required
	// +kubebuilder:validation:MaxLength=32
	Device string `json:"device"`

	// state is attaching, attached, detaching or detached.
	// +required
	State VolumeAttachmentStateName `json:"state"`

	// attachTime is when the attachment began.
	// +optional
	AttachTime *metav1.Time `json:"attachTime,omitempty"`

	// deleteOnTermination is the attachment's setting.
	// +optional
	DeleteOnTermination bool `json:"deleteOnTermination,omitempty"`
}

// VolumeModification is the last change of a volume's size, type, IOPS or throughput.
type VolumeModification struct {
	// state is modifying, optimizing, completed or failed.
	// +required
	State VolumeModificationStateName `json:"state"`

	// message says why a modification failed.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// originalSize is the size in GiB before the modification.
	// +optional
	OriginalSize int32 `json:"originalSize,omitempty"`

	// targetSize is the size in GiB asked for.
	// +optional
	TargetSize int32 `json:"targetSize,omitempty"`

	// originalVolumeType is the volume type before the modification.
	// +optional
	OriginalVolumeType VolumeType `json:"originalVolumeType,omitempty"`

	// targetVolumeType is the volume type asked for.
	// +optional
	TargetVolumeType VolumeType `json:"targetVolumeType,omitempty"`

	// originalIops is the IOPS before the modification, where the type has them.
	// +optional
	OriginalIops *int32 `json:"originalIops,omitempty"`

	// targetIops is the IOPS asked for, where the type has them.
	// +optional
	TargetIops *int32 `json:"targetIops,omitempty"`

	// originalThroughput is the throughput in MiB/s before the modification (gp3).
	// +optional
	OriginalThroughput *int32 `json:"originalThroughput,omitempty"`

	// targetThroughput is the throughput in MiB/s asked for (gp3).
	// +optional
	TargetThroughput *int32 `json:"targetThroughput,omitempty"`

	// progress is the percentage done, 0 to 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Progress int32 `json:"progress,omitempty"`

	// startTime is when the modification was asked for.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// endTime is when the modification completed or failed.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// VolumeStatus is the observed state of a volume.
type VolumeStatus struct {
	// volumeId is the EC2 ID ("vol-" and 17 hex digits).
	// +optional
	// +kubebuilder:validation:MaxLength=21
	VolumeID string `json:"volumeId,omitempty"`

	// state is the EC2 state.
	// +optional
	State VolumeStateName `json:"state,omitempty"`

	// createTime is when the volume was created.
	// +optional
	CreateTime *metav1.Time `json:"createTime,omitempty"`

	// size is the size in GiB the volume has now: the one it was created with, then
	// that of its last completed modification.
	// +optional
	Size int32 `json:"size,omitempty"`

	// volumeType is the volume type the volume has now.
	// +optional
	VolumeType VolumeType `json:"volumeType,omitempty"`

	// iops is the IOPS the volume has now, where its type has them.
	// +optional
	Iops *int32 `json:"iops,omitempty"`

	// throughput is the throughput in MiB/s the volume has now (gp3).
	// +optional
	Throughput *int32 `json:"throughput,omitempty"`

	// capacity is the size in GiB the storage reports for the volume's claim.
	// +optional
	Capacity int32 `json:"capacity,omitempty"`

	// storageClassName is the StorageClass of the volume's PersistentVolumeClaim.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName string `json:"storageClassName,omitempty"`

	// attachments are the volume's attachments as observed: the one asked for, and one
	// on its way out.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4
	Attachments []VolumeAttachmentStatus `json:"attachments,omitempty"`

	// modification is the last modification of the volume, if any.
	// +optional
	Modification *VolumeModification `json:"modification,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the volume is available, or attached as asked.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a Volume's Ready condition.
const (
	// VolumeReasonCreating: the storage is being provisioned, cloned or restored.
	VolumeReasonCreating = "Creating"
	// VolumeReasonAvailable: the volume is ready and attached to nothing.
	VolumeReasonAvailable = "Available"
	// VolumeReasonAttaching: the disk is being added to the instance.
	VolumeReasonAttaching = "Attaching"
	// VolumeReasonAttached: the instance has the disk.
	VolumeReasonAttached = "Attached"
	// VolumeReasonDetaching: the disk is being removed from the instance.
	VolumeReasonDetaching = "Detaching"
	// VolumeReasonDeleting: the volume is being deleted.
	VolumeReasonDeleting = "Deleting"
	// VolumeReasonProvisioningFailed: CDI reported the DataVolume as failed.
	VolumeReasonProvisioningFailed = "ProvisioningFailed"
	// VolumeReasonSnapshotNotFound: spec.snapshotId names no snapshot of the account.
	VolumeReasonSnapshotNotFound = "SnapshotNotFound"
	// VolumeReasonImageNotFound: spec.imageId names no image the account can use.
	VolumeReasonImageNotFound = "ImageNotFound"
	// VolumeReasonInstanceNotFound: spec.attachment names no instance of the account.
	VolumeReasonInstanceNotFound = "InstanceNotFound"
	// VolumeReasonZoneMismatch: the instance is in another zone than the volume.
	VolumeReasonZoneMismatch = "ZoneMismatch"
	// VolumeReasonDeviceInUse: another volume is attached at the same device.
	VolumeReasonDeviceInUse = "DeviceInUse"
	// VolumeReasonDataVolumeNameTaken: a DataVolume with the volume's name exists that
	// is not the volume's.
	VolumeReasonDataVolumeNameTaken = "DataVolumeNameTaken"
	// VolumeReasonInUse: a deleted volume waits until it is detached.
	VolumeReasonInUse = "InUse"
	// VolumeReasonVolumeLimitExceeded: the volume waits for storage: with it, the
	// account's volumes would pass its volumeGiB quota.
	VolumeReasonVolumeLimitExceeded = "VolumeLimitExceeded"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala,shortName=vol
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.volumeId`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.spec.size`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.volumeType`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.attachment.instanceId`
// +kubebuilder:printcolumn:name="Device",type=string,JSONPath=`.spec.attachment.device`,priority=1
// +kubebuilder:printcolumn:name="Zone",type=string,JSONPath=`.spec.availabilityZone`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Volume is an EBS volume: a CDI DataVolume (and its PersistentVolumeClaim) of the
// volume type's StorageClass, attached to instances by hotplug.
type Volume struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the volume.
	// +required
	Spec VolumeSpec `json:"spec"`

	// status is the observed state of the volume.
	// +optional
	Status VolumeStatus `json:"status,omitempty"`
}

// EC2ID is the volume's EC2 ID: from status once confirmed, else the one asked for at
// creation, else "".
func (in *Volume) EC2ID() string {
	if in.Status.VolumeID != "" {
		return in.Status.VolumeID
	}
	return in.Annotations[IDAnnotation]
}

// Type is the volume's type: spec.volumeType, or the default gp2.
func (in *Volume) Type() VolumeType {
	if in.Spec.VolumeType == "" {
		return VolumeTypeGP2
	}
	return in.Spec.VolumeType
}

// +kubebuilder:object:root=true

// VolumeList is a list of volumes.
type VolumeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Volume `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Volume{}, &VolumeList{})
}

// EBSBlockDevice describes the volume of a block device mapping, as EC2's
// EbsBlockDevice does.
type EBSBlockDevice struct {
	// snapshotId is the snapshot the volume is restored from; empty makes a blank
	// volume (then volumeSize is required).
	// +optional
	// +kubebuilder:validation:Pattern=`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`
	SnapshotID string `json:"snapshotId,omitempty"`

	// volumeSize is the size in GiB; by default the snapshot's size (or, for a root
	// device, the image's root volume size).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65536
	VolumeSize int32 `json:"volumeSize,omitempty"`

	// volumeType is the volume type; gp3 by default.
	// +optional
	VolumeType VolumeType `json:"volumeType,omitempty"`

	// deleteOnTermination deletes the volume when the instance terminates; true by
	// default, as in EC2.
	// +optional
	DeleteOnTermination *bool `json:"deleteOnTermination,omitempty"`

	// iops is the volume's provisioned IOPS (io1, io2, gp3).
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=256000
	Iops *int32 `json:"iops,omitempty"`

	// throughput is the volume's throughput in MiB/s (gp3).
	// +optional
	// +kubebuilder:validation:Minimum=125
	// +kubebuilder:validation:Maximum=2000
	Throughput *int32 `json:"throughput,omitempty"`
}

// BlockDeviceMapping is one device of an image or a launch: a volume to create, or
// (noDevice) an image's device to leave out.
//
// +kubebuilder:validation:XValidation:rule="has(self.ebs) != (has(self.noDevice) && self.noDevice)",message="a block device mapping has either ebs or noDevice"
type BlockDeviceMapping struct {
	// deviceName is the EC2 device name, e.g. /dev/xvda or /dev/sdf.
	// +required
	// +kubebuilder:validation:Pattern=`^/dev/(sd[a-z][0-9]*|xvd[a-z]{1,2}[0-9]*)$`
	DeviceName string `json:"deviceName"`

	// noDevice leaves out the image's mapping of this device (launches only).
	// +optional
	NoDevice bool `json:"noDevice,omitempty"`

	// ebs is the volume to create for the device.
	// +optional
	EBS *EBSBlockDevice `json:"ebs,omitempty"`
}

// DeleteOnTerminationOrDefault is the mapping's setting: true unless it says false.
func (in *EBSBlockDevice) DeleteOnTerminationOrDefault() bool {
	return in == nil || in.DeleteOnTermination == nil || *in.DeleteOnTermination
}
