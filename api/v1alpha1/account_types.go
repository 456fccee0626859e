package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccountQuotas are an account's limits. An unset limit is no limit.
type AccountQuotas struct {
	// instances is the most instances the account may have running (or asked to run).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Instances *int32 `json:"instances,omitempty"`

	// vcpus is the most vCPUs the account's running instances (and those asked to run) may have
	// together.
	// +optional
	// +kubebuilder:validation:Minimum=0
	VCPUs *int32 `json:"vcpus,omitempty"`

	// memoryMiB is the most memory, in MiB, the account's running instances (and those asked to
	// run) may have together.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MemoryMiB *int64 `json:"memoryMiB,omitempty"`

	// volumeGiB is the most block storage, in GiB, the account's volumes may have
	// together.
	// +optional
	// +kubebuilder:validation:Minimum=0
	VolumeGiB *int64 `json:"volumeGiB,omitempty"`

	// snapshots is the most snapshots the account may have.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Snapshots *int32 `json:"snapshots,omitempty"`

	// addresses is the most Elastic IP addresses the account may have.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Addresses *int32 `json:"addresses,omitempty"`
}

// AccountSpec is what the platform team decides about an account.
type AccountSpec struct {
	// accountId is the 12-digit AWS account ID. Koala generates one when it is empty.
	// It cannot be changed once set.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{12}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="accountId cannot be changed"
	AccountID string `json:"accountId,omitempty"`

	// displayName is a human-readable name, at most 128 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// quotas are the account's limits, checked by the EC2 endpoint before anything is
	// created and by the operator for resources made with kubectl.
	// +optional
	Quotas AccountQuotas `json:"quotas,omitempty"`
}

// AccountStatus is what the operator observed of an account.
type AccountStatus struct {
	// accountId is the account's 12-digit ID, the one in spec or the one generated.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{12}$`
	AccountID string `json:"accountId,omitempty"`

	// namespace is the namespace that holds the account's resources. It has the
	// Account's name.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the namespace exists and belongs to the account.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of an Account's Ready condition.
const (
	// AccountReasonReady: the account's namespace is ready.
	AccountReasonReady = "Ready"
	// AccountReasonNamespaceTaken: a namespace of the Account's name exists and
	// belongs to something else; Koala will not take it over.
	AccountReasonNamespaceTaken = "NamespaceTaken"
	// AccountReasonDuplicateID: another account already has spec.accountId.
	AccountReasonDuplicateID = "DuplicateAccountID"
	// AccountReasonDeleting: the account and everything in it are being deleted.
	AccountReasonDeleting = "Deleting"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=koala
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="an account's name must be a DNS label: it names the account's namespace"
// +kubebuilder:printcolumn:name="Account ID",type=string,JSONPath=`.status.accountId`
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.status.namespace`
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Account is an AWS account: a tenant of the cloud, with a namespace of its own that
// holds its resources, access keys that act in it, and quotas.
type Account struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the platform team decides about the account.
	// +optional
	Spec AccountSpec `json:"spec,omitempty"`

	// status is what the operator observed.
	// +optional
	Status AccountStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AccountList is a list of accounts.
type AccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Account `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Account{}, &AccountList{})
}
