package securitygroups

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/netview"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/netobjects"
)

// XML shapes, as in botocore's EC2 model.

type ipRangeXML struct {
	CIDRIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type groupPairXML struct {
	GroupID     string `xml:"groupId"`
	UserID      string `xml:"userId"`
	Description string `xml:"description,omitempty"`
}

// permissionXML is EC2's IpPermission: one protocol and port range with its peers.
type permissionXML struct {
	IPProtocol    string         `xml:"ipProtocol"`
	FromPort      *int32         `xml:"fromPort,omitempty"`
	ToPort        *int32         `xml:"toPort,omitempty"`
	Groups        []groupPairXML `xml:"groups>item"`
	IPRanges      []ipRangeXML   `xml:"ipRanges>item"`
	IPv6Ranges    struct{}       `xml:"ipv6Ranges"`
	PrefixListIDs struct{}       `xml:"prefixListIds"`
}

type securityGroupXML struct {
	OwnerID             string          `xml:"ownerId"`
	GroupID             string          `xml:"groupId"`
	GroupName           string          `xml:"groupName"`
	GroupDescription    string          `xml:"groupDescription"`
	VPCID               string          `xml:"vpcId"`
	SecurityGroupArn    string          `xml:"securityGroupArn"`
	IPPermissions       []permissionXML `xml:"ipPermissions>item"`
	IPPermissionsEgress []permissionXML `xml:"ipPermissionsEgress>item"`
	TagSet              []tagging.Item  `xml:"tagSet>item,omitempty"`
}

type referencedGroupXML struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

// ruleXML is EC2's SecurityGroupRule.
type ruleXML struct {
	SecurityGroupRuleID  string              `xml:"securityGroupRuleId"`
	GroupID              string              `xml:"groupId"`
	GroupOwnerID         string              `xml:"groupOwnerId"`
	IsEgress             bool                `xml:"isEgress"`
	IPProtocol           string              `xml:"ipProtocol"`
	FromPort             int32               `xml:"fromPort"`
	ToPort               int32               `xml:"toPort"`
	CIDRIPv4             string              `xml:"cidrIpv4,omitempty"`
	ReferencedGroupInfo  *referencedGroupXML `xml:"referencedGroupInfo,omitempty"`
	Description          string              `xml:"description,omitempty"`
	SecurityGroupRuleArn string              `xml:"securityGroupRuleArn"`
}

// portsXML are a rule's ports as an IpPermission shows them: none for every protocol.
func portsXML(r koalav1.SecurityGroupRule) (*int32, *int32) {
	from, to := netobjects.Ports(r)
	if r.Protocol == koalav1.ProtocolAll || (r.FromPort == nil && r.ToPort == nil) {
		return nil, nil
	}
	return &from, &to
}

// permissionsOf groups rules into EC2's IpPermissions: one per protocol and port
// range, in the order they first appear, with their peers.
func permissionsOf(rules []koalav1.SecurityGroupRule, ownerID string) []permissionXML {
	var out []permissionXML
	index := map[string]int{}
	for _, r := range rules {
		from, to := netobjects.Ports(r)
		key := fmt.Sprintf("%s|%d|%d", r.Protocol, from, to)
		i, ok := index[key]
		if !ok {
			f, t := portsXML(r)
			out = append(out, permissionXML{IPProtocol: r.Protocol, FromPort: f, ToPort: t})
			i = len(out) - 1
			index[key] = i
		}
		if r.ReferencedGroupID != "" {
			out[i].Groups = append(out[i].Groups, groupPairXML{GroupID: r.ReferencedGroupID, UserID: ownerID, Description: r.Description})
		} else {
			out[i].IPRanges = append(out[i].IPRanges, ipRangeXML{CIDRIP: r.CIDRIPv4, Description: r.Description})
		}
	}
	return out
}

func renderGroup(g *koalav1.SecurityGroup, ownerID, region string) securityGroupXML {
	return securityGroupXML{
		OwnerID:             ownerID,
		GroupID:             g.EC2ID(),
		GroupName:           g.Spec.GroupName,
		GroupDescription:    g.Spec.Description,
		VPCID:               g.Spec.VPCID,
		SecurityGroupArn:    arn(region, ownerID, g.EC2ID()),
		IPPermissions:       permissionsOf(rulesOf(g, ingress), ownerID),
		IPPermissionsEgress: permissionsOf(rulesOf(g, egress), ownerID),
		TagSet:              tagging.Set(g.Spec.Tags),
	}
}

func renderRule(g *koalav1.SecurityGroup, dir netobjects.Direction, r koalav1.SecurityGroupRule, ownerID, region string) ruleXML {
	from, to := netobjects.Ports(r)
	x := ruleXML{
		SecurityGroupRuleID:  netobjects.RuleID(g.EC2ID(), dir, r),
		GroupID:              g.EC2ID(),
		GroupOwnerID:         ownerID,
		IsEgress:             dir == egress,
		IPProtocol:           r.Protocol,
		FromPort:             from,
		ToPort:               to,
		CIDRIPv4:             r.CIDRIPv4,
		Description:          r.Description,
		SecurityGroupRuleArn: fmt.Sprintf("arn:aws:ec2:%s:%s:security-group-rule/%s", region, ownerID, netobjects.RuleID(g.EC2ID(), dir, r)),
	}
	if r.ReferencedGroupID != "" {
		x.ReferencedGroupInfo = &referencedGroupXML{GroupID: r.ReferencedGroupID, UserID: ownerID}
	}
	return x
}

// DescribeSecurityGroups.

// ruleValues collects one field of a group's rules of a direction, for the
// ip-permission.* filters.
func ruleValues(dir netobjects.Direction, get func(r koalav1.SecurityGroupRule) string) func(*koalav1.SecurityGroup) []string {
	return func(g *koalav1.SecurityGroup) []string {
		var out []string
		for _, r := range rulesOf(g, dir) {
			if v := get(r); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
}

func groupFilters(ownerID string, nameOf func(id string) string) filter.Schema[*koalav1.SecurityGroup] {
	fields := map[string]func(*koalav1.SecurityGroup) []string{}
	for prefix, dir := range map[string]netobjects.Direction{"ip-permission.": ingress, "egress.ip-permission.": egress} {
		fields[prefix+"cidr"] = ruleValues(dir, func(r koalav1.SecurityGroupRule) string { return r.CIDRIPv4 })
		fields[prefix+"protocol"] = ruleValues(dir, func(r koalav1.SecurityGroupRule) string { return r.Protocol })
		fields[prefix+"from-port"] = ruleValues(dir, func(r koalav1.SecurityGroupRule) string {
			from, _ := netobjects.Ports(r)
			return strconv.Itoa(int(from))
		})
		fields[prefix+"to-port"] = ruleValues(dir, func(r koalav1.SecurityGroupRule) string {
			_, to := netobjects.Ports(r)
			return strconv.Itoa(int(to))
		})
		fields[prefix+"group-id"] = ruleValues(dir, func(r koalav1.SecurityGroupRule) string { return r.ReferencedGroupID })
		fields[prefix+"group-name"] = ruleValues(dir, func(r koalav1.SecurityGroupRule) string {
			if r.ReferencedGroupID == "" {
				return ""
			}
			return nameOf(r.ReferencedGroupID)
		})
		fields[prefix+"user-id"] = ruleValues(dir, func(r koalav1.SecurityGroupRule) string {
			if r.ReferencedGroupID == "" {
				return ""
			}
			return ownerID
		})
	}
	return filter.Schema[*koalav1.SecurityGroup]{
		Single: map[string]func(*koalav1.SecurityGroup) string{
			"group-id":    func(g *koalav1.SecurityGroup) string { return g.EC2ID() },
			"group-name":  func(g *koalav1.SecurityGroup) string { return g.Spec.GroupName },
			"description": func(g *koalav1.SecurityGroup) string { return g.Spec.Description },
			"vpc-id":      func(g *koalav1.SecurityGroup) string { return g.Spec.VPCID },
			"owner-id":    func(*koalav1.SecurityGroup) string { return ownerID },
		},
		Fields: fields,
		Tags:   func(g *koalav1.SecurityGroup) map[string]string { return g.Spec.Tags },
	}
}

type describeInput struct {
	netview.DescribeInput
	names []string
}

func parseDescribe(p *protocol.Params) (describeInput, error) {
	var in describeInput
	var err error
	if in.DescribeInput, err = netview.ParseDescribe(p, "DescribeSecurityGroups", "GroupId", ids.SecurityGroup, malformed); err != nil {
		return in, err
	}
	if in.names, err = p.Strings("GroupName"); err != nil {
		return in, err
	}
	if len(in.names) > 0 && in.Max > 0 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter GroupName cannot be used with the parameter MaxResults")
	}
	return in, nil
}

type describeResponse struct {
	protocol.Meta
	SecurityGroupInfo []securityGroupXML `xml:"securityGroupInfo>item"`
	NextToken         string             `xml:"nextToken,omitempty"`
}

// live is the account's groups, by ID, that Describe calls show.
func (h *Handlers) live(ctx context.Context, c *action.Call) (map[string]*koalav1.SecurityGroup, error) {
	all, err := h.Store.SecurityGroups(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*koalav1.SecurityGroup, len(all))
	for i := range all {
		if id := all[i].EC2ID(); id != "" && all[i].DeletionTimestamp.IsZero() {
			out[id] = &all[i]
		}
	}
	return out, nil
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in describeInput) (protocol.Body, error) {
	byID, err := h.live(ctx, c)
	if err != nil {
		return nil, err
	}
	nameOf := func(id string) string {
		if g, ok := byID[id]; ok {
			return g.Spec.GroupName
		}
		return ""
	}
	match, err := groupFilters(c.Account.ID, nameOf).Compile(in.Filters)
	if err != nil {
		return nil, err
	}
	var candidates []*koalav1.SecurityGroup
	if len(in.IDs) > 0 || len(in.names) > 0 {
		seen := map[string]bool{}
		var missing []string
		for _, id := range in.IDs {
			g, ok := byID[id]
			if !ok {
				missing = append(missing, id)
				continue
			}
			if !seen[id] {
				seen[id] = true
				candidates = append(candidates, g)
			}
		}
		if len(missing) > 0 {
			return nil, netview.NotFound(protocol.CodeInvalidGroupNotFound, "security group", missing)
		}
		for _, name := range in.names {
			g, err := h.find(ctx, c, groupRef{name: name})
			if err != nil {
				return nil, err
			}
			if !seen[g.EC2ID()] {
				seen[g.EC2ID()] = true
				candidates = append(candidates, g)
			}
		}
	} else {
		for _, g := range byID {
			candidates = append(candidates, g)
		}
	}
	var kept []*koalav1.SecurityGroup
	for _, g := range candidates {
		if match.Match(g) {
			kept = append(kept, g)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].EC2ID() < kept[j].EC2ID() })
	page, next, err := protocol.Page(kept, func(g **koalav1.SecurityGroup) string { return (*g).EC2ID() }, in.Max, in.Token, in.Scope)
	if err != nil {
		return nil, err
	}
	out := &describeResponse{NextToken: next}
	for _, g := range page {
		out.SecurityGroupInfo = append(out.SecurityGroupInfo, renderGroup(g, c.Account.ID, h.Region))
	}
	return out, nil
}

// DescribeSecurityGroupRules.

// shownRule is one rule of one group.
type shownRule struct {
	g   *koalav1.SecurityGroup
	dir netobjects.Direction
	r   koalav1.SecurityGroupRule
}

var ruleFilters = filter.Schema[*shownRule]{
	Single: map[string]func(*shownRule) string{
		"group-id":               func(s *shownRule) string { return s.g.EC2ID() },
		"security-group-rule-id": func(s *shownRule) string { return s.r.RuleID },
		"is-egress":              func(s *shownRule) string { return netview.BoolString(s.dir == egress) },
		"ip-protocol":            func(s *shownRule) string { return s.r.Protocol },
	},
	Fields: map[string]func(*shownRule) []string{
		"cidr-ipv4":           func(s *shownRule) []string { return nonEmpty(s.r.CIDRIPv4) },
		"referenced-group-id": func(s *shownRule) []string { return nonEmpty(s.r.ReferencedGroupID) },
		"description":         func(s *shownRule) []string { return nonEmpty(s.r.Description) },
	},
	// Rules carry no tags of their own.
	Tags: func(*shownRule) map[string]string { return nil },
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func parseDescribeRules(p *protocol.Params) (netview.DescribeInput, error) {
	return netview.ParseDescribe(p, "DescribeSecurityGroupRules", "SecurityGroupRuleId", ids.SecurityGroupRule,
		netview.Malformed(protocol.CodeInvalidSecurityGroupRuleIDMalformed, ids.SecurityGroupRule))
}

type describeRulesResponse struct {
	protocol.Meta
	SecurityGroupRules []ruleXML `xml:"securityGroupRuleSet>item"`
	NextToken          string    `xml:"nextToken,omitempty"`
}

func (h *Handlers) describeRules(ctx context.Context, c *action.Call, in netview.DescribeInput) (protocol.Body, error) {
	match, err := ruleFilters.Compile(in.Filters)
	if err != nil {
		return nil, err
	}
	byID, err := h.live(ctx, c)
	if err != nil {
		return nil, err
	}
	var all []*shownRule
	for _, g := range byID {
		for _, dir := range []netobjects.Direction{ingress, egress} {
			for _, r := range rulesOf(g, dir) {
				all = append(all, &shownRule{g: g, dir: dir, r: r})
			}
		}
	}
	var kept []*shownRule
	if len(in.IDs) > 0 {
		want := map[string]bool{}
		for _, id := range in.IDs {
			want[id] = true
		}
		for _, s := range all {
			if want[s.r.RuleID] {
				delete(want, s.r.RuleID)
				if match.Match(s) {
					kept = append(kept, s)
				}
			}
		}
		if len(want) > 0 {
			var missing []string
			for id := range want {
				missing = append(missing, id)
			}
			sort.Strings(missing)
			return nil, protocol.Errorf(protocol.CodeInvalidSecurityGroupRuleIDNotFound, "The security group rule ID '%s' does not exist", missing[0])
		}
	} else {
		for _, s := range all {
			if match.Match(s) {
				kept = append(kept, s)
			}
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].r.RuleID < kept[j].r.RuleID })
	page, next, err := protocol.Page(kept, func(s **shownRule) string { return (*s).r.RuleID }, in.Max, in.Token, in.Scope)
	if err != nil {
		return nil, err
	}
	out := &describeRulesResponse{NextToken: next}
	for _, s := range page {
		out.SecurityGroupRules = append(out.SecurityGroupRules, renderRule(s.g, s.dir, s.r, c.Account.ID, h.Region))
	}
	return out, nil
}
