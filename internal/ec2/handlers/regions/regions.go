// Package regions answers the EC2 actions that describe where and as whom a client
// works: DescribeRegions, DescribeAvailabilityZones and DescribeAccountAttributes.
package regions

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
)

// Store is what the handlers read.
type Store interface {
	// Zones returns the region's availability zones, sorted: the nodes' zone labels,
	// or the region's default zone.
	Zones(ctx context.Context, region string) ([]string, error)
}

// Handlers answers the region, zone and account attribute actions.
type Handlers struct {
	Store Store
	// Region is the one region this endpoint serves.
	Region string
	// Endpoint is the host[:port] clients reach this endpoint at, shown as the
	// region's endpoint.
	Endpoint string
}

// Actions returns the region, zone and account attribute actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("DescribeRegions", false, parseDescribeRegions, h.describeRegions),
		action.Bind("DescribeAvailabilityZones", false, parseDescribeZones, h.describeZones),
		action.Bind("DescribeAccountAttributes", false, parseDescribeAccountAttributes, h.describeAccountAttributes),
	}
}

// optInNotRequired is the opt-in status of the region and its zones: there is nothing
// to opt in to.
const optInNotRequired = "opt-in-not-required"

// one is a filter field's values: the value, or none when it is empty.
func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// unique returns the strings once each, in their first order.
func unique(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
