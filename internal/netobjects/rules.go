// Package netobjects renders the Kubernetes objects behind Koala's network kinds: the
// NetworkPolicy and MultiNetworkPolicy of a security group, the Multus
// NetworkAttachmentDefinition of a subnet, the LoadBalancer Service of an Elastic IP,
// and the cloud-init network data of an instance. Every function is pure: the
// reconcilers compare what it returns with what exists.
package netobjects

import (
	"fmt"
	"strconv"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
)

// Direction of a security group rule.
type Direction string

const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
)

// NormalizeProtocol turns the protocol names and numbers EC2 accepts into the name EC2
// shows: "6" is tcp, "17" udp, "1" icmp, "58" icmpv6, "all" and "-1" every protocol.
// Other numbers stay numbers. ok is false for what is neither.
func NormalizeProtocol(p string) (string, bool) {
	switch p {
	case "tcp", "6", "TCP":
		return koalav1.ProtocolTCP, true
	case "udp", "17", "UDP":
		return koalav1.ProtocolUDP, true
	case "icmp", "1", "ICMP":
		return koalav1.ProtocolICMP, true
	case "icmpv6", "58":
		return "icmpv6", true
	case "-1", "all":
		return koalav1.ProtocolAll, true
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != p {
		return "", false
	}
	return p, true
}

// HasPorts reports whether the protocol's rules carry a port range (tcp, udp, sctp).
func HasPorts(protocol string) bool {
	p, _ := NormalizeProtocol(protocol)
	return p == koalav1.ProtocolTCP || p == koalav1.ProtocolUDP || p == "132"
}

func port(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

// RuleKey is the part of a rule that says what it allows; two rules of a group with the
// same key are duplicates (InvalidPermission.Duplicate).
func RuleKey(d Direction, r koalav1.SecurityGroupRule) string {
	proto, _ := NormalizeProtocol(r.Protocol)
	from, to := port(r.FromPort), port(r.ToPort)
	if proto == koalav1.ProtocolAll {
		from, to = -1, -1
	}
	return fmt.Sprintf("%s|%s|%d|%d|%s|%s", d, proto, from, to, r.CIDRIPv4, r.ReferencedGroupID)
}

// RuleID is a rule's EC2 ID: its own, else one derived from the group and what the
// rule allows, so that it is stable across reads without being written.
func RuleID(groupID string, d Direction, r koalav1.SecurityGroupRule) string {
	if r.RuleID != "" {
		return r.RuleID
	}
	return ids.FromSeed(ids.SecurityGroupRule, groupID, RuleKey(d, r))
}

// Ports is the rule's port range as EC2 shows it: -1 to -1 for every protocol.
func Ports(r koalav1.SecurityGroupRule) (from, to int32) {
	proto, _ := NormalizeProtocol(r.Protocol)
	if proto == koalav1.ProtocolAll {
		return -1, -1
	}
	return port(r.FromPort), port(r.ToPort)
}
