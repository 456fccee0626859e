package netobjects

import (
	"sort"
	"strings"

	multinetpolv1beta1 "github.com/k8snetworkplumbingwg/multi-networkpolicy/pkg/apis/k8s.cni.cncf.io/v1beta1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// PolicyForAnnotation lists the networks ("<namespace>/<name>" of their
// NetworkAttachmentDefinitions) a MultiNetworkPolicy applies to.
const PolicyForAnnotation = "k8s.v1.cni.cncf.io/policy-for"

// MemberValue is the value of a group's member label.
const MemberValue = "true"

// memberSelector selects the members of a group: the virt-launcher pods whose VMI
// template carries the group's label.
func memberSelector(groupID string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{koalav1.SecurityGroupMemberLabel(groupID): MemberValue}}
}

// portSpec is a rule's ports in the policies' terms; all is true for a rule of every
// protocol (no port list at all).
type portSpec struct {
	all      bool
	protocol corev1.Protocol
	port     *intstr.IntOrString // nil: every port of the protocol
	endPort  *int32
}

// policyPorts says how a rule is expressed by a (Multi)NetworkPolicy, and false when it
// cannot be: NetworkPolicy knows TCP, UDP and SCTP only, so ICMP and other protocols
// cannot be allowed without allowing everything.
func policyPorts(r koalav1.SecurityGroupRule) (portSpec, bool) {
	proto, _ := NormalizeProtocol(r.Protocol)
	var ps portSpec
	switch proto {
	case koalav1.ProtocolAll:
		return portSpec{all: true}, true
	case koalav1.ProtocolTCP:
		ps.protocol = corev1.ProtocolTCP
	case koalav1.ProtocolUDP:
		ps.protocol = corev1.ProtocolUDP
	case "132":
		ps.protocol = corev1.ProtocolSCTP
	default:
		return portSpec{}, false
	}
	from, to := port(r.FromPort), port(r.ToPort)
	if from < 0 || to < from {
		return portSpec{}, false
	}
	if from <= 1 && to >= 65535 {
		return ps, true // every port of the protocol
	}
	if from == 0 {
		from = 1 // port 0 carries no traffic; policies refuse it
	}
	p := intstr.FromInt32(from)
	ps.port = &p
	if to > from {
		end := to
		ps.endPort = &end
	}
	return ps, true
}

func (ps portSpec) networkPolicyPorts() []networkingv1.NetworkPolicyPort {
	if ps.all {
		return nil
	}
	proto := ps.protocol
	return []networkingv1.NetworkPolicyPort{{Protocol: &proto, Port: ps.port, EndPort: ps.endPort}}
}

func (ps portSpec) multiPorts() []multinetpolv1beta1.MultiNetworkPolicyPort {
	if ps.all {
		return nil
	}
	proto := ps.protocol
	return []multinetpolv1beta1.MultiNetworkPolicyPort{{Protocol: &proto, Port: ps.port, EndPort: ps.endPort}}
}

// PolicyName is the name of a group's NetworkPolicy and MultiNetworkPolicy: its ID.
func PolicyName(groupID string) string { return groupID }

// Policies renders a group's NetworkPolicy (pod network) and MultiNetworkPolicy (the
// VPC's subnets, networks being their NetworkAttachmentDefinitions as
// "<namespace>/<name>"). Both select the group's members; each rule becomes one policy
// rule with one peer: an IP block for a CIDR, the referenced group's members for a
// group. Ingress not allowed is dropped; egress is what the rules allow (EC2's
// allow-all rule when spec.egress is left out). unenforced are the IDs of rules no
// policy can express; their traffic is dropped.
func Policies(g *koalav1.SecurityGroup, networks []string) (*networkingv1.NetworkPolicy, *multinetpolv1beta1.MultiNetworkPolicy, []string) {
	id := g.EC2ID()
	labels := map[string]string{koalav1.SecurityGroupNameLabel: g.Name}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName(id), Namespace: g.Namespace, Labels: labels},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: memberSelector(id),
			// Both types, always: with no rule of a type, the policy denies all of it.
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	nets := append([]string(nil), networks...)
	sort.Strings(nets)
	mnp := &multinetpolv1beta1.MultiNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{
			Name: PolicyName(id), Namespace: g.Namespace,
			Labels:      map[string]string{koalav1.SecurityGroupNameLabel: g.Name},
			Annotations: map[string]string{PolicyForAnnotation: strings.Join(nets, ",")},
		},
		Spec: multinetpolv1beta1.MultiNetworkPolicySpec{
			PodSelector: memberSelector(id),
			PolicyTypes: []multinetpolv1beta1.MultiPolicyType{multinetpolv1beta1.PolicyTypeIngress, multinetpolv1beta1.PolicyTypeEgress},
		},
	}
	var unenforced []string
	for _, r := range g.Spec.Ingress {
		ps, ok := policyPorts(r)
		if !ok {
			unenforced = append(unenforced, RuleID(id, Ingress, r))
			continue
		}
		peer, mpeer := peers(r)
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: ps.networkPolicyPorts(), From: peer})
		mnp.Spec.Ingress = append(mnp.Spec.Ingress, multinetpolv1beta1.MultiNetworkPolicyIngressRule{Ports: ps.multiPorts(), From: mpeer})
	}
	for _, r := range g.Spec.EffectiveEgress() {
		ps, ok := policyPorts(r)
		if !ok {
			unenforced = append(unenforced, RuleID(id, Egress, r))
			continue
		}
		peer, mpeer := peers(r)
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{Ports: ps.networkPolicyPorts(), To: peer})
		mnp.Spec.Egress = append(mnp.Spec.Egress, multinetpolv1beta1.MultiNetworkPolicyEgressRule{Ports: ps.multiPorts(), To: mpeer})
	}
	return np, mnp, unenforced
}

// peers is a rule's one peer, for both kinds of policy.
func peers(r koalav1.SecurityGroupRule) ([]networkingv1.NetworkPolicyPeer, []multinetpolv1beta1.MultiNetworkPolicyPeer) {
	if r.ReferencedGroupID != "" {
		sel := memberSelector(r.ReferencedGroupID)
		msel := memberSelector(r.ReferencedGroupID)
		return []networkingv1.NetworkPolicyPeer{{PodSelector: &sel}},
			[]multinetpolv1beta1.MultiNetworkPolicyPeer{{PodSelector: &msel}}
	}
	return []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: r.CIDRIPv4}}},
		[]multinetpolv1beta1.MultiNetworkPolicyPeer{{IPBlock: &multinetpolv1beta1.IPBlock{CIDR: r.CIDRIPv4}}}
}
