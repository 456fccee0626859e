package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubnetSpec is the desired state of a subnet. Field names follow the EC2 API's
// CreateSubnet members.
type SubnetSpec struct {
	// vpcId is the EC2 ID of the account's VPC the subnet belongs to. It cannot be
	// changed.
	// +required
	// +kubebuilder:validation:Pattern=`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="vpcId cannot be changed"
	VPCID string `json:"vpcId"`

	// cidrBlock is the subnet's IPv4 range: inside the VPC's, of prefix length 16 to 28,
	// in canonical form, overlapping none of the VPC's other subnets. The first four
	// addresses and the last are reserved, as in EC2. It cannot be changed.
	// +required
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self).prefixLength() >= 16 && cidr(self).prefixLength() <= 28",message="cidrBlock must be an IPv4 CIDR of prefix length 16 to 28"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",message="cidrBlock must be in canonical form (the network's first address)"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="cidrBlock cannot be changed"
	CIDRBlock string `json:"cidrBlock"`

	// availabilityZone is the zone of the subnet's instances; empty lets Koala choose.
	// It cannot be changed once set.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="oldSelf == '' || self == oldSelf",message="availabilityZone cannot be changed"
	AvailabilityZone string `json:"availabilityZone,omitempty"`

	// mapPublicIpOnLaunch is EC2's attribute of that name. Koala records and reports
	// it, but gives instances public addresses only through Elastic IPs.
	// +optional
	MapPublicIPOnLaunch bool `json:"mapPublicIpOnLaunch,omitempty"`

	// defaultForAz marks a default subnet of a default VPC: instances launched without a
	// subnet in its zone go there. It cannot be changed.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="defaultForAz cannot be changed"
	DefaultForAZ bool `json:"defaultForAz,omitempty"`

	// tags are the subnet's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`
}

// SubnetStatus is the observed state of a subnet.
type SubnetStatus struct {
	// subnetId is the EC2 ID ("subnet-" and 17 hex digits), stable for the subnet's life.
	// +optional
	// +kubebuilder:validation:MaxLength=24
	SubnetID string `json:"subnetId,omitempty"`

	// state is pending until the subnet's NetworkAttachmentDefinition exists, then
	// available.
	// +optional
	State NetworkStateName `json:"state,omitempty"`

	// availabilityZone is the subnet's zone: spec's, or the one Koala chose.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AvailabilityZone string `json:"availabilityZone,omitempty"`

	// availableIpAddressCount is how many of the subnet's addresses no interface holds.
	// The operator refreshes it at most every few seconds, not at every launch.
	// +optional
	AvailableIPAddressCount int64 `json:"availableIpAddressCount,omitempty"`

	// networkAttachmentDefinition names the Multus NetworkAttachmentDefinition (in the
	// subnet's namespace) that instances of the subnet get their interface on.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NetworkAttachmentDefinition string `json:"networkAttachmentDefinition,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the subnet is available.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a Subnet's Ready condition.
const (
	// SubnetReasonAvailable: instances can be launched into the subnet.
	SubnetReasonAvailable = "Available"
	// SubnetReasonVPCNotFound: the account has no VPC of spec.vpcId.
	SubnetReasonVPCNotFound = "VPCNotFound"
	// SubnetReasonVPCNotAvailable: the VPC is not available yet.
	SubnetReasonVPCNotAvailable = "VPCNotAvailable"
	// SubnetReasonOutOfRange: spec.cidrBlock is not inside the VPC's range.
	SubnetReasonOutOfRange = "CIDROutOfRange"
	// SubnetReasonConflict: spec.cidrBlock overlaps an older subnet of the VPC.
	SubnetReasonConflict = "CIDRConflict"
	// SubnetReasonDeleting: the subnet is being deleted.
	SubnetReasonDeleting = "Deleting"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.subnetId`
// +kubebuilder:printcolumn:name="VPC",type=string,JSONPath=`.spec.vpcId`
// +kubebuilder:printcolumn:name="CIDR",type=string,JSONPath=`.spec.cidrBlock`
// +kubebuilder:printcolumn:name="Zone",type=string,JSONPath=`.status.availabilityZone`
// +kubebuilder:printcolumn:name="Free",type=integer,JSONPath=`.status.availableIpAddressCount`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Default",type=boolean,JSONPath=`.spec.defaultForAz`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Subnet is an EC2 subnet: a range of a VPC's addresses in one zone, behind a Multus
// NetworkAttachmentDefinition on the VPC's provider network. Koala assigns each
// instance's address from it and keeps it for the instance's life.
type Subnet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the subnet.
	// +required
	Spec SubnetSpec `json:"spec"`

	// status is the observed state of the subnet.
	// +optional
	Status SubnetStatus `json:"status,omitempty"`
}

// EC2ID is the subnet's EC2 ID: from status once confirmed, else the one asked for at
// creation, else "".
func (in *Subnet) EC2ID() string {
	if in.Status.SubnetID != "" {
		return in.Status.SubnetID
	}
	return in.Annotations[IDAnnotation]
}

// Zone is the subnet's zone: status's, else spec's.
func (in *Subnet) Zone() string {
	if in.Status.AvailabilityZone != "" {
		return in.Status.AvailabilityZone
	}
	return in.Spec.AvailabilityZone
}

// +kubebuilder:object:root=true

// SubnetList is a list of subnets.
type SubnetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Subnet `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Subnet{}, &SubnetList{})
}
