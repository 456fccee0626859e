package regions

import (
	"reflect"
	"testing"

	"github.com/koala-dev/koala/internal/ec2/protocol"
)

func TestDescribeRegionsAnswersTheConfiguredRegion(t *testing.T) {
	d := mustCall(t, handlers(withZones()), "DescribeRegions", nil)
	want := map[string][]string{
		"regionInfo/item/regionName":     {region},
		"regionInfo/item/regionEndpoint": {endpoint},
		"regionInfo/item/optInStatus":    {"opt-in-not-required"},
	}
	for path, w := range want {
		if got := d.get(path); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %q, want %q", path, got, w)
		}
	}
}

func TestDescribeRegionsLeavesOutAnEndpointItWasNotGiven(t *testing.T) {
	h := handlers(withZones())
	h.Endpoint = ""
	d := mustCall(t, h, "DescribeRegions", nil)
	if d.has("regionInfo/item/regionEndpoint") {
		t.Errorf("regionEndpoint = %q", d.get("regionInfo/item/regionEndpoint"))
	}
}

func TestDescribeRegionsSelects(t *testing.T) {
	cases := map[string]struct {
		params map[string]string
		want   []string
	}{
		"RegionName.N naming the region lists it": {
			params: map[string]string{"RegionName.1": region},
			want:   []string{region},
		},
		"AllRegions lists the same one region": {
			params: map[string]string{"AllRegions": "true"},
			want:   []string{region},
		},
		"the region-name filter takes wildcards": {
			params: map[string]string{"Filter.1.Name": "region-name", "Filter.1.Value.1": "koala-*"},
			want:   []string{region},
		},
		"the endpoint filter matches the configured endpoint": {
			params: map[string]string{"Filter.1.Name": "endpoint", "Filter.1.Value.1": "*:8443"},
			want:   []string{region},
		},
		"the opt-in-status filter matches opt-in-not-required": {
			params: map[string]string{"Filter.1.Name": "opt-in-status", "Filter.1.Value.1": "opt-in-not-required"},
			want:   []string{region},
		},
		"a filter for regions one must opt in to matches nothing": {
			params: map[string]string{"Filter.1.Name": "opt-in-status", "Filter.1.Value.1": "opted-in", "Filter.1.Value.2": "not-opted-in"},
		},
		"a name and a disagreeing filter match nothing": {
			params: map[string]string{"RegionName.1": region, "Filter.1.Name": "region-name", "Filter.1.Value.1": "us-east-1"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := mustCall(t, handlers(withZones()), "DescribeRegions", tc.params)
			if got := d.get("regionInfo/item/regionName"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("regions = %q, want %q", got, tc.want)
			}
			if len(tc.want) == 0 && !d.has("regionInfo") {
				t.Error("an empty result has no empty regionInfo")
			}
		})
	}
}

func TestDescribeRegionsRefuses(t *testing.T) {
	cases := map[string]struct {
		params map[string]string
		want   refusal
	}{
		"a region this endpoint does not serve, with EC2's message": {
			params: map[string]string{"RegionName.1": "us-east-1"},
			want:   refusal{protocol.CodeInvalidParameterValue, "Invalid region: [us-east-1]"},
		},
		"the first unknown region among known ones": {
			params: map[string]string{"RegionName.1": region, "RegionName.2": "zz-nowhere-9", "RegionName.3": "yy-nowhere-8"},
			want:   refusal{protocol.CodeInvalidParameterValue, "Invalid region: [zz-nowhere-9]"},
		},
		"an unknown filter": {
			params: map[string]string{"Filter.1.Name": "geography", "Filter.1.Value.1": "x"},
			want:   refusal{code: protocol.CodeInvalidParameterValue},
		},
		"a tag filter, as regions have no tags": {
			params: map[string]string{"Filter.1.Name": "tag:Name", "Filter.1.Value.1": "x"},
			want:   refusal{code: protocol.CodeInvalidParameterValue},
		},
		"AllRegions that is not a boolean": {
			params: map[string]string{"AllRegions": "maybe"},
			want:   refusal{code: protocol.CodeInvalidParameterValue},
		},
		"an unknown parameter": {
			params: map[string]string{"RegionNames.1": region},
			want:   refusal{code: protocol.CodeUnknownParameter},
		},
		"DryRun, which would have succeeded": {
			params: map[string]string{"DryRun": "true"},
			want:   refusal{code: protocol.CodeDryRunOperation},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := call(t, handlers(withZones()), "DescribeRegions", tc.params)
			checkRefusal(t, err, tc.want)
		})
	}
}
