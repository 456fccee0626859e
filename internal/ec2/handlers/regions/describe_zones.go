package regions

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/zones"
)

func absentZoneField(*zoneXML) []string { return nil }

// zoneFilters are DescribeAvailabilityZones' filters: those EC2 documents, and
// network-border-group. Koala's zones have no long group name, no messages and no
// parent zone, so those filters match nothing.
var zoneFilters = filter.Schema[*zoneXML]{
	Fields: map[string]func(*zoneXML) []string{
		"zone-name":            func(z *zoneXML) []string { return one(z.ZoneName) },
		"zone-id":              func(z *zoneXML) []string { return one(z.ZoneID) },
		"region-name":          func(z *zoneXML) []string { return one(z.RegionName) },
		"state":                func(z *zoneXML) []string { return one(z.ZoneState) },
		"zone-type":            func(z *zoneXML) []string { return one(z.ZoneType) },
		"group-name":           func(z *zoneXML) []string { return one(z.GroupName) },
		"opt-in-status":        func(z *zoneXML) []string { return one(z.OptInStatus) },
		"network-border-group": func(z *zoneXML) []string { return one(z.NetworkBorderGroup) },
		"group-long-name":      absentZoneField,
		"message":              absentZoneField,
		"parent-zone-id":       absentZoneField,
		"parent-zone-name":     absentZoneField,
	},
}

type zonesInput struct {
	names, ids []string
	filters    []filter.Filter
}

func parseDescribeZones(p *protocol.Params) (zonesInput, error) {
	var in zonesInput
	var err error
	if in.names, err = p.Strings("ZoneName"); err != nil {
		return in, err
	}
	if in.ids, err = p.Strings("ZoneId"); err != nil {
		return in, err
	}
	// AllAvailabilityZones adds the zones of opt-in groups: there are none.
	if _, _, err := p.Bool("AllAvailabilityZones"); err != nil {
		return in, err
	}
	in.filters, err = p.Filters()
	return in, err
}

func (h *Handlers) zone(all []string, name string) zoneXML {
	return zoneXML{
		ZoneName:           name,
		ZoneID:             zones.ID(h.Region, all, name),
		ZoneState:          "available",
		ZoneType:           "availability-zone",
		RegionName:         h.Region,
		GroupName:          h.Region,
		NetworkBorderGroup: h.Region,
		OptInStatus:        optInNotRequired,
	}
}

func (h *Handlers) describeZones(ctx context.Context, _ *action.Call, in zonesInput) (protocol.Body, error) {
	match, err := zoneFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	names, err := h.Store.Zones(ctx, h.Region)
	if err != nil {
		return nil, err
	}
	all := make([]zoneXML, len(names))
	byName := make(map[string]bool, len(names))
	byID := make(map[string]bool, len(names))
	for i, n := range names {
		all[i] = h.zone(names, n)
		byName[n], byID[all[i].ZoneID] = true, true
	}
	// Every zone named or identified must exist; the zones selected are those named or
	// identified, or all of them.
	for _, n := range in.names {
		if !byName[n] {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid availability zone: [%s]", n)
		}
	}
	for _, id := range in.ids {
		if !byID[id] {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid availability zone-id: [%s]", id)
		}
	}
	wantName, wantID := set(in.names), set(in.ids)
	out := &describeZonesResponse{}
	for i := range all {
		z := &all[i]
		if len(wantName)+len(wantID) > 0 && !wantName[z.ZoneName] && !wantID[z.ZoneID] {
			continue
		}
		if match.Match(z) {
			out.AvailabilityZoneInfo.Items = append(out.AvailabilityZoneInfo.Items, *z)
		}
	}
	return out, nil
}

func set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}
