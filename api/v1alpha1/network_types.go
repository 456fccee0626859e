package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkStateName is the EC2 state of a VPC or a subnet.
// +kubebuilder:validation:Enum=pending;available
type NetworkStateName string

const (
	// NetworkStatePending: the operator has not made the network usable yet; see the
	// Ready condition.
	NetworkStatePending NetworkStateName = "pending"
	// NetworkStateAvailable: instances can use the network.
	NetworkStateAvailable NetworkStateName = "available"
)

// NetworkSpec is the desired state of a VPC. Field names follow the EC2 API's CreateVpc
// members.
type NetworkSpec struct {
	// cidrBlock is the VPC's IPv4 range, a CIDR of prefix length 16 to 28 in canonical
	// form ("10.0.0.0/16"). Its subnets are carved from it. It cannot be changed.
	// +required
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self).prefixLength() >= 16 && cidr(self).prefixLength() <= 28",message="cidrBlock must be an IPv4 CIDR of prefix length 16 to 28"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",message="cidrBlock must be in canonical form (the network's first address)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="cidrBlock cannot be changed"
	CIDRBlock string `json:"cidrBlock"`

	// providerNetwork names the ProviderNetwork the VPC's subnets are on; empty uses the
	// cluster's default provider network. It cannot be changed once set.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="oldSelf == '' || self == oldSelf",message="providerNetwork cannot be changed"
	ProviderNetwork string `json:"providerNetwork,omitempty"`

	// isDefault marks the account's default VPC: instances launched without a subnet go
	// to its default subnet of their zone. It cannot be changed.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="isDefault cannot be changed"
	IsDefault bool `json:"isDefault,omitempty"`

	// enableDnsSupport says whether the VPC resolves DNS names (EC2's attribute; true
	// by default).
	// +optional
	// +kubebuilder:default=true
	EnableDNSSupport *bool `json:"enableDnsSupport,omitempty"`

	// enableDnsHostnames says whether instances get DNS host names (EC2's attribute;
	// false by default, true for default VPCs).
	// +optional
	EnableDNSHostnames bool `json:"enableDnsHostnames,omitempty"`

	// tags are the VPC's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`
}

// DNSSupport is spec.enableDnsSupport with its default.
func (s *NetworkSpec) DNSSupport() bool { return s.EnableDNSSupport == nil || *s.EnableDNSSupport }

// NetworkStatus is the observed state of a VPC.
type NetworkStatus struct {
	// vpcId is the EC2 ID ("vpc-" and 17 hex digits), stable for the VPC's life.
	// +optional
	// +kubebuilder:validation:MaxLength=21
	VPCID string `json:"vpcId,omitempty"`

	// state is pending until the VPC's provider network (and VLAN) is settled, then
	// available.
	// +optional
	State NetworkStateName `json:"state,omitempty"`

	// providerNetwork is the ProviderNetwork the VPC is on.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ProviderNetwork string `json:"providerNetwork,omitempty"`

	// vlan is the VLAN ID the VPC holds on a vlan provider network (0 on a bridge one).
	// +optional
	VLAN int32 `json:"vlan,omitempty"`

	// defaultSecurityGroupId is the ID of the VPC's default security group.
	// +optional
	// +kubebuilder:validation:MaxLength=20
	DefaultSecurityGroupID string `json:"defaultSecurityGroupId,omitempty"`

	// defaultSubnetZones are the zones in which a default VPC got its default subnet: one
	// /20 per zone that has nodes, made when the zone first appears (also after the VPC
	// was made). A zone stays listed when its default subnet is deleted, so that the
	// operator does not make it again, as in EC2.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	DefaultSubnetZones []string `json:"defaultSubnetZones,omitempty"`

	// defaultSubnetsCreated is true once the first default subnets of a default VPC were
	// made. Operators before defaultSubnetZones made them once, from the zones known at
	// that time, and recorded only this; for such a VPC the zones whose default subnet
	// exists count as listed in defaultSubnetZones. Still set for those operators.
	// +optional
	DefaultSubnetsCreated bool `json:"defaultSubnetsCreated,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the VPC is available.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a Network's Ready condition.
const (
	// NetworkReasonAvailable: the VPC is available.
	NetworkReasonAvailable = "Available"
	// NetworkReasonNoProviderNetwork: the VPC names no provider network and the cluster
	// has no default one, or the one it names does not exist.
	NetworkReasonNoProviderNetwork = "NoProviderNetwork"
	// NetworkReasonNoFreeVLAN: every VLAN of the provider network is taken.
	NetworkReasonNoFreeVLAN = "NoFreeVLAN"
	// NetworkReasonDeleting: the VPC is being deleted; it waits for its subnets and
	// security groups to go.
	NetworkReasonDeleting = "Deleting"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala,shortName=vpc
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.vpcId`
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidrBlock`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Default",type=boolean,JSONPath=`.spec.isDefault`
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.status.providerNetwork`,priority=1
// +kubebuilder:printcolumn:name="VLAN",type=integer,JSONPath=`.status.vlan`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Network is an EC2 VPC: an IPv4 range of the account's own on a provider network,
// divided into subnets, with security groups.
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the VPC.
	// +required
	Spec NetworkSpec `json:"spec"`

	// status is the observed state of the VPC.
	// +optional
	Status NetworkStatus `json:"status,omitempty"`
}

// EC2ID is the VPC's EC2 ID: from status once confirmed, else the one asked for at
// creation, else "".
func (in *Network) EC2ID() string {
	if in.Status.VPCID != "" {
		return in.Status.VPCID
	}
	return in.Annotations[IDAnnotation]
}

// +kubebuilder:object:root=true

// NetworkList is a list of VPCs.
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Network `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Network{}, &NetworkList{})
}
