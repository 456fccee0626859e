package regions

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
)

// regionFilters are DescribeRegions' filters, as EC2 documents them.
var regionFilters = filter.Schema[*regionXML]{
	Fields: map[string]func(*regionXML) []string{
		"endpoint":      func(r *regionXML) []string { return one(r.RegionEndpoint) },
		"region-name":   func(r *regionXML) []string { return one(r.RegionName) },
		"opt-in-status": func(r *regionXML) []string { return one(r.OptInStatus) },
	},
}

type regionsInput struct {
	names   []string
	filters []filter.Filter
}

func parseDescribeRegions(p *protocol.Params) (regionsInput, error) {
	var in regionsInput
	var err error
	if in.names, err = p.Strings("RegionName"); err != nil {
		return in, err
	}
	// AllRegions asks for the regions not enabled for the account too: there are none.
	if _, _, err := p.Bool("AllRegions"); err != nil {
		return in, err
	}
	in.filters, err = p.Filters()
	return in, err
}

func (h *Handlers) describeRegions(_ context.Context, _ *action.Call, in regionsInput) (protocol.Body, error) {
	match, err := regionFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	for _, n := range in.names {
		if n != h.Region {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid region: [%s]", n)
		}
	}
	out := &describeRegionsResponse{}
	r := regionXML{RegionName: h.Region, RegionEndpoint: h.Endpoint, OptInStatus: optInNotRequired}
	if match.Match(&r) {
		out.RegionInfo.Items = append(out.RegionInfo.Items, r)
	}
	return out, nil
}
