package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProviderNetworkType says how VPCs share a provider network.
// +kubebuilder:validation:Enum=bridge;vlan
type ProviderNetworkType string

const (
	// ProviderNetworkBridge puts every VPC untagged on the bridge: one layer-2 segment
	// for all of them, so VPCs are not isolated from each other at layer 2. For a
	// single team, or a lab.
	ProviderNetworkBridge ProviderNetworkType = "bridge"
	// ProviderNetworkVLAN gives each VPC a VLAN of its own, from vlanRange, on the
	// bridge: VPCs are isolated, and the subnets of one VPC share its segment.
	ProviderNetworkVLAN ProviderNetworkType = "vlan"
)

// VLANRange is an inclusive range of VLAN IDs.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="vlanRange.min must not be greater than vlanRange.max"
type VLANRange struct {
	// min is the first VLAN ID of the range, 1 to 4094.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	Min int32 `json:"min"`

	// max is the last VLAN ID of the range, 1 to 4094.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	Max int32 `json:"max"`
}

// Size is the number of VLAN IDs in the range.
func (r VLANRange) Size() int32 { return r.Max - r.Min + 1 }

// ProviderNetworkSpec is a network of the data centre that VPC subnets are carved from:
// a Linux bridge present on every node, reached by the instances' second interface
// through Multus and the bridge CNI plugin.
//
// +kubebuilder:validation:XValidation:rule="self.type != 'vlan' || has(self.vlanRange)",message="a vlan provider network needs a vlanRange"
type ProviderNetworkSpec struct {
	// type is bridge (every VPC untagged on the bridge) or vlan (a VLAN per VPC from
	// vlanRange).
	// +required
	Type ProviderNetworkType `json:"type"`

	// bridge names the Linux bridge on every node, at most 15 characters.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]{1,15}$`
	Bridge string `json:"bridge"`

	// vlanRange are the VLAN IDs VPCs get on a vlan provider network, one each.
	// +optional
	VLANRange *VLANRange `json:"vlanRange,omitempty"`

	// mtu of the instances' interface on the network, 576 to 9216; the bridge's when
	// unset.
	// +optional
	// +kubebuilder:validation:Minimum=576
	// +kubebuilder:validation:Maximum=9216
	MTU int32 `json:"mtu,omitempty"`

	// default marks the provider network of VPCs that name none, the accounts' default
	// VPCs among them. When no network is marked, a cluster with exactly one provider
	// network uses that one.
	// +optional
	Default bool `json:"default,omitempty"`

	// description is free text, at most 255 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Description string `json:"description,omitempty"`
}

// ProviderNetworkStatus is what the operator observed of a provider network.
type ProviderNetworkStatus struct {
	// vpcs is how many VPCs use the network.
	// +optional
	VPCs int32 `json:"vpcs,omitempty"`

	// availableVlans is how many VLAN IDs of vlanRange no VPC holds (vlan networks).
	// +optional
	AvailableVLANs int32 `json:"availableVlans,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when VPCs can use the network.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a ProviderNetwork's Ready condition.
const (
	// ProviderNetworkReasonReady: VPCs can use the network.
	ProviderNetworkReasonReady = "Ready"
	// ProviderNetworkReasonVLANsExhausted: every VLAN ID of vlanRange is held by a VPC;
	// new VPCs on the network wait.
	ProviderNetworkReasonVLANsExhausted = "VLANsExhausted"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=koala
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="a provider network's name must be a DNS label of at most 40 characters"
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Bridge",type=string,JSONPath=`.spec.bridge`
// +kubebuilder:printcolumn:name="Default",type=boolean,JSONPath=`.spec.default`
// +kubebuilder:printcolumn:name="VPCs",type=integer,JSONPath=`.status.vpcs`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ProviderNetwork is a network of the data centre that the platform team offers to
// VPCs: which bridge the nodes have, and which VLANs VPCs may use on it.
type ProviderNetwork struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the platform team configured.
	// +required
	Spec ProviderNetworkSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status ProviderNetworkStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ProviderNetworkList is a list of provider networks.
type ProviderNetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProviderNetwork `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ProviderNetwork{}, &ProviderNetworkList{})
}

// DefaultProviderNetwork picks the provider network of a VPC that names none: the one
// marked default (the oldest, if several are), else the only one; nil when there is
// none to pick.
func DefaultProviderNetwork(all []ProviderNetwork) *ProviderNetwork {
	var pick *ProviderNetwork
	for i := range all {
		pn := &all[i]
		if !pn.DeletionTimestamp.IsZero() || !pn.Spec.Default {
			continue
		}
		if pick == nil || pn.CreationTimestamp.Before(&pick.CreationTimestamp) ||
			(pn.CreationTimestamp.Equal(&pick.CreationTimestamp) && pn.Name < pick.Name) {
			pick = pn
		}
	}
	if pick == nil && len(all) == 1 && all[0].DeletionTimestamp.IsZero() {
		pick = &all[0]
	}
	return pick
}
