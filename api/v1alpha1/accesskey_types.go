package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccessKeyState says whether a key may be used.
// +kubebuilder:validation:Enum=Active;Inactive
type AccessKeyState string

const (
	// AccessKeyActive keys sign requests.
	AccessKeyActive AccessKeyState = "Active"
	// AccessKeyInactive keys are refused (AuthFailure) until made active again.
	AccessKeyInactive AccessKeyState = "Inactive"
)

// Permission is what a key may do in its account.
// +kubebuilder:validation:Enum=FullAccess;ReadOnly
type Permission string

const (
	// PermissionFullAccess may call every action.
	PermissionFullAccess Permission = "FullAccess"
	// PermissionReadOnly may call only actions that change nothing (Describe*);
	// others answer UnauthorizedOperation.
	PermissionReadOnly Permission = "ReadOnly"
)

// AccessKeySpec is an access key of an account.
type AccessKeySpec struct {
	// account names the Account the key acts in. It cannot be changed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="account cannot be changed"
	Account string `json:"account"`

	// status is Active (the default) or Inactive; an inactive key is refused.
	// +optional
	// +kubebuilder:default=Active
	Status AccessKeyState `json:"status,omitempty"`

	// permission is FullAccess (the default) or ReadOnly.
	// +optional
	// +kubebuilder:default=FullAccess
	Permission Permission `json:"permission,omitempty"`

	// description is free text, at most 256 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`
}

// SecretReference names the Secret holding a key's credentials.
type SecretReference struct {
	// namespace of the Secret: the account's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// AccessKeyStatus is what the operator made and observed.
type AccessKeyStatus struct {
	// accessKeyId is the key ID ("AKIA" and 16 characters).
	// +optional
	// +kubebuilder:validation:MaxLength=20
	AccessKeyID string `json:"accessKeyId,omitempty"`

	// secretRef names the Secret holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// createDate is when the current key was generated.
	// +optional
	CreateDate *metav1.Time `json:"createDate,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the key can sign requests.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of an AccessKey's Ready condition.
const (
	// AccessKeyReasonActive: the key signs requests.
	AccessKeyReasonActive = "Active"
	// AccessKeyReasonInactive: spec.status is Inactive.
	AccessKeyReasonInactive = "Inactive"
	// AccessKeyReasonAccountNotReady: the Account does not exist or is not ready.
	AccessKeyReasonAccountNotReady = "AccountNotReady"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=koala
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.spec.account`
// +kubebuilder:printcolumn:name="Key ID",type=string,JSONPath=`.status.accessKeyId`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.spec.status`
// +kubebuilder:printcolumn:name="Permission",type=string,JSONPath=`.spec.permission`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.secretRef.name`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AccessKey is an access key of an account. Koala generates the key ID and the secret
// and keeps them in a Secret in the account's namespace; deleting the AccessKey
// revokes the key at once.
type AccessKey struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which account the key acts in and what it may do.
	// +required
	Spec AccessKeySpec `json:"spec"`

	// status holds the key ID and where its secret is.
	// +optional
	Status AccessKeyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AccessKeyList is a list of access keys.
type AccessKeyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessKey `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AccessKey{}, &AccessKeyList{})
}
