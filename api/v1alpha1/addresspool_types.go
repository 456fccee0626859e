package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddressPoolSpec is a set of public addresses that Elastic IPs come from. A load
// balancer implementation (MetalLB) must announce them: Koala asks for an address by
// putting it on a Service of type LoadBalancer.
type AddressPoolSpec struct {
	// addresses are IPv4 CIDRs ("203.0.113.0/24") or ranges
	// ("198.51.100.10-198.51.100.20"); every address of a CIDR is used, network and
	// broadcast addresses included, as MetalLB does. Pools must not overlap.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[0-9.]+(/[0-9]{1,2}|-[0-9.]+)$`
	Addresses []string `json:"addresses"`

	// metallbAddressPool names the MetalLB IPAddressPool that announces the addresses;
	// Koala's Services ask for it by annotation. Empty leaves the choice to MetalLB.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	MetalLBAddressPool string `json:"metallbAddressPool,omitempty"`

	// default marks the pool AllocateAddress takes from when the caller names none (by
	// its PublicIpv4Pool parameter). When no pool is marked, a cluster with exactly one
	// pool uses that one.
	// +optional
	Default bool `json:"default,omitempty"`

	// description is free text, at most 255 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Description string `json:"description,omitempty"`
}

// AddressPoolStatus is what the operator observed of a pool.
type AddressPoolStatus struct {
	// total is how many addresses the pool has.
	// +optional
	Total int64 `json:"total,omitempty"`

	// allocated is how many of them Elastic IPs hold.
	// +optional
	Allocated int64 `json:"allocated,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the addresses parse and Elastic IPs can come from
	// the pool.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of an AddressPool's Ready condition.
const (
	// AddressPoolReasonReady: addresses can be allocated from the pool.
	AddressPoolReasonReady = "Ready"
	// AddressPoolReasonInvalid: an entry of spec.addresses is not an IPv4 CIDR or range.
	AddressPoolReasonInvalid = "InvalidAddresses"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=koala
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="an address pool's name must be a DNS label"
// +kubebuilder:printcolumn:name="Default",type=boolean,JSONPath=`.spec.default`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Allocated",type=integer,JSONPath=`.status.allocated`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AddressPool is a pool of public addresses that the platform team owns; accounts
// allocate Elastic IPs from it.
type AddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the platform team configured.
	// +required
	Spec AddressPoolSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status AddressPoolStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AddressPoolList is a list of address pools.
type AddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AddressPool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AddressPool{}, &AddressPoolList{})
}

// DefaultAddressPool picks the pool of an allocation that names none: the one marked
// default (the oldest, if several are), else the only one; nil when there is none.
func DefaultAddressPool(all []AddressPool) *AddressPool {
	var pick *AddressPool
	for i := range all {
		p := &all[i]
		if !p.DeletionTimestamp.IsZero() || !p.Spec.Default {
			continue
		}
		if pick == nil || p.CreationTimestamp.Before(&pick.CreationTimestamp) ||
			(p.CreationTimestamp.Equal(&pick.CreationTimestamp) && p.Name < pick.Name) {
			pick = p
		}
	}
	if pick == nil && len(all) == 1 && all[0].DeletionTimestamp.IsZero() {
		pick = &all[0]
	}
	return pick
}
