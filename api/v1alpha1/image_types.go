package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImageStateName is the EC2 state of an image.
// +kubebuilder:validation:Enum=pending;available;failed
type ImageStateName string

const (
	// ImageStatePending: the disk is being imported.
	ImageStatePending ImageStateName = "pending"
	// ImageStateAvailable: instances can be launched from the image.
	ImageStateAvailable ImageStateName = "available"
	// ImageStateFailed: the import failed; see stateReason.
	ImageStateFailed ImageStateName = "failed"
)

// Architecture is a CPU architecture, named as EC2 names it.
// +kubebuilder:validation:Enum=x86_64;arm64
type Architecture string

const (
	// ArchitectureX8664 is 64-bit x86.
	ArchitectureX8664 Architecture = "x86_64"
	// ArchitectureARM64 is 64-bit ARM.
	ArchitectureARM64 Architecture = "arm64"
)

// HTTPImageSource imports a disk image (qcow2, raw, optionally compressed) by HTTP(S).
type HTTPImageSource struct {
	// url is the address of the disk image, for example a distribution's cloud image.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (self.startsWith('http://') || self.startsWith('https://'))",message="url must be an http:// or https:// URL"
	URL string `json:"url"`
}

// RegistryImageSource imports a KubeVirt container disk from an OCI registry.
type RegistryImageSource struct {
	// url is the container disk's reference, e.g. "docker://quay.io/containerdisks/fedora:41".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('docker://') || self.startsWith('oci-archive://')",message="url must start with docker:// or oci-archive://"
	URL string `json:"url"`
}

// SnapshotImageSource restores the disk from a snapshot of the image's account
// (RegisterImage with a root device snapshot, CreateImage).
type SnapshotImageSource struct {
	// snapshotId is the snapshot ("snap-" and 17 hex digits) of the root device.
	// +required
	// +kubebuilder:validation:Pattern=`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`
	SnapshotID string `json:"snapshotId"`
}

// ImageSource says where an image's disk comes from. Exactly one member is set.
// +kubebuilder:validation:XValidation:rule="(has(self.http) ? 1 : 0) + (has(self.registry) ? 1 : 0) + (has(self.snapshot) ? 1 : 0) == 1",message="exactly one of http, registry and snapshot must be set"
type ImageSource struct {
	// http imports the disk from an HTTP(S) URL.
	// +optional
	HTTP *HTTPImageSource `json:"http,omitempty"`

	// registry imports a container disk from an OCI registry.
	// +optional
	Registry *RegistryImageSource `json:"registry,omitempty"`

	// snapshot restores the disk from a snapshot; the image stays pending until the
	// snapshot is completed, and the snapshot cannot be deleted while the image exists.
	// +optional
	Snapshot *SnapshotImageSource `json:"snapshot,omitempty"`
}

// ImageSpec is the desired state of an image (an AMI).
type ImageSpec struct {
	// name is the image's EC2 name, unique in the account; it defaults to the object's
	// name. 3 to 128 characters: letters, digits, ( ) [ ] . / - ' @ _ and spaces.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9()\[\] ./\-'@_]+$`
	Name string `json:"name,omitempty"`

	// description is free text, at most 255 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Description string `json:"description,omitempty"`

	// architecture is the CPU architecture the image boots on; x86_64 by default.
	// +optional
	// +kubebuilder:default=x86_64
	Architecture Architecture `json:"architecture,omitempty"`

	// source is where the disk comes from. It cannot be changed.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="source cannot be changed"
	Source ImageSource `json:"source"`

	// rootDeviceName is the device name of the root disk as EC2 shows it; /dev/xvda by
	// default.
	// +optional
	// +kubebuilder:default="/dev/xvda"
	// +kubebuilder:validation:Pattern=`^/dev/(sd[a-z][0-9]*|xvd[a-z]+[0-9]*|nvme[0-9]+n[0-9]+)$`
	RootDeviceName string `json:"rootDeviceName,omitempty"`

	// rootVolumeSize is the size of an instance's root volume in GiB, at least the size
	// of the disk; 8 by default.
	// +optional
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16384
	RootVolumeSize int32 `json:"rootVolumeSize,omitempty"`

	// rootVolumeType is the volume type of an instance's root volume; gp3 by default.
	// +optional
	// +kubebuilder:default=gp3
	RootVolumeType VolumeType `json:"rootVolumeType,omitempty"`

	// blockDeviceMappings are the image's devices besides the root device: each
	// instance launched from the image gets a volume for each (restored from the
	// snapshot, or blank), attached at the device. The image stays pending until their
	// snapshots are completed. They cannot be changed.
	// +optional
	// +listType=map
	// +listMapKey=deviceName
	// +kubebuilder:validation:MaxItems=24
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="blockDeviceMappings cannot be changed"
	// +kubebuilder:validation:XValidation:rule="self.all(m, has(m.ebs) && (has(m.ebs.snapshotId) || has(m.ebs.volumeSize)))",message="each of an image's block device mappings needs ebs with a snapshotId or a volumeSize"
	BlockDeviceMappings []BlockDeviceMapping `json:"blockDeviceMappings,omitempty"`

	// sourceInstanceId is the instance the image was made from (CreateImage), if any.
	// +optional
	// +kubebuilder:validation:Pattern=`^i-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sourceInstanceId cannot be changed"
	SourceInstanceID string `json:"sourceInstanceId,omitempty"`

	// public makes the image visible to, and launchable by, every account.
	// +optional
	Public bool `json:"public,omitempty"`

	// tags are the image's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`
}

// ImageStatus is the observed state of an image.
type ImageStatus struct {
	// imageId is the EC2 ID ("ami-" and 17 hex digits).
	// +optional
	// +kubebuilder:validation:MaxLength=21
	ImageID string `json:"imageId,omitempty"`

	// state is pending while the disk is imported, then available or failed.
	// +optional
	State ImageStateName `json:"state,omitempty"`

	// stateReason says why the image failed.
	// +optional
	StateReason *StateReason `json:"stateReason,omitempty"`

	// creationDate is when the image was registered.
	// +optional
	CreationDate *metav1.Time `json:"creationDate,omitempty"`

	// dataSourceName names the CDI DataSource (in the image's namespace) that instances
	// clone their root disk from.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DataSourceName string `json:"dataSourceName,omitempty"`

	// progress is the import progress reported by CDI, e.g. "45.00%".
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Progress string `json:"progress,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the image is available.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of an Image's Ready condition.
const (
	// ImageReasonImporting: CDI is importing the disk.
	ImageReasonImporting = "Importing"
	// ImageReasonAvailable: the disk is imported and instances can clone it.
	ImageReasonAvailable = "Available"
	// ImageReasonImportFailed: CDI reported the import as failed.
	ImageReasonImportFailed = "ImportFailed"
	// ImageReasonSnapshotPending: a snapshot of the image is not completed yet.
	ImageReasonSnapshotPending = "SnapshotPending"
	// ImageReasonSnapshotNotFound: a snapshot the image names does not exist in its
	// namespace.
	ImageReasonSnapshotNotFound = "SnapshotNotFound"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala,shortName=ami
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.imageId`
// +kubebuilder:printcolumn:name="Image Name",type=string,JSONPath=`.spec.name`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Public",type=boolean,JSONPath=`.spec.public`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Image is an EC2 machine image (AMI): a golden disk held by a CDI DataSource that
// instances clone their root disk from, and the devices (snapshots) each instance gets
// besides.
type Image struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the image.
	// +required
	Spec ImageSpec `json:"spec"`

	// status is the observed state of the image.
	// +optional
	Status ImageStatus `json:"status,omitempty"`
}

// EC2ID is the image's EC2 ID: from status once confirmed, else the one asked for at
// creation, else "".
func (in *Image) EC2ID() string {
	if in.Status.ImageID != "" {
		return in.Status.ImageID
	}
	return in.Annotations[IDAnnotation]
}

// ImageName is the image's EC2 name: spec.name, or the object's name.
func (in *Image) ImageName() string {
	if in.Spec.Name != "" {
		return in.Spec.Name
	}
	return in.Name
}

// SnapshotIDs are the snapshots the image uses: its root's and its devices'.
func (in *Image) SnapshotIDs() []string {
	var out []string
	if s := in.Spec.Source.Snapshot; s != nil && s.SnapshotID != "" {
		out = append(out, s.SnapshotID)
	}
	for _, m := range in.Spec.BlockDeviceMappings {
		if m.EBS != nil && m.EBS.SnapshotID != "" {
			out = append(out, m.EBS.SnapshotID)
		}
	}
	return out
}

// +kubebuilder:object:root=true

// ImageList is a list of images.
type ImageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Image `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Image{}, &ImageList{})
}
