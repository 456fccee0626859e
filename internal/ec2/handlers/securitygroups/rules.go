package securitygroups

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/netview"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/netobjects"
)

const (
	ingress = netobjects.Ingress
	egress  = netobjects.Egress
)

// parsedRule is one rule of a request: one peer of one permission. A peer group named
// by name is resolved when the call runs.
type parsedRule struct {
	rule     koalav1.SecurityGroupRule
	peerName string
}

func ruleOf(proto string, from, to *int32) koalav1.SecurityGroupRule {
	return koalav1.SecurityGroupRule{Protocol: proto, FromPort: from, ToPort: to}
}

func i32(n int64) *int32 {
	v := int32(n)
	return &v
}

// parsePorts reads a permission's protocol and ports, as EC2 checks them: tcp, udp
// and sctp need both ports (from not above to), icmp takes a type and a code (-1: any),
// other protocols take none.
func parsePorts(p *protocol.Params, protoName, fromName, toName string) (koalav1.SecurityGroupRule, error) {
	raw, err := p.Required(protoName)
	if err != nil {
		return koalav1.SecurityGroupRule{}, err
	}
	proto, ok := netobjects.NormalizeProtocol(strings.ToLower(raw))
	if !ok {
		return koalav1.SecurityGroupRule{}, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid value '%s' for IP protocol. Unknown protocol.", raw)
	}
	from, hasFrom, err := p.Int(fromName, -1, 65535)
	if err != nil {
		return koalav1.SecurityGroupRule{}, err
	}
	to, hasTo, err := p.Int(toName, -1, 65535)
	if err != nil {
		return koalav1.SecurityGroupRule{}, err
	}
	switch {
	case proto == koalav1.ProtocolAll:
		return ruleOf(proto, nil, nil), nil
	case netobjects.HasPorts(proto):
		if !hasFrom || !hasTo || from < 0 || to < 0 {
			return koalav1.SecurityGroupRule{}, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
		}
		if from > to {
			return koalav1.SecurityGroupRule{}, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid value 'Invalid port range (%d, %d)' for portRange", from, to)
		}
		return ruleOf(proto, i32(from), i32(to)), nil
	case proto == koalav1.ProtocolICMP || proto == "icmpv6":
		if !hasFrom {
			from = -1
		}
		if !hasTo {
			to = -1
		}
		if from > 255 || to > 255 {
			return koalav1.SecurityGroupRule{}, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid value for ICMP type or code: %d, %d", from, to)
		}
		return ruleOf(proto, i32(from), i32(to)), nil
	default:
		return ruleOf(proto, nil, nil), nil
	}
}

func checkCIDR(cidr string) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "CIDR block %s is malformed", cidr)
	}
	if p.Masked().String() != cidr {
		return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "CIDR block %s is malformed", cidr)
	}
	return cidr, nil
}

// parsePermission reads one IpPermissions.N: a protocol and ports with any number of
// IPv4 ranges and groups, each becoming a rule.
func parsePermission(m *protocol.Params) ([]parsedRule, error) {
	base, err := parsePorts(m, "IpProtocol", "FromPort", "ToPort")
	if err != nil {
		return nil, err
	}
	var out []parsedRule
	ranges, err := m.Structs("IpRanges")
	if err != nil {
		return nil, err
	}
	for _, r := range ranges {
		cidr, err := r.Required("CidrIp")
		if err != nil {
			return nil, err
		}
		if _, err := checkCIDR(cidr); err != nil {
			return nil, err
		}
		rule := base
		rule.CIDRIPv4 = cidr
		rule.Description, _ = r.String("Description")
		if err := checkText("description", rule.Description); err != nil {
			return nil, err
		}
		out = append(out, parsedRule{rule: rule})
	}
	// The query name of UserIdGroupPairs is "Groups" (its locationName).
	pairs, err := m.Structs("Groups")
	if err != nil {
		return nil, err
	}
	for _, pr := range pairs {
		rule := base
		id, _ := pr.String("GroupId")
		name, _ := pr.String("GroupName")
		_, _ = pr.String("UserId") // the caller's own account; checked with the group
		_, _ = pr.String("VpcId")
		if v, ok := pr.String("VpcPeeringConnectionId"); ok && v != "" {
			return nil, protocol.InvalidValue(pr.Path("VpcPeeringConnectionId"), v, "VPC peering is not supported.")
		}
		switch {
		case id != "":
			if !ids.Valid(ids.SecurityGroup, id) {
				return nil, malformed(id)
			}
			rule.ReferencedGroupID = id
		case name != "":
		default:
			return nil, protocol.MissingParameter(pr.Path("GroupId"))
		}
		rule.Description, _ = pr.String("Description")
		if err := checkText("description", rule.Description); err != nil {
			return nil, err
		}
		out = append(out, parsedRule{rule: rule, peerName: name})
	}
	for _, name := range []string{"Ipv6Ranges", "PrefixListIds"} {
		if list, err := m.Structs(name); err != nil {
			return nil, err
		} else if len(list) > 0 {
			return nil, protocol.InvalidValue(m.Path(name), "", "IPv6 ranges and prefix lists are not supported.")
		}
	}
	if len(out) == 0 {
		return nil, protocol.MissingParameter(m.Path("IpRanges") + " or " + m.Path("Groups"))
	}
	return out, nil
}

// changeInput is an Authorize or Revoke call.
type changeInput struct {
	dir     netobjects.Direction
	group   groupRef
	rules   []parsedRule
	ruleIDs []string
}

// parseChange reads Authorize/Revoke calls: the group (GroupId, or GroupName for
// ingress), and the rules in the IpPermissions form or the short form
// (IpProtocol, FromPort, ToPort, CidrIp, SourceSecurityGroupName); a revoke may name
// rules by SecurityGroupRuleId instead.
func parseChange(dir netobjects.Direction, authorize bool) func(p *protocol.Params) (changeInput, error) {
	return func(p *protocol.Params) (changeInput, error) {
		in := changeInput{dir: dir}
		var err error
		if in.group, err = parseGroupRef(p); err != nil {
			return in, err
		}
		if dir == egress && in.group.id == "" {
			return in, protocol.MissingParameter("GroupId")
		}
		perms, err := p.Structs("IpPermissions")
		if err != nil {
			return in, err
		}
		for _, m := range perms {
			rules, err := parsePermission(m)
			if err != nil {
				return in, err
			}
			in.rules = append(in.rules, rules...)
		}
		short := p.Has("IpProtocol") || p.Has("CidrIp") || p.Has("SourceSecurityGroupName") || p.Has("FromPort") || p.Has("ToPort")
		if short && len(perms) > 0 {
			return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter IpPermissions cannot be used with IpProtocol, FromPort, ToPort, CidrIp or SourceSecurityGroupName")
		}
		if short {
			rules, err := parseShortForm(p)
			if err != nil {
				return in, err
			}
			in.rules = rules
		}
		if !authorize {
			if in.ruleIDs, err = netview.ParseIDs(p, "SecurityGroupRuleId", ids.SecurityGroupRule,
				netview.Malformed(protocol.CodeInvalidSecurityGroupRuleIDMalformed, ids.SecurityGroupRule)); err != nil {
				return in, err
			}
		}
		if authorize {
			specs, err := tagging.Specifications(p, "security-group-rule")
			if err != nil {
				return in, err
			}
			if len(specs["security-group-rule"]) > 0 {
				return in, protocol.InvalidValue("TagSpecification", "security-group-rule", "Tags on security group rules are not supported.")
			}
		}
		if len(in.rules) == 0 && len(in.ruleIDs) == 0 {
			return in, protocol.MissingParameter("IpPermissions")
		}
		return in, nil
	}
}

// parseShortForm reads the legacy form: one protocol and port range from one CIDR or
// one group (a group alone, without a protocol, means every protocol, as in EC2).
func parseShortForm(p *protocol.Params) ([]parsedRule, error) {
	cidr, hasCIDR := p.String("CidrIp")
	group, hasGroup := p.String("SourceSecurityGroupName")
	_, _ = p.String("SourceSecurityGroupOwnerId")
	var rule koalav1.SecurityGroupRule
	if !p.Has("IpProtocol") && hasGroup && !hasCIDR {
		rule = ruleOf(koalav1.ProtocolAll, nil, nil)
	} else {
		var err error
		if rule, err = parsePorts(p, "IpProtocol", "FromPort", "ToPort"); err != nil {
			return nil, err
		}
	}
	switch {
	case hasCIDR && hasGroup:
		return nil, protocol.Errorf(protocol.CodeInvalidParameterCombination, "CidrIp and SourceSecurityGroupName cannot be used together")
	case hasCIDR:
		if _, err := checkCIDR(cidr); err != nil {
			return nil, err
		}
		rule.CIDRIPv4 = cidr
		return []parsedRule{{rule: rule}}, nil
	case hasGroup:
		return []parsedRule{{rule: rule, peerName: group}}, nil
	}
	return nil, protocol.MissingParameter("CidrIp or SourceSecurityGroupName")
}

// resolvePeers turns group names into IDs (groups of the target's VPC) and checks
// that every referenced group exists in the account.
func (h *Handlers) resolvePeers(ctx context.Context, c *action.Call, g *koalav1.SecurityGroup, rules []parsedRule) ([]koalav1.SecurityGroupRule, error) {
	out := make([]koalav1.SecurityGroupRule, 0, len(rules))
	for _, pr := range rules {
		r := pr.rule
		switch {
		case pr.peerName != "":
			peer, err := h.Store.SecurityGroupByName(ctx, c.Account, g.Spec.VPCID, pr.peerName)
			if err != nil {
				return nil, err
			}
			if peer == nil {
				return nil, groupNotFound(pr.peerName)
			}
			r.ReferencedGroupID = peer.EC2ID()
		case r.ReferencedGroupID != "" && r.ReferencedGroupID != g.EC2ID():
			peer, err := h.Store.SecurityGroup(ctx, c.Account, r.ReferencedGroupID)
			if err != nil {
				return nil, err
			}
			if peer == nil {
				return nil, groupNotFound(r.ReferencedGroupID)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// rulesOf returns a group's rules of a direction with their IDs filled in (EC2's
// implicit allow-all egress rule included), as a new slice.
func rulesOf(g *koalav1.SecurityGroup, dir netobjects.Direction) []koalav1.SecurityGroupRule {
	src := g.Spec.Ingress
	if dir == egress {
		src = g.Spec.EffectiveEgress()
	}
	out := make([]koalav1.SecurityGroupRule, len(src))
	for i, r := range src {
		r.RuleID = netobjects.RuleID(g.EC2ID(), dir, r)
		out[i] = r
	}
	return out
}

func setRules(g *koalav1.SecurityGroup, dir netobjects.Direction, rules []koalav1.SecurityGroupRule) {
	if rules == nil {
		rules = []koalav1.SecurityGroupRule{} // empty, not left out: left out means allow-all egress
	}
	if dir == egress {
		g.Spec.Egress = rules
	} else {
		g.Spec.Ingress = rules
	}
}

// describeRule is EC2's wording of a rule in errors.
func describeRule(r koalav1.SecurityGroupRule) string {
	peer := r.CIDRIPv4
	if peer == "" {
		peer = r.ReferencedGroupID
	}
	from, to := netobjects.Ports(r)
	proto := strings.ToUpper(r.Protocol)
	if r.Protocol == koalav1.ProtocolAll {
		proto = "ALL"
	}
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", peer, proto, from, to)
}

// update changes a group's rules with the API server's optimistic lock, reading the
// group again when another writer came first.
func (h *Handlers) update(ctx context.Context, g *koalav1.SecurityGroup, change func(g *koalav1.SecurityGroup) error) (*koalav1.SecurityGroup, error) {
	current := g
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		base := current.DeepCopy()
		next := current.DeepCopy()
		if err := change(next); err != nil {
			return err
		}
		err := h.Store.Patch(ctx, next, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			fresh := &koalav1.SecurityGroup{}
			if gerr := h.Store.Direct().Get(ctx, client.ObjectKeyFromObject(g), fresh); gerr != nil {
				return gerr
			}
			current = fresh
			return err
		}
		if err == nil {
			current = next
		}
		return err
	})
	if err != nil {
		if _, ok := err.(*protocol.Error); ok {
			return nil, err
		}
		if apierrors.IsNotFound(err) {
			return nil, groupNotFound(g.EC2ID())
		}
		return nil, netview.APIError(err, "updating security group")
	}
	return current, nil
}

type changeResponse struct {
	protocol.Meta
	Return                bool            `xml:"return"`
	SecurityGroupRuleSet  []ruleXML       `xml:"securityGroupRuleSet>item,omitempty"`
	UnknownIPPermissions  []permissionXML `xml:"unknownIpPermissionSet>item,omitempty"`
	RevokedSecurityGroups []revokedXML    `xml:"revokedSecurityGroupRuleSet>item,omitempty"`
}

type revokedXML struct {
	SecurityGroupRuleID string `xml:"securityGroupRuleId"`
	GroupID             string `xml:"groupId"`
	IsEgress            bool   `xml:"isEgress"`
	IPProtocol          string `xml:"ipProtocol"`
	FromPort            *int32 `xml:"fromPort,omitempty"`
	ToPort              *int32 `xml:"toPort,omitempty"`
	CIDRIPv4            string `xml:"cidrIpv4,omitempty"`
	ReferencedGroupID   string `xml:"referencedGroupId,omitempty"`
	Description         string `xml:"description,omitempty"`
}

func (h *Handlers) authorize(ctx context.Context, c *action.Call, in changeInput) (protocol.Body, error) {
	g, err := h.find(ctx, c, in.group)
	if err != nil {
		return nil, err
	}
	add, err := h.resolvePeers(ctx, c, g, in.rules)
	if err != nil {
		return nil, err
	}
	for i := range add {
		add[i].RuleID = ids.New(ids.SecurityGroupRule)
	}
	updated, err := h.update(ctx, g, func(g *koalav1.SecurityGroup) error {
		rules := rulesOf(g, in.dir)
		seen := map[string]bool{}
		for _, r := range rules {
			seen[netobjects.RuleKey(in.dir, r)] = true
		}
		for _, r := range add {
			key := netobjects.RuleKey(in.dir, r)
			if seen[key] {
				return protocol.Errorf(protocol.CodeInvalidPermissionDuplicate, "the specified rule \"%s\" already exists", describeRule(r))
			}
			seen[key] = true
			rules = append(rules, r)
		}
		if len(rules) > maxRules {
			return protocol.Errorf(protocol.CodeRulesPerSecurityGroupLimitExceeded, "The maximum number of rules per security group has been reached.")
		}
		setRules(g, in.dir, rules)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &changeResponse{Return: true}
	for _, r := range add {
		out.SecurityGroupRuleSet = append(out.SecurityGroupRuleSet, renderRule(updated, in.dir, r, c.Account.ID, h.Region))
	}
	return out, nil
}

func (h *Handlers) revoke(ctx context.Context, c *action.Call, in changeInput) (protocol.Body, error) {
	g, err := h.find(ctx, c, in.group)
	if err != nil {
		return nil, err
	}
	remove, err := h.resolvePeers(ctx, c, g, in.rules)
	if err != nil {
		return nil, err
	}
	var revoked, unknown []koalav1.SecurityGroupRule
	_, err = h.update(ctx, g, func(g *koalav1.SecurityGroup) error {
		revoked, unknown = nil, nil
		rules := rulesOf(g, in.dir)
		byKey := map[string]bool{}
		for _, r := range remove {
			byKey[netobjects.RuleKey(in.dir, r)] = false
		}
		byID := map[string]bool{}
		for _, id := range in.ruleIDs {
			byID[id] = false
		}
		kept := make([]koalav1.SecurityGroupRule, 0, len(rules))
		for _, r := range rules {
			key := netobjects.RuleKey(in.dir, r)
			_, k := byKey[key]
			_, i := byID[r.RuleID]
			if k || i {
				byKey[key], byID[r.RuleID] = true, true
				revoked = append(revoked, r)
				continue
			}
			kept = append(kept, r)
		}
		for _, r := range remove {
			if !byKey[netobjects.RuleKey(in.dir, r)] {
				unknown = append(unknown, r)
			}
		}
		for _, id := range in.ruleIDs {
			if !byID[id] {
				return protocol.Errorf(protocol.CodeInvalidSecurityGroupRuleIDNotFound, "The security group rule ID '%s' does not exist", id)
			}
		}
		if len(revoked) == 0 {
			return protocol.Errorf(protocol.CodeInvalidPermissionNotFound, "The specified rule does not exist in this security group.")
		}
		setRules(g, in.dir, kept)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &changeResponse{Return: true}
	for _, r := range unknown {
		out.UnknownIPPermissions = append(out.UnknownIPPermissions, permissionsOf([]koalav1.SecurityGroupRule{r}, c.Account.ID)...)
	}
	for _, r := range revoked {
		from, to := portsXML(r)
		out.RevokedSecurityGroups = append(out.RevokedSecurityGroups, revokedXML{
			SecurityGroupRuleID: r.RuleID, GroupID: g.EC2ID(), IsEgress: in.dir == egress, IPProtocol: r.Protocol,
			FromPort: from, ToPort: to, CIDRIPv4: r.CIDRIPv4, ReferencedGroupID: r.ReferencedGroupID, Description: r.Description,
		})
	}
	return out, nil
}

// ModifySecurityGroupRules.

type modifyInput struct {
	groupID string
	changes []ruleChange
}

type ruleChange struct {
	id   string
	rule koalav1.SecurityGroupRule
}

func parseModifyRules(p *protocol.Params) (modifyInput, error) {
	var in modifyInput
	var err error
	if in.groupID, err = p.Required("GroupId"); err != nil {
		return in, err
	}
	if !ids.Valid(ids.SecurityGroup, in.groupID) {
		return in, malformed(in.groupID)
	}
	members, err := p.Structs("SecurityGroupRule")
	if err != nil {
		return in, err
	}
	if len(members) == 0 {
		return in, protocol.MissingParameter("SecurityGroupRule")
	}
	for _, m := range members {
		id, err := m.Required("SecurityGroupRuleId")
		if err != nil {
			return in, err
		}
		if !ids.Valid(ids.SecurityGroupRule, id) {
			return in, netview.Malformed(protocol.CodeInvalidSecurityGroupRuleIDMalformed, ids.SecurityGroupRule)(id)
		}
		spec, ok := m.Struct("SecurityGroupRule")
		if !ok {
			return in, protocol.MissingParameter(m.Path("SecurityGroupRule"))
		}
		rule, err := parsePorts(spec, "IpProtocol", "FromPort", "ToPort")
		if err != nil {
			return in, err
		}
		cidr, hasCIDR := spec.String("CidrIpv4")
		group, hasGroup := spec.String("ReferencedGroupId")
		switch {
		case hasCIDR && hasGroup, !hasCIDR && !hasGroup:
			return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "A rule names exactly one of CidrIpv4 and ReferencedGroupId")
		case hasCIDR:
			if _, err := checkCIDR(cidr); err != nil {
				return in, err
			}
			rule.CIDRIPv4 = cidr
		default:
			if !ids.Valid(ids.SecurityGroup, group) {
				return in, malformed(group)
			}
			rule.ReferencedGroupID = group
		}
		for _, name := range []string{"CidrIpv6", "PrefixListId"} {
			if v, ok := spec.String(name); ok && v != "" {
				return in, protocol.InvalidValue(spec.Path(name), v, "IPv6 ranges and prefix lists are not supported.")
			}
		}
		rule.Description, _ = spec.String("Description")
		if err := checkText("description", rule.Description); err != nil {
			return in, err
		}
		in.changes = append(in.changes, ruleChange{id: id, rule: rule})
	}
	return in, nil
}

// modifyRules replaces rules in place: each keeps its ID and direction.
func (h *Handlers) modifyRules(ctx context.Context, c *action.Call, in modifyInput) (protocol.Body, error) {
	g, err := h.find(ctx, c, groupRef{id: in.groupID})
	if err != nil {
		return nil, err
	}
	parsed := make([]parsedRule, len(in.changes))
	for i, ch := range in.changes {
		parsed[i] = parsedRule{rule: ch.rule}
	}
	resolved, err := h.resolvePeers(ctx, c, g, parsed)
	if err != nil {
		return nil, err
	}
	_, err = h.update(ctx, g, func(g *koalav1.SecurityGroup) error {
		for i, ch := range in.changes {
			found := false
			for _, dir := range []netobjects.Direction{ingress, egress} {
				rules := rulesOf(g, dir)
				for j := range rules {
					if rules[j].RuleID != ch.id {
						continue
					}
					r := resolved[i]
					r.RuleID = ch.id
					rules[j] = r
					seen := map[string]bool{}
					for _, o := range rules {
						key := netobjects.RuleKey(dir, o)
						if seen[key] {
							return protocol.Errorf(protocol.CodeInvalidPermissionDuplicate, "the specified rule \"%s\" already exists", describeRule(r))
						}
						seen[key] = true
					}
					setRules(g, dir, rules)
					found = true
				}
			}
			if !found {
				return protocol.Errorf(protocol.CodeInvalidSecurityGroupRuleIDNotFound, "The security group rule ID '%s' does not exist", ch.id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return protocol.OK(), nil
}
