package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddressSpec is the desired state of an Elastic IP. Field names follow the EC2 API's
// AllocateAddress and AssociateAddress members.
type AddressSpec struct {
	// publicIp is the address: one the caller asked for, or the one the EC2 endpoint
	// allocated. Empty: the operator allocates one from the pool. It cannot be changed
	// once set.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="publicIp must be an IPv4 address"
	// +kubebuilder:validation:XValidation:rule="oldSelf == '' || self == oldSelf",message="publicIp cannot be changed"
	PublicIP string `json:"publicIp,omitempty"`

	// pool names the AddressPool the address comes from; empty uses the default pool.
	// It cannot be changed once set.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="oldSelf == '' || self == oldSelf",message="pool cannot be changed"
	Pool string `json:"pool,omitempty"`

	// instanceId associates the address with an instance of the account: a Service of
	// type LoadBalancer with the address forwards to the instance the ports its security
	// groups open. Empty: not associated.
	// +optional
	// +kubebuilder:validation:Pattern=`^(i-([0-9a-f]{8}|[0-9a-f]{17}))?$`
	InstanceID string `json:"instanceId,omitempty"`

	// associationId is the EC2 ID of the association ("eipassoc-" and 17 hex digits),
	// set by the EC2 endpoint. Empty: Koala derives one from the address and instance.
	// +optional
	// +kubebuilder:validation:Pattern=`^(eipassoc-([0-9a-f]{8}|[0-9a-f]{17}))?$`
	AssociationID string `json:"associationId,omitempty"`

	// tags are the address's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`
}

// AddressStatus is the observed state of an Elastic IP.
type AddressStatus struct {
	// allocationId is the EC2 ID ("eipalloc-" and 17 hex digits), stable for the
	// address's life.
	// +optional
	// +kubebuilder:validation:MaxLength=26
	AllocationID string `json:"allocationId,omitempty"`

	// publicIp is the address Koala holds for it.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	PublicIP string `json:"publicIp,omitempty"`

	// pool is the AddressPool the address comes from.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Pool string `json:"pool,omitempty"`

	// serviceName names the Service (in the address's namespace) that carries the
	// address to the associated instance.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ServiceName string `json:"serviceName,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the address is held and, if associated, its
	// Service is in place.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of an Address's Ready condition.
const (
	// AddressReasonAllocated: the address is held and not associated.
	AddressReasonAllocated = "Allocated"
	// AddressReasonAssociated: the address forwards to its instance.
	AddressReasonAssociated = "Associated"
	// AddressReasonNoPool: no AddressPool of spec.pool (or no default pool) exists.
	AddressReasonNoPool = "NoPool"
	// AddressReasonPoolExhausted: every address of the pool is held.
	AddressReasonPoolExhausted = "PoolExhausted"
	// AddressReasonAddressTaken: spec.publicIp is held by another Elastic IP, or is in
	// no pool.
	AddressReasonAddressTaken = "AddressTaken"
	// AddressReasonInstanceNotFound: spec.instanceId names no live instance of the
	// account; the address is not associated.
	AddressReasonInstanceNotFound = "InstanceNotFound"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala,shortName=eip
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.allocationId`
// +kubebuilder:printcolumn:name="Public IP",type=string,JSONPath=`.status.publicIp`
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.instanceId`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Address is an EC2 Elastic IP: a public address from a pool, kept by the account until
// released, that can be moved from instance to instance.
type Address struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the address.
	// +optional
	Spec AddressSpec `json:"spec,omitempty"`

	// status is the observed state of the address.
	// +optional
	Status AddressStatus `json:"status,omitempty"`
}

// EC2ID is the allocation ID: from status once confirmed, else the one asked for at
// creation, else "".
func (in *Address) EC2ID() string {
	if in.Status.AllocationID != "" {
		return in.Status.AllocationID
	}
	return in.Annotations[IDAnnotation]
}

// IP is the public address: spec's, else the one the operator allocated.
func (in *Address) IP() string {
	if in.Spec.PublicIP != "" {
		return in.Spec.PublicIP
	}
	return in.Status.PublicIP
}

// PoolName is the pool the address comes from: the one the operator recorded, else
// spec's (empty: the default pool, not chosen yet).
func (in *Address) PoolName() string {
	if in.Status.Pool != "" {
		return in.Status.Pool
	}
	return in.Spec.Pool
}

// +kubebuilder:object:root=true

// AddressList is a list of Elastic IPs.
type AddressList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Address `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Address{}, &AddressList{})
}
