package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SnapshotStateName is the EC2 state of a snapshot.
// +kubebuilder:validation:Enum=pending;completed;error
type SnapshotStateName string

const (
	// SnapshotStatePending: the point-in-time copy is being taken.
	SnapshotStatePending SnapshotStateName = "pending"
	// SnapshotStateCompleted: the snapshot can be restored (its VolumeSnapshot is
	// readyToUse).
	SnapshotStateCompleted SnapshotStateName = "completed"
	// SnapshotStateError: the snapshot could not be taken; see statusMessage.
	SnapshotStateError SnapshotStateName = "error"
)

// SnapshotSpec is the desired state of a snapshot (an EBS snapshot). Exactly one of
// volumeId and sourceSnapshotId is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.volumeId) != has(self.sourceSnapshotId)",message="exactly one of volumeId and sourceSnapshotId must be set"
type SnapshotSpec struct {
	// volumeId is the volume ("vol-" and 17 hex digits) of the same account to take a
	// point-in-time copy of. It cannot be changed.
	// +optional
	// +kubebuilder:validation:Pattern=`^vol-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="volumeId cannot be changed"
	VolumeID string `json:"volumeId,omitempty"`

	// sourceSnapshotId makes the snapshot a copy (CopySnapshot) of another snapshot of
	// the same account: the source is restored into a temporary volume, which is then
	// snapshotted. It cannot be changed.
	// +optional
	// +kubebuilder:validation:Pattern=`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sourceSnapshotId cannot be changed"
	SourceSnapshotID string `json:"sourceSnapshotId,omitempty"`

	// description is free text, at most 255 characters. It cannot be changed.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="description cannot be changed"
	Description string `json:"description,omitempty"`

	// tags are the snapshot's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`
}

// SnapshotStatus is the observed state of a snapshot.
type SnapshotStatus struct {
	// snapshotId is the EC2 ID ("snap-" and 17 hex digits).
	// +optional
	// +kubebuilder:validation:MaxLength=22
	SnapshotID string `json:"snapshotId,omitempty"`

	// state is pending, completed or error.
	// +optional
	State SnapshotStateName `json:"state,omitempty"`

	// statusMessage says why a snapshot is in error.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	StatusMessage string `json:"statusMessage,omitempty"`

	// progress is EC2's progress string, "0%" to "100%".
	// +optional
	// +kubebuilder:validation:MaxLength=8
	Progress string `json:"progress,omitempty"`

	// volumeSize is the size in GiB of the volume the snapshot was taken of.
	// +optional
	VolumeSize int32 `json:"volumeSize,omitempty"`

	// startTime is when the snapshot was started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the snapshot completed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// volumeSnapshotName names the snapshot.storage.k8s.io VolumeSnapshot (in the
	// snapshot's namespace) that holds the data.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	VolumeSnapshotName string `json:"volumeSnapshotName,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the snapshot is completed.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a Snapshot's Ready condition.
const (
	// SnapshotReasonPending: the VolumeSnapshot is being taken.
	SnapshotReasonPending = "Pending"
	// SnapshotReasonCompleted: the VolumeSnapshot is ready to use.
	SnapshotReasonCompleted = "Completed"
	// SnapshotReasonVolumeNotFound: spec.volumeId names no volume of the account.
	SnapshotReasonVolumeNotFound = "VolumeNotFound"
	// SnapshotReasonSourceNotFound: spec.sourceSnapshotId names no snapshot of the
	// account.
	SnapshotReasonSourceNotFound = "SourceSnapshotNotFound"
	// SnapshotReasonFailed: the storage reported an error taking the snapshot.
	SnapshotReasonFailed = "Failed"
	// SnapshotReasonInUse: a deleted snapshot waits for the images and volumes that
	// still need it.
	SnapshotReasonInUse = "InUse"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala,shortName=snap
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.snapshotId`
// +kubebuilder:printcolumn:name="Volume",type=string,JSONPath=`.spec.volumeId`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.volumeSize`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Snapshot is an EBS snapshot: a snapshot.storage.k8s.io VolumeSnapshot of a volume's
// PersistentVolumeClaim, from which volumes and images are restored.
type Snapshot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the snapshot.
	// +required
	Spec SnapshotSpec `json:"spec"`

	// status is the observed state of the snapshot.
	// +optional
	Status SnapshotStatus `json:"status,omitempty"`
}

// EC2ID is the snapshot's EC2 ID: from status once confirmed, else the one asked for
// at creation, else "".
func (in *Snapshot) EC2ID() string {
	if in.Status.SnapshotID != "" {
		return in.Status.SnapshotID
	}
	return in.Annotations[IDAnnotation]
}

// +kubebuilder:object:root=true

// SnapshotList is a list of snapshots.
type SnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Snapshot `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Snapshot{}, &SnapshotList{})
}
