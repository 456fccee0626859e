package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Protocols of security group rules, as EC2 names them.
const (
	// ProtocolAll is every protocol (EC2's "-1"); ports do not apply.
	ProtocolAll = "-1"
	ProtocolTCP = "tcp"
	ProtocolUDP = "udp"
	// ProtocolICMP rules carry the ICMP type in fromPort and the code in toPort (-1:
	// any).
	ProtocolICMP = "icmp"
)

// SecurityGroupRule is one rule of a security group: a protocol, ports, and exactly
// one peer (an IPv4 CIDR or a security group). Rules allow; there are no deny rules.
//
// +kubebuilder:validation:XValidation:rule="has(self.cidrIpv4) != has(self.referencedGroupId)",message="a rule names exactly one of cidrIpv4 and referencedGroupId"
// +kubebuilder:validation:XValidation:rule="!(self.protocol in ['tcp', 'udp', '6', '17']) || (has(self.fromPort) && has(self.toPort) && self.fromPort >= 0 && self.fromPort <= self.toPort)",message="a tcp or udp rule needs fromPort and toPort, with fromPort not greater than toPort"
type SecurityGroupRule struct {
	// ruleId is the rule's EC2 ID ("sgr-" and 17 hex digits). Empty: Koala derives a
	// stable one from the group and the rule.
	// +optional
	// +kubebuilder:validation:Pattern=`^sgr-([0-9a-f]{8}|[0-9a-f]{17})$`
	RuleID string `json:"ruleId,omitempty"`

	// protocol is tcp, udp, icmp, -1 (every protocol) or another IP protocol number.
	// +required
	// +kubebuilder:validation:Pattern=`^(tcp|udp|icmp|icmpv6|-1|[0-9]{1,3})$`
	Protocol string `json:"protocol"`

	// fromPort is the first port of a tcp or udp rule, or the ICMP type of an icmp rule
	// (-1: any type).
	// +optional
	// +kubebuilder:validation:Minimum=-1
	// +kubebuilder:validation:Maximum=65535
	FromPort *int32 `json:"fromPort,omitempty"`

	// toPort is the last port of a tcp or udp rule, or the ICMP code of an icmp rule
	// (-1: any code).
	// +optional
	// +kubebuilder:validation:Minimum=-1
	// +kubebuilder:validation:Maximum=65535
	ToPort *int32 `json:"toPort,omitempty"`

	// cidrIpv4 is the peer's IPv4 range ("0.0.0.0/0": anywhere).
	// +optional
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4",message="cidrIpv4 must be an IPv4 CIDR"
	CIDRIPv4 string `json:"cidrIpv4,omitempty"`

	// referencedGroupId is the peer security group (of the same VPC): the rule applies
	// to traffic with that group's members.
	// +optional
	// +kubebuilder:validation:Pattern=`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`
	ReferencedGroupID string `json:"referencedGroupId,omitempty"`

	// description is free text, at most 255 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Description string `json:"description,omitempty"`
}

// SecurityGroupSpec is the desired state of a security group. Field names follow the
// EC2 API.
type SecurityGroupSpec struct {
	// vpcId is the EC2 ID of the account's VPC the group belongs to. It cannot be
	// changed.
	// +required
	// +kubebuilder:validation:Pattern=`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="vpcId cannot be changed"
	VPCID string `json:"vpcId"`

	// groupName is the group's name, unique in its VPC, 1 to 255 characters; "default"
	// is the VPC's default group's. It cannot be changed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="groupName cannot be changed"
	GroupName string `json:"groupName"`

	// description is free text, at most 255 characters. It cannot be changed.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="description cannot be changed"
	Description string `json:"description,omitempty"`

	// ingress are the rules for traffic to the group's members: anything they do not
	// allow is dropped.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=60
	Ingress []SecurityGroupRule `json:"ingress,omitempty"`

	// egress are the rules for traffic from the group's members. Left out, the group
	// allows all outbound traffic (EC2's default rule); an empty list allows none.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=60
	Egress []SecurityGroupRule `json:"egress"`

	// tags are the group's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`
}

// AllowAllEgress is EC2's default outbound rule of a new group.
func AllowAllEgress() SecurityGroupRule {
	return SecurityGroupRule{Protocol: ProtocolAll, CIDRIPv4: "0.0.0.0/0"}
}

// EffectiveEgress is spec.egress, or EC2's allow-all rule when it is left out.
func (s *SecurityGroupSpec) EffectiveEgress() []SecurityGroupRule {
	if s.Egress == nil {
		return []SecurityGroupRule{AllowAllEgress()}
	}
	return s.Egress
}

// SecurityGroupStatus is the observed state of a security group.
type SecurityGroupStatus struct {
	// groupId is the EC2 ID ("sg-" and 17 hex digits), stable for the group's life.
	// +optional
	// +kubebuilder:validation:MaxLength=20
	GroupID string `json:"groupId,omitempty"`

	// unenforcedRules lists the IDs of rules that the cluster's network policies cannot
	// express (ICMP, protocols other than TCP, UDP and SCTP): their traffic is dropped.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=120
	// +kubebuilder:validation:items:MaxLength=21
	UnenforcedRules []string `json:"unenforcedRules,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the group's policies are in place.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a SecurityGroup's Ready condition.
const (
	// SecurityGroupReasonEnforced: the group's NetworkPolicy and MultiNetworkPolicy
	// carry its rules.
	SecurityGroupReasonEnforced = "Enforced"
	// SecurityGroupReasonVPCNotFound: the account has no VPC of spec.vpcId.
	SecurityGroupReasonVPCNotFound = "VPCNotFound"
	// SecurityGroupReasonDuplicate: an older group of the VPC has spec.groupName.
	SecurityGroupReasonDuplicate = "DuplicateGroupName"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala,shortName=sg
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.groupId`
// +kubebuilder:printcolumn:name="Name",type=string,JSONPath=`.spec.groupName`
// +kubebuilder:printcolumn:name="VPC",type=string,JSONPath=`.spec.vpcId`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// SecurityGroup is an EC2 security group: a stateful firewall around its member
// instances, enforced by a NetworkPolicy on the pod network and a MultiNetworkPolicy on
// the VPC's subnets, both selecting the members' virt-launcher pods by a label.
type SecurityGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the group.
	// +required
	Spec SecurityGroupSpec `json:"spec"`

	// status is the observed state of the group.
	// +optional
	Status SecurityGroupStatus `json:"status,omitempty"`
}

// EC2ID is the group's EC2 ID: from status once confirmed, else the one asked for at
// creation, else "".
func (in *SecurityGroup) EC2ID() string {
	if in.Status.GroupID != "" {
		return in.Status.GroupID
	}
	return in.Annotations[IDAnnotation]
}

// Precedes orders groups of one name in one VPC: the oldest is the VPC's group of that
// name; the object name breaks ties of the one-second creation timestamps.
func (in *SecurityGroup) Precedes(other *SecurityGroup) bool {
	if !in.CreationTimestamp.Equal(&other.CreationTimestamp) {
		return in.CreationTimestamp.Before(&other.CreationTimestamp)
	}
	return in.Name < other.Name
}

// +kubebuilder:object:root=true

// SecurityGroupList is a list of security groups.
type SecurityGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecurityGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SecurityGroup{}, &SecurityGroupList{})
}

// SecurityGroupMemberLabel is the label that makes an instance's VM template, VMI and
// virt-launcher pod a member of the group with that ID, for the group's policies to
// select.
func SecurityGroupMemberLabel(groupID string) string { return SecurityGroupLabelPrefix + groupID }
