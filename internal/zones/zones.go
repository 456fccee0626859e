// Package zones derives a region's availability zones from the cluster's nodes: the
// values of their topology.kubernetes.io/zone labels, or one default zone when no node
// carries the label.
package zones

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
)

// Label is the well-known node label that names a node's zone.
const Label = "topology.kubernetes.io/zone"

// Default is the zone of a region whose nodes carry no zone label: the region's name
// followed by "a", as EC2 names zones.
func Default(region string) string { return region + "a" }

// FromNodeLabels returns the sorted, distinct zones named by the nodes' labels, or the
// region's default zone when none is named.
func FromNodeLabels(region string, nodeLabels []map[string]string) []string {
	seen := map[string]bool{}
	for _, l := range nodeLabels {
		if z := l[Label]; z != "" {
			seen[z] = true
		}
	}
	if len(seen) == 0 {
		return []string{Default(region)}
	}
	out := make([]string, 0, len(seen))
	for z := range seen {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

// ID is the zone ID EC2 shows next to a zone name (e.g. "koala1-az1"): the region with
// its dashes removed, "-az", and the zone's 1-based position.
func ID(region string, zones []string, zone string) string {
	for i, z := range zones {
		if z == zone {
			return strings.ReplaceAll(region, "-", "") + "-az" + strconv.Itoa(i+1)
		}
	}
	return ""
}

// Assign chooses the zone of a new instance that asked for none: one of the zones the
// nodes name, picked by a digest of seed (the instance's ID) so that instances spread
// over the zones and the choice is the same when repeated. pinned reports whether the
// zone is a node label the instance can be scheduled by; the default zone of unlabelled
// nodes is not.
func Assign(region string, nodeLabels []map[string]string, seed string) (zone string, pinned bool) {
	zs := FromNodeLabels(region, nodeLabels)
	h := fnv.New32a()
	h.Write([]byte(seed))
	zone = zs[int(h.Sum32()%uint32(len(zs)))]
	return zone, IsLabelled(nodeLabels, zone)
}

// IsLabelled reports whether some node carries zone as its zone label.
func IsLabelled(nodeLabels []map[string]string, zone string) bool {
	for _, l := range nodeLabels {
		if l[Label] == zone {
			return true
		}
	}
	return false
}
