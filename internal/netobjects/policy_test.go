package netobjects

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	multinetpolv1beta1 "github.com/k8snetworkplumbingwg/multi-networkpolicy/pkg/apis/k8s.cni.cncf.io/v1beta1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

const (
	webID = "sg-0000000000000000a"
	lbID  = "sg-0000000000000000b"
)

func p32(v int32) *int32 { return &v }

func rule(proto string, from, to int32, cidr, group string) koalav1.SecurityGroupRule {
	r := koalav1.SecurityGroupRule{Protocol: proto, CIDRIPv4: cidr, ReferencedGroupID: group}
	if proto != koalav1.ProtocolAll {
		r.FromPort, r.ToPort = p32(from), p32(to)
	}
	return r
}

func group(ingress, egress []koalav1.SecurityGroupRule) *koalav1.SecurityGroup {
	return &koalav1.SecurityGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
		Spec:       koalav1.SecurityGroupSpec{VPCID: "vpc-0000000000000000a", GroupName: "web", Ingress: ingress, Egress: egress},
		Status:     koalav1.SecurityGroupStatus{GroupID: webID},
	}
}

func members(id string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{"sg.cloud.koala.dev/" + id: "true"}}
}

func tcp() *corev1.Protocol { p := corev1.ProtocolTCP; return &p }
func udp() *corev1.Protocol { p := corev1.ProtocolUDP; return &p }
func pp(n int32) *intstr.IntOrString {
	v := intstr.FromInt32(n)
	return &v
}

// The rule set of the test: SSH from one range, HTTP(S) from anywhere as a range, DNS
// over UDP from the load balancer group, everything from the group's own members, ping
// (which no network policy can express), and egress limited to HTTPS anywhere and every
// protocol towards the VPC.
func ruleSet() *koalav1.SecurityGroup {
	return group(
		[]koalav1.SecurityGroupRule{
			rule("tcp", 22, 22, "203.0.113.0/24", ""),
			rule("tcp", 80, 443, "0.0.0.0/0", ""),
			rule("udp", 53, 53, "", lbID),
			rule("-1", 0, 0, "", webID),
			rule("icmp", 8, -1, "0.0.0.0/0", ""),
		},
		[]koalav1.SecurityGroupRule{
			rule("tcp", 443, 443, "0.0.0.0/0", ""),
			rule("-1", 0, 0, "10.0.0.0/16", ""),
		},
	)
}

func TestNetworkPolicyOfARuleSet(t *testing.T) {
	np, _, unenforced := Policies(ruleSet(), []string{"team-a/subnet-b", "team-a/subnet-a"})
	lbMembers, webMembers := members(lbID), members(webID)
	want := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: webID, Namespace: "team-a", Labels: map[string]string{"cloud.koala.dev/security-group": "web"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: members(webID),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp(), Port: pp(22)}},
					From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24"}}}},
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp(), Port: pp(80), EndPort: p32(443)}},
					From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}},
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: udp(), Port: pp(53)}},
					From: []networkingv1.NetworkPolicyPeer{{PodSelector: &lbMembers}}},
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &webMembers}}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp(), Port: pp(443)}},
					To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}},
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/16"}}}},
			},
		},
	}
	if diff := cmp.Diff(want, np); diff != "" {
		t.Errorf("NetworkPolicy (-want +got):\n%s", diff)
	}
	if len(unenforced) != 1 || unenforced[0] != RuleID(webID, Ingress, ruleSet().Spec.Ingress[4]) {
		t.Errorf("unenforced = %v, want the ICMP rule's ID only", unenforced)
	}
}

func TestMultiNetworkPolicyOfARuleSet(t *testing.T) {
	_, mnp, _ := Policies(ruleSet(), []string{"team-a/subnet-b", "team-a/subnet-a"})
	lbMembers, webMembers := members(lbID), members(webID)
	want := &multinetpolv1beta1.MultiNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: webID, Namespace: "team-a",
			Labels:      map[string]string{"cloud.koala.dev/security-group": "web"},
			Annotations: map[string]string{"k8s.v1.cni.cncf.io/policy-for": "team-a/subnet-a,team-a/subnet-b"}},
		Spec: multinetpolv1beta1.MultiNetworkPolicySpec{
			PodSelector: members(webID),
			PolicyTypes: []multinetpolv1beta1.MultiPolicyType{multinetpolv1beta1.PolicyTypeIngress, multinetpolv1beta1.PolicyTypeEgress},
			Ingress: []multinetpolv1beta1.MultiNetworkPolicyIngressRule{
				{Ports: []multinetpolv1beta1.MultiNetworkPolicyPort{{Protocol: tcp(), Port: pp(22)}},
					From: []multinetpolv1beta1.MultiNetworkPolicyPeer{{IPBlock: &multinetpolv1beta1.IPBlock{CIDR: "203.0.113.0/24"}}}},
				{Ports: []multinetpolv1beta1.MultiNetworkPolicyPort{{Protocol: tcp(), Port: pp(80), EndPort: p32(443)}},
					From: []multinetpolv1beta1.MultiNetworkPolicyPeer{{IPBlock: &multinetpolv1beta1.IPBlock{CIDR: "0.0.0.0/0"}}}},
				{Ports: []multinetpolv1beta1.MultiNetworkPolicyPort{{Protocol: udp(), Port: pp(53)}},
					From: []multinetpolv1beta1.MultiNetworkPolicyPeer{{PodSelector: &lbMembers}}},
				{From: []multinetpolv1beta1.MultiNetworkPolicyPeer{{PodSelector: &webMembers}}},
			},
			Egress: []multinetpolv1beta1.MultiNetworkPolicyEgressRule{
				{Ports: []multinetpolv1beta1.MultiNetworkPolicyPort{{Protocol: tcp(), Port: pp(443)}},
					To: []multinetpolv1beta1.MultiNetworkPolicyPeer{{IPBlock: &multinetpolv1beta1.IPBlock{CIDR: "0.0.0.0/0"}}}},
				{To: []multinetpolv1beta1.MultiNetworkPolicyPeer{{IPBlock: &multinetpolv1beta1.IPBlock{CIDR: "10.0.0.0/16"}}}},
			},
		},
	}
	if diff := cmp.Diff(want, mnp); diff != "" {
		t.Errorf("MultiNetworkPolicy (-want +got):\n%s", diff)
	}
}

func TestPolicyEgress(t *testing.T) {
	cases := map[string]struct {
		egress []koalav1.SecurityGroupRule
		want   []networkingv1.NetworkPolicyEgressRule
	}{
		"left out, egress is EC2's allow-all rule": {
			egress: nil,
			want:   []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}}},
		},
		"an empty list allows no egress at all": {
			egress: []koalav1.SecurityGroupRule{},
			want:   nil,
		},
		"a tcp rule of every port names the protocol only": {
			egress: []koalav1.SecurityGroupRule{rule("tcp", 0, 65535, "0.0.0.0/0", "")},
			want: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp()}},
				To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}}},
		},
		"a range from port 0 starts at 1": {
			egress: []koalav1.SecurityGroupRule{rule("udp", 0, 1023, "10.0.0.0/8", "")},
			want: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: udp(), Port: pp(1), EndPort: p32(1023)}},
				To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}}}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			np, _, _ := Policies(group(nil, tc.egress), nil)
			if diff := cmp.Diff(tc.want, np.Spec.Egress); diff != "" {
				t.Errorf("egress (-want +got):\n%s", diff)
			}
			if len(np.Spec.PolicyTypes) != 2 {
				t.Errorf("policy types %v: without Egress, an empty egress would allow everything", np.Spec.PolicyTypes)
			}
		})
	}
}

func TestRuleIDIsStableAndFollowsWhatTheRuleAllows(t *testing.T) {
	a := rule("tcp", 22, 22, "0.0.0.0/0", "")
	b := rule("6", 22, 22, "0.0.0.0/0", "")
	if RuleID(webID, Ingress, a) != RuleID(webID, Ingress, b) {
		t.Error("tcp and protocol 6 got different rule IDs")
	}
	if RuleID(webID, Ingress, a) == RuleID(webID, Egress, a) {
		t.Error("the same rule in both directions got one ID")
	}
	a.RuleID = "sgr-0123456789abcdef0"
	if RuleID(webID, Ingress, a) != "sgr-0123456789abcdef0" {
		t.Error("a rule's own ID was not used")
	}
}

func TestNormalizeProtocol(t *testing.T) {
	cases := map[string]struct {
		in, want string
		ok       bool
	}{
		"6 is tcp":                 {"6", "tcp", true},
		"17 is udp":                {"17", "udp", true},
		"1 is icmp":                {"1", "icmp", true},
		"all is -1":                {"all", "-1", true},
		"gre stays a number":       {"47", "47", true},
		"256 is no protocol":       {"256", "", false},
		"a leading zero is wrong":  {"06", "", false},
		"a name EC2 does not know": {"gre", "", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := NormalizeProtocol(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NormalizeProtocol(%q) = %q, %v", tc.in, got, ok)
			}
		})
	}
}
