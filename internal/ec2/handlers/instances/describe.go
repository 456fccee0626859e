package instances

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
)

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// instanceFilters are DescribeInstances' filters, as EC2 documents them (those that
// mean something here).
func instanceFilters(region string) filter.Schema[*koalav1.Instance] {
	return filter.Schema[*koalav1.Instance]{
		// Fields every instance has one value of: matched without allocating, since a
		// Describe may scan every instance of the account.
		Single: map[string]func(*koalav1.Instance) string{
			"instance-id":         func(i *koalav1.Instance) string { return i.EC2ID() },
			"instance-state-name": func(i *koalav1.Instance) string { return string(i.DisplayState()) },
			"instance-state-code": func(i *koalav1.Instance) string { return strconv.Itoa(int(i.DisplayState().Code())) },
			"instance-type":       func(i *koalav1.Instance) string { return i.Spec.InstanceType },
			"image-id":            func(i *koalav1.Instance) string { return i.Spec.ImageID },
			"availability-zone":   func(i *koalav1.Instance) string { return zoneOf(i) },
			"reservation-id":      func(i *koalav1.Instance) string { return reservationID(i) },
			"architecture":        func(i *koalav1.Instance) string { return orDefault(string(i.Status.Architecture), "x86_64") },
			"hypervisor":          func(*koalav1.Instance) string { return "xen" },
			"virtualization-type": func(*koalav1.Instance) string { return "hvm" },
			"root-device-type":    func(*koalav1.Instance) string { return "ebs" },
			"root-device-name":    rootDeviceName,
			"tenancy":             func(*koalav1.Instance) string { return "default" },
			"monitoring-state":    func(*koalav1.Instance) string { return "disabled" },
			"platform-details":    func(*koalav1.Instance) string { return "Linux/UNIX" },
			"ami-launch-index":    func(i *koalav1.Instance) string { return strconv.Itoa(int(launchIndex(i))) },
			"disable-api-stop":    func(i *koalav1.Instance) string { return strconv.FormatBool(i.Spec.DisableAPIStop) },
			"disable-api-termination": func(i *koalav1.Instance) string {
				return strconv.FormatBool(i.Spec.DisableAPITermination)
			},
		},
		// Fields an instance may lack: without a value, not even "*" matches.
		Fields: map[string]func(*koalav1.Instance) []string{
			"key-name":           func(i *koalav1.Instance) []string { return one(i.Spec.KeyName) },
			"private-ip-address": func(i *koalav1.Instance) []string { return one(privateIP(i)) },
			"subnet-id":          func(i *koalav1.Instance) []string { return one(subnetOf(i)) },
			"vpc-id":             func(i *koalav1.Instance) []string { return one(vpcOf(i)) },
			"instance.group-id":  groupsOf,
			"group-id":           groupsOf,
			// Answered through instance IDs (selectInstances), the Elastic IPs being
			// Addresses of their own; the operator's record otherwise.
			"ip-address":           func(i *koalav1.Instance) []string { return one(i.Status.PublicIPAddress) },
			"launch-time":          func(i *koalav1.Instance) []string { return one(protocol.FormatTime(launchTime(i))) },
			"client-token":         func(i *koalav1.Instance) []string { return one(i.Spec.ClientToken) },
			"reason":               func(i *koalav1.Instance) []string { return one(i.Status.StateTransitionReason) },
			"state-reason-code":    func(i *koalav1.Instance) []string { return stateReasonCode(i) },
			"private-dns-name":     func(i *koalav1.Instance) []string { return one(privateDNSName(i.Status.PrivateIPAddress, region)) },
			"placement-group-name": func(*koalav1.Instance) []string { return nil },
			"instance-lifecycle":   func(*koalav1.Instance) []string { return nil },
		},
		Tags: func(i *koalav1.Instance) map[string]string { return i.Spec.Tags },
	}
}

func stateReasonCode(i *koalav1.Instance) []string {
	if i.Status.StateReason == nil {
		return nil
	}
	return one(i.Status.StateReason.Code)
}

func zoneOf(i *koalav1.Instance) string {
	if i.Status.AvailabilityZone != "" {
		return i.Status.AvailabilityZone
	}
	return i.Spec.Placement.AvailabilityZone
}

func launchTime(i *koalav1.Instance) time.Time {
	if i.Status.LaunchTime != nil {
		return i.Status.LaunchTime.Time
	}
	return i.CreationTimestamp.Time
}

// listInput is the common input of a Describe call over instances: explicit IDs,
// filters and pagination.
type listInput struct {
	ids       []string
	filters   []filter.Filter
	maxResult int
	token     string
	scope     string
}

// parseList reads InstanceId.N, Filter.N, MaxResults (within [min, max]) and NextToken.
func parseList(p *protocol.Params, action string, min, max int64) (listInput, error) {
	var in listInput
	var err error
	if in.ids, err = p.Strings("InstanceId"); err != nil {
		return in, err
	}
	for _, id := range in.ids {
		if !ids.Valid(ids.Instance, id) {
			return in, malformedInstanceID(id)
		}
	}
	if in.filters, err = p.Filters(); err != nil {
		return in, err
	}
	mr, hasMax, err := p.Int("MaxResults", min, max)
	if err != nil {
		return in, err
	}
	if hasMax && len(in.ids) > 0 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination,
			"The parameter instancesSet cannot be used with the parameter maxResults")
	}
	in.maxResult = int(mr)
	in.token, _ = p.String("NextToken")
	in.scope = action + "?" + p.Canonical("NextToken", "MaxResults")
	return in, nil
}

func malformedInstanceID(id string) error {
	return protocol.Errorf(protocol.CodeInvalidInstanceIDMalformed, "Invalid id: \"%s\" (expecting \"i-...\")", id)
}

func notFound(missing []string) error {
	if len(missing) == 1 {
		return protocol.Errorf(protocol.CodeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist", missing[0])
	}
	return protocol.Errorf(protocol.CodeInvalidInstanceIDNotFound, "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
}

// selectInstances returns the account's instances that the IDs and filters select,
// sorted by ID. Every explicit ID must exist.
func (h *Handlers) selectInstances(ctx context.Context, c *action.Call, in listInput) ([]*koalav1.Instance, error) {
	fs, err := h.translateNetworkFilters(ctx, c, in.filters)
	if err != nil {
		return nil, err
	}
	in.filters = fs
	match, err := h.filters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	var candidates []*koalav1.Instance
	if len(in.ids) > 0 {
		if candidates, err = h.lookupAll(ctx, c, in.ids); err != nil {
			return nil, err
		}
	} else {
		all, err := h.candidates(ctx, c, in.filters, match)
		if err != nil {
			return nil, err
		}
		candidates = make([]*koalav1.Instance, 0, len(all))
		for i := range all {
			if all[i].EC2ID() != "" {
				candidates = append(candidates, &all[i])
			}
		}
	}
	out := candidates[:0]
	for _, inst := range candidates {
		if match.Match(inst) {
			out = append(out, inst)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EC2ID() < out[j].EC2ID() })
	return out, nil
}

// candidates are the instances a Describe without IDs must look at: those an index
// finds for the first tag:<key> or instance-state-name filter with literal values, else
// all of the account's.
func (h *Handlers) candidates(ctx context.Context, c *action.Call, fs []filter.Filter, match filter.Matcher[*koalav1.Instance]) ([]koalav1.Instance, error) {
	for _, f := range fs {
		if f.Name == "instance-state-name" {
			if values, literal := match.Exact(f.Name); literal {
				return h.Store.InstancesByState(ctx, c.Account, values)
			}
			continue
		}
		key, ok := strings.CutPrefix(f.Name, "tag:")
		if !ok {
			continue
		}
		if values, literal := match.Exact(f.Name); literal {
			return h.Store.InstancesByTag(ctx, c.Account, key, values)
		}
	}
	return h.Store.Instances(ctx, c.Account)
}

func idKey(i **koalav1.Instance) string { return (*i).EC2ID() }

func parseDescribe(p *protocol.Params) (listInput, error) {
	return parseList(p, "DescribeInstances", 5, 1000)
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in listInput) (protocol.Body, error) {
	selected, err := h.selectInstances(ctx, c, in)
	if err != nil {
		return nil, err
	}
	page, next, err := protocol.Page(selected, idKey, in.maxResult, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	v, err := h.view(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	return &describeInstancesResponse{ReservationSet: v.reservations(page, c.Account.ID), NextToken: next}, nil
}

// Instance status: DescribeInstanceStatus.

type statusInput struct {
	listInput
	includeAll bool
}

// statusFilters are DescribeInstanceStatus' filters.
var statusFilters = filter.Schema[*koalav1.Instance]{
	Fields: map[string]func(*koalav1.Instance) []string{
		"availability-zone":            func(i *koalav1.Instance) []string { return one(zoneOf(i)) },
		"instance-state-name":          func(i *koalav1.Instance) []string { return []string{string(i.DisplayState())} },
		"instance-state-code":          func(i *koalav1.Instance) []string { return []string{strconv.Itoa(int(i.DisplayState().Code()))} },
		"instance-status.status":       func(i *koalav1.Instance) []string { return []string{health(i).status} },
		"instance-status.reachability": func(i *koalav1.Instance) []string { return []string{health(i).detail} },
		"system-status.status":         func(i *koalav1.Instance) []string { return []string{health(i).status} },
		"system-status.reachability":   func(i *koalav1.Instance) []string { return []string{health(i).detail} },
	},
}

func parseDescribeStatus(p *protocol.Params) (statusInput, error) {
	l, err := parseList(p, "DescribeInstanceStatus", 5, 1000)
	if err != nil {
		return statusInput{}, err
	}
	all, _, err := p.Bool("IncludeAllInstances")
	return statusInput{listInput: l, includeAll: all}, err
}

type healthView struct{ status, detail string }

// health is the status check EC2 would report: ok once the guest runs, initializing
// while it starts, not-applicable when it is not running.
func health(i *koalav1.Instance) healthView {
	switch i.DisplayState() {
	case koalav1.InstanceStateRunning:
		for _, c := range i.Status.Conditions {
			if c.Type == koalav1.ReadyCondition && c.Status == "True" {
				return healthView{"ok", "passed"}
			}
		}
		return healthView{"initializing", "initializing"}
	case koalav1.InstanceStatePending:
		return healthView{"initializing", "initializing"}
	}
	return healthView{"not-applicable", "not-applicable"}
}

func (h *Handlers) describeStatus(ctx context.Context, c *action.Call, in statusInput) (protocol.Body, error) {
	// The state and status filters are DescribeInstanceStatus' own; instanceFilters
	// does not know them, so match them here.
	match, err := statusFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	in.filters = nil
	selected, err := h.selectInstances(ctx, c, in.listInput)
	if err != nil {
		return nil, err
	}
	shown := selected[:0]
	for _, inst := range selected {
		if !match.Match(inst) {
			continue
		}
		// Without IncludeAllInstances only running instances are described.
		if !in.includeAll && inst.DisplayState() != koalav1.InstanceStateRunning {
			continue
		}
		shown = append(shown, inst)
	}
	page, next, err := protocol.Page(shown, idKey, in.maxResult, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	v, err := h.view(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	out := &describeInstanceStatusResponse{NextToken: next}
	for _, inst := range page {
		hv := health(inst)
		detail := []statusDetailXML{{Name: "reachability", Status: hv.detail}}
		out.InstanceStatusSet = append(out.InstanceStatusSet, instanceStatusXML{
			InstanceID:        inst.EC2ID(),
			AvailabilityZone:  v.zone(inst),
			InstanceState:     stateOf(inst.DisplayState()),
			SystemStatus:      statusSummaryXML{Status: hv.status, Details: detail},
			InstanceStatus:    statusSummaryXML{Status: hv.status, Details: detail},
			AttachedEbsStatus: statusSummaryXML{Status: hv.status, Details: detail},
		})
	}
	return out, nil
}

// Credit specifications: DescribeInstanceCreditSpecifications.

// creditFilters are DescribeInstanceCreditSpecifications' filters.
var creditFilters = filter.Schema[*koalav1.Instance]{
	Fields: map[string]func(*koalav1.Instance) []string{
		"instance-id": func(i *koalav1.Instance) []string { return one(i.EC2ID()) },
	},
}

func parseDescribeCredits(p *protocol.Params) (listInput, error) {
	return parseList(p, "DescribeInstanceCreditSpecifications", 5, 1000)
}

func (h *Handlers) describeCredits(ctx context.Context, c *action.Call, in listInput) (protocol.Body, error) {
	match, err := creditFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	in.filters = nil
	selected, err := h.selectInstances(ctx, c, in)
	if err != nil {
		return nil, err
	}
	burstable := selected[:0]
	for _, inst := range selected {
		if !match.Match(inst) {
			continue
		}
		it, err := h.Store.InstanceType(ctx, inst.Spec.InstanceType)
		if err != nil {
			return nil, err
		}
		if it != nil && catalog.Describe(it).Burstable {
			burstable = append(burstable, inst)
		} else if len(in.ids) > 0 {
			return nil, protocol.Errorf(protocol.CodeUnsupportedOperation,
				"The functionality you requested is not available for this type of instance: %s is not a burstable instance", inst.EC2ID())
		}
	}
	page, next, err := protocol.Page(burstable, idKey, in.maxResult, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	out := &describeCreditSpecificationsResponse{NextToken: next}
	for _, inst := range page {
		// T3 instances launch unlimited by default in EC2; Koala does not meter credits.
		out.Set = append(out.Set, creditSpecificationXML{InstanceID: inst.EC2ID(), CPUCredits: "unlimited"})
	}
	return out, nil
}

// noMatch is a filter value no instance has.
const noMatch = "\x00"

// groupFilters select security groups by name, for instance.group-name.
var groupFilters = filter.Schema[*koalav1.SecurityGroup]{
	Single: map[string]func(*koalav1.SecurityGroup) string{
		"group-name": func(g *koalav1.SecurityGroup) string { return g.Spec.GroupName },
	},
}

// addressFilters select Elastic IPs by address, for ip-address.
var addressFilters = filter.Schema[*koalav1.Address]{
	Fields: map[string]func(*koalav1.Address) []string{
		"public-ip": func(a *koalav1.Address) []string { return one(orDefault(a.Spec.PublicIP, a.Status.PublicIP)) },
	},
}

// translateNetworkFilters answers the filters on what an instance does not hold itself
// through the objects that do: instance.group-name (group-name) becomes the IDs of the
// groups of those names, ip-address the IDs of the instances its Elastic IPs are
// associated with.
func (h *Handlers) translateNetworkFilters(ctx context.Context, c *action.Call, fs []filter.Filter) ([]filter.Filter, error) {
	out := make([]filter.Filter, 0, len(fs))
	for _, f := range fs {
		switch f.Name {
		case "instance.group-name", "group-name":
			m, err := groupFilters.Compile([]filter.Filter{{Name: "group-name", Values: f.Values}})
			if err != nil {
				return nil, err
			}
			groups, err := h.Store.SecurityGroups(ctx, c.Account)
			if err != nil {
				return nil, err
			}
			ids := []string{noMatch}
			for i := range groups {
				if m.Match(&groups[i]) {
					ids = append(ids, groups[i].EC2ID())
				}
			}
			out = append(out, filter.Filter{Name: "instance.group-id", Values: ids})
		case "ip-address":
			m, err := addressFilters.Compile([]filter.Filter{{Name: "public-ip", Values: f.Values}})
			if err != nil {
				return nil, err
			}
			addrs, err := h.Store.Addresses(ctx, c.Account)
			if err != nil {
				return nil, err
			}
			ids := []string{noMatch}
			for i := range addrs {
				if a := &addrs[i]; a.Spec.InstanceID != "" && m.Match(a) {
					ids = append(ids, a.Spec.InstanceID)
				}
			}
			out = append(out, filter.Filter{Name: "instance-id", Values: ids})
		default:
			out = append(out, f)
		}
	}
	return out, nil
}
