package volumes

import (
	"context"
	"math"
	"sort"
	"strconv"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
)

// shown is a volume as the Describe actions see it, its view computed once, when
// first needed (a page of an unfiltered DescribeVolumes needs only its own).
type shown struct {
	v    *koalav1.Volume
	vv   volumeView
	seen bool
}

func (s *shown) view() volumeView {
	if !s.seen {
		s.vv, s.seen = view(s.v), true
	}
	return s.vv
}

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (s *shown) attachmentValues(get func(attachmentView) string) []string {
	vv := s.view()
	out := make([]string, 0, len(vv.Attachments))
	for _, a := range vv.Attachments {
		out = append(out, get(a))
	}
	return out
}

// volumeFilters are DescribeVolumes' filters, as EC2 documents them.
var volumeFilters = filter.Schema[*shown]{
	Single: map[string]func(*shown) string{
		"volume-id":            func(s *shown) string { return s.v.EC2ID() },
		"status":               func(s *shown) string { return string(s.view().State) },
		"size":                 func(s *shown) string { return strconv.Itoa(int(s.v.Spec.Size)) },
		"availability-zone":    func(s *shown) string { return s.v.Spec.AvailabilityZone },
		"volume-type":          func(s *shown) string { return string(volumeType(s.v)) },
		"create-time":          func(s *shown) string { return protocol.FormatTime(s.v.CreationTimestamp.Time) },
		"encrypted":            func(*shown) string { return "false" },
		"multi-attach-enabled": func(*shown) string { return "false" },
		"fast-restored":        func(*shown) string { return "false" },
	},
	Fields: map[string]func(*shown) []string{
		"snapshot-id": func(s *shown) []string { return one(s.v.Spec.SnapshotID) },
		"iops":        func(s *shown) []string { return optionalInt(iops(s.v)) },
		"throughput":  func(s *shown) []string { return optionalInt(throughput(s.v)) },
		"attachment.instance-id": func(s *shown) []string {
			return s.attachmentValues(func(a attachmentView) string { return a.InstanceID })
		},
		"attachment.device": func(s *shown) []string {
			return s.attachmentValues(func(a attachmentView) string { return a.Device })
		},
		"attachment.status": func(s *shown) []string {
			return s.attachmentValues(func(a attachmentView) string { return string(a.State) })
		},
		"attachment.attach-time": func(s *shown) []string {
			return s.attachmentValues(func(a attachmentView) string { return protocol.FormatTime(a.AttachTime) })
		},
		"attachment.delete-on-termination": func(s *shown) []string {
			return s.attachmentValues(func(a attachmentView) string { return strconv.FormatBool(a.DeleteOnTermination) })
		},
	},
	Tags: func(s *shown) map[string]string { return s.v.Spec.Tags },
}

// listInput is the common input of the Describe calls over volumes.
type listInput struct {
	ids     []string
	filters []filter.Filter
	max     int
	token   string
	scope   string
}

// maxPage is the most volumes one page holds; a larger MaxResults gets this many, as
// EC2 answers.
const maxPage = 500

// parseList reads VolumeId.N, Filter.N, MaxResults (at least min) and NextToken.
func parseList(p *protocol.Params, action string, min int64) (listInput, error) {
	var in listInput
	var err error
	if in.ids, err = p.Strings("VolumeId"); err != nil {
		return in, err
	}
	for _, id := range in.ids {
		if !ids.Valid(ids.Volume, id) {
			return in, malformedVolumeID(id)
		}
	}
	if in.filters, err = p.Filters(); err != nil {
		return in, err
	}
	mr, hasMax, err := p.Int("MaxResults", min, math.MaxInt32)
	if err != nil {
		return in, err
	}
	if hasMax && len(in.ids) > 0 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination,
			"The parameter volumeSet cannot be used with the parameter maxResults")
	}
	in.max = int(min64(mr, maxPage))
	in.token, _ = p.String("NextToken")
	if _, _, err := p.Bool("IncludeManagedResources"); err != nil {
		return in, err
	}
	in.scope = action + "?" + p.Canonical("NextToken", "MaxResults")
	return in, nil
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// selectVolumes returns the account's volumes the IDs select, with their views, sorted
// by ID. Every explicit ID must exist.
func (h *Handlers) selectVolumes(ctx context.Context, c *action.Call, idList []string) ([]*shown, error) {
	var out []*shown
	if len(idList) > 0 {
		var missing []string
		seen := map[string]bool{}
		for _, id := range idList {
			if seen[id] {
				continue
			}
			seen[id] = true
			v, err := h.Store.Volume(ctx, c.Account, id)
			if err != nil {
				return nil, err
			}
			if v == nil {
				missing = append(missing, id)
				continue
			}
			out = append(out, &shown{v: v})
		}
		if len(missing) > 0 {
			return nil, volumeNotFound(missing...)
		}
	} else {
		all, err := h.Store.Volumes(ctx, c.Account)
		if err != nil {
			return nil, err
		}
		out = make([]*shown, 0, len(all))
		for i := range all {
			if all[i].EC2ID() != "" {
				out = append(out, &shown{v: &all[i]})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v.EC2ID() < out[j].v.EC2ID() })
	return out, nil
}

func idKey(s **shown) string { return (*s).v.EC2ID() }

type describeResponse struct {
	protocol.Meta
	VolumeSet []volumeXML `xml:"volumeSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func parseDescribe(p *protocol.Params) (listInput, error) { return parseList(p, "DescribeVolumes", 5) }

func (h *Handlers) describe(ctx context.Context, c *action.Call, in listInput) (protocol.Body, error) {
	match, err := volumeFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	selected, err := h.selectVolumes(ctx, c, in.ids)
	if err != nil {
		return nil, err
	}
	kept := selected[:0]
	for _, s := range selected {
		if match.Match(s) {
			kept = append(kept, s)
		}
	}
	page, next, err := protocol.Page(kept, idKey, in.max, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	out := &describeResponse{NextToken: next, VolumeSet: make([]volumeXML, 0, len(page))}
	for _, s := range page {
		out.VolumeSet = append(out.VolumeSet, render(s.v, s.view()))
	}
	return out, nil
}

// Volume status: DescribeVolumeStatus.

type healthView struct{ status, ioEnabled string }

// health is the volume's status check: ok once the volume is usable, insufficient-data
// while it is created, impaired in error.
func health(s *shown) healthView {
	switch s.view().State {
	case koalav1.VolumeStateAvailable, koalav1.VolumeStateInUse:
		return healthView{"ok", "passed"}
	case koalav1.VolumeStateError:
		return healthView{"impaired", "failed"}
	}
	return healthView{"insufficient-data", "insufficient-data"}
}

var statusFilters = filter.Schema[*shown]{
	Fields: map[string]func(*shown) []string{
		"availability-zone":            func(s *shown) []string { return []string{s.v.Spec.AvailabilityZone} },
		"volume-status.status":         func(s *shown) []string { return []string{health(s).status} },
		"volume-status.details-name":   func(*shown) []string { return []string{"io-enabled", "io-performance"} },
		"volume-status.details-status": func(s *shown) []string { return []string{health(s).ioEnabled, "not-applicable"} },
		"action.code":                  func(*shown) []string { return nil },
		"action.description":           func(*shown) []string { return nil },
		"action.event-id":              func(*shown) []string { return nil },
		"event.description":            func(*shown) []string { return nil },
		"event.event-id":               func(*shown) []string { return nil },
		"event.event-type":             func(*shown) []string { return nil },
		"event.not-after":              func(*shown) []string { return nil },
		"event.not-before":             func(*shown) []string { return nil },
	},
}

type statusDetailXML struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type volumeStatusInfoXML struct {
	Status  string            `xml:"status"`
	Details []statusDetailXML `xml:"details>item"`
}

type emptyListXML struct{}

type volumeStatusItemXML struct {
	VolumeID         string              `xml:"volumeId"`
	AvailabilityZone string              `xml:"availabilityZone"`
	VolumeStatus     volumeStatusInfoXML `xml:"volumeStatus"`
	ActionsSet       emptyListXML        `xml:"actionsSet"`
	EventsSet        emptyListXML        `xml:"eventsSet"`
}

type describeStatusResponse struct {
	protocol.Meta
	VolumeStatusSet []volumeStatusItemXML `xml:"volumeStatusSet>item"`
	NextToken       string                `xml:"nextToken,omitempty"`
}

func parseDescribeStatus(p *protocol.Params) (listInput, error) {
	return parseList(p, "DescribeVolumeStatus", 5)
}

func (h *Handlers) describeStatus(ctx context.Context, c *action.Call, in listInput) (protocol.Body, error) {
	match, err := statusFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	selected, err := h.selectVolumes(ctx, c, in.ids)
	if err != nil {
		return nil, err
	}
	kept := selected[:0]
	for _, s := range selected {
		if match.Match(s) {
			kept = append(kept, s)
		}
	}
	page, next, err := protocol.Page(kept, idKey, in.max, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	out := &describeStatusResponse{NextToken: next}
	for _, s := range page {
		hv := health(s)
		out.VolumeStatusSet = append(out.VolumeStatusSet, volumeStatusItemXML{
			VolumeID:         s.v.EC2ID(),
			AvailabilityZone: s.v.Spec.AvailabilityZone,
			VolumeStatus: volumeStatusInfoXML{Status: hv.status, Details: []statusDetailXML{
				{Name: "io-enabled", Status: hv.ioEnabled},
				{Name: "io-performance", Status: "not-applicable"},
			}},
		})
	}
	return out, nil
}

// Volume attributes: DescribeVolumeAttribute.

type attributeInput struct{ id, attribute string }

func parseDescribeAttribute(p *protocol.Params) (attributeInput, error) {
	id, err := parseVolumeID(p)
	if err != nil {
		return attributeInput{}, err
	}
	attr, err := p.Required("Attribute")
	if err != nil {
		return attributeInput{}, err
	}
	if attr != "autoEnableIO" && attr != "productCodes" {
		return attributeInput{}, protocol.InvalidValue("Attribute", attr, "Expected autoEnableIO or productCodes.")
	}
	return attributeInput{id: id, attribute: attr}, nil
}

type boolValueXML struct {
	Value bool `xml:"value"`
}

type attributeResponse struct {
	protocol.Meta
	VolumeID     string        `xml:"volumeId"`
	AutoEnableIO *boolValueXML `xml:"autoEnableIO,omitempty"`
	ProductCodes *emptyListXML `xml:"productCodes,omitempty"`
}

func (h *Handlers) describeAttribute(ctx context.Context, c *action.Call, in attributeInput) (protocol.Body, error) {
	if _, err := h.volume(ctx, c, in.id); err != nil {
		return nil, err
	}
	out := &attributeResponse{VolumeID: in.id}
	if in.attribute == "autoEnableIO" {
		// Koala never suspends a volume's I/O, so there is nothing to enable.
		out.AutoEnableIO = &boolValueXML{Value: false}
	} else {
		out.ProductCodes = &emptyListXML{}
	}
	return out, nil
}
