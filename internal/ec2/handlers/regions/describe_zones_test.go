package regions

import (
	"errors"
	"reflect"
	"testing"

	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/zones"
)

func threeZones() *fakeStore { return withZones("koala-1a", "koala-1b", "koala-1c") }

func TestDescribeAvailabilityZonesAnswersTheRegionsZones(t *testing.T) {
	s := threeZones()
	d := mustCall(t, handlers(s), "DescribeAvailabilityZones", nil)
	const item = "availabilityZoneInfo/item/"
	want := map[string][]string{
		item + "zoneName":           {"koala-1a", "koala-1b", "koala-1c"},
		item + "zoneId":             {"koala1-az1", "koala1-az2", "koala1-az3"},
		item + "zoneState":          {"available", "available", "available"},
		item + "zoneType":           {"availability-zone", "availability-zone", "availability-zone"},
		item + "regionName":         {region, region, region},
		item + "groupName":          {region, region, region},
		item + "networkBorderGroup": {region, region, region},
		item + "optInStatus":        {"opt-in-not-required", "opt-in-not-required", "opt-in-not-required"},
		item + "messageSet":         {"", "", ""},
	}
	for path, w := range want {
		if got := d.get(path); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %q, want %q", path, got, w)
		}
	}
	if !reflect.DeepEqual(s.asked, []string{region}) {
		t.Errorf("the store was asked about regions %q, want [%s]", s.asked, region)
	}
}

func TestDescribeAvailabilityZonesAnswersTheDefaultZoneOfAClusterWithoutZoneLabels(t *testing.T) {
	d := mustCall(t, handlers(withZones(zones.FromNodeLabels(region, nil)...)), "DescribeAvailabilityZones", nil)
	if got := d.get("availabilityZoneInfo/item/zoneName"); !reflect.DeepEqual(got, []string{"koala-1a"}) {
		t.Errorf("zones = %q", got)
	}
	if got := d.get("availabilityZoneInfo/item/zoneId"); !reflect.DeepEqual(got, []string{"koala1-az1"}) {
		t.Errorf("zone IDs = %q", got)
	}
}

func TestDescribeAvailabilityZonesSelects(t *testing.T) {
	cases := map[string]struct {
		params map[string]string
		want   []string
	}{
		"ZoneName.N lists the named zones": {
			params: map[string]string{"ZoneName.1": "koala-1c", "ZoneName.2": "koala-1a"},
			want:   []string{"koala-1a", "koala-1c"},
		},
		"ZoneId.N lists the identified zones": {
			params: map[string]string{"ZoneId.1": "koala1-az2"},
			want:   []string{"koala-1b"},
		},
		"names and IDs together list both": {
			params: map[string]string{"ZoneName.1": "koala-1a", "ZoneId.1": "koala1-az3"},
			want:   []string{"koala-1a", "koala-1c"},
		},
		"AllAvailabilityZones lists every zone": {
			params: map[string]string{"AllAvailabilityZones": "true"},
			want:   []string{"koala-1a", "koala-1b", "koala-1c"},
		},
		"the zone-name filter takes wildcards": {
			params: map[string]string{"Filter.1.Name": "zone-name", "Filter.1.Value.1": "*-1?", "Filter.1.Value.2": "nope"},
			want:   []string{"koala-1a", "koala-1b", "koala-1c"},
		},
		"the zone-id filter": {
			params: map[string]string{"Filter.1.Name": "zone-id", "Filter.1.Value.1": "koala1-az1"},
			want:   []string{"koala-1a"},
		},
		"the filters on the region, the state, the type and the groups match every zone": {
			params: map[string]string{
				"Filter.1.Name": "region-name", "Filter.1.Value.1": region,
				"Filter.2.Name": "state", "Filter.2.Value.1": "available",
				"Filter.3.Name": "zone-type", "Filter.3.Value.1": "availability-zone",
				"Filter.4.Name": "group-name", "Filter.4.Value.1": region,
				"Filter.5.Name": "opt-in-status", "Filter.5.Value.1": "opt-in-not-required",
				"Filter.6.Name": "network-border-group", "Filter.6.Value.1": region,
			},
			want: []string{"koala-1a", "koala-1b", "koala-1c"},
		},
		"a state filter for unavailable zones matches nothing": {
			params: map[string]string{"Filter.1.Name": "state", "Filter.1.Value.1": "unavailable"},
		},
		"a documented filter on something Koala's zones lack matches nothing": {
			params: map[string]string{"Filter.1.Name": "parent-zone-name", "Filter.1.Value.1": "*"},
		},
		"a name and a disagreeing filter match nothing": {
			params: map[string]string{"ZoneName.1": "koala-1a", "Filter.1.Name": "zone-id", "Filter.1.Value.1": "koala1-az2"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := mustCall(t, handlers(threeZones()), "DescribeAvailabilityZones", tc.params)
			if got := d.get("availabilityZoneInfo/item/zoneName"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("zones = %q, want %q", got, tc.want)
			}
			if len(tc.want) == 0 && !d.has("availabilityZoneInfo") {
				t.Error("an empty result has no empty availabilityZoneInfo")
			}
		})
	}
}

func TestDescribeAvailabilityZonesRefuses(t *testing.T) {
	cases := map[string]struct {
		params map[string]string
		want   refusal
	}{
		"a zone name the region does not have, with EC2's message": {
			params: map[string]string{"ZoneName.1": "koala-1a", "ZoneName.2": "us-east-1a"},
			want:   refusal{protocol.CodeInvalidParameterValue, "Invalid availability zone: [us-east-1a]"},
		},
		"a zone ID the region does not have": {
			params: map[string]string{"ZoneId.1": "koala1-az9"},
			want:   refusal{protocol.CodeInvalidParameterValue, "Invalid availability zone-id: [koala1-az9]"},
		},
		"an unknown filter": {
			params: map[string]string{"Filter.1.Name": "zone", "Filter.1.Value.1": "koala-1a"},
			want:   refusal{code: protocol.CodeInvalidParameterValue},
		},
		"a tag filter, as zones have no tags": {
			params: map[string]string{"Filter.1.Name": "tag-key", "Filter.1.Value.1": "x"},
			want:   refusal{code: protocol.CodeInvalidParameterValue},
		},
		"a filter without a name": {
			params: map[string]string{"Filter.1.Value.1": "x"},
			want:   refusal{code: protocol.CodeMissingParameter},
		},
		"an unknown parameter": {
			params: map[string]string{"ZoneNames.1": "koala-1a"},
			want:   refusal{code: protocol.CodeUnknownParameter},
		},
		"DryRun, which would have succeeded": {
			params: map[string]string{"DryRun": "true"},
			want:   refusal{code: protocol.CodeDryRunOperation},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := call(t, handlers(threeZones()), "DescribeAvailabilityZones", tc.params)
			checkRefusal(t, err, tc.want)
		})
	}
}

func TestDescribeAvailabilityZonesPassesStoreFailuresOnAsInternal(t *testing.T) {
	_, err := call(t, handlers(&fakeStore{err: errors.New("cache not synced")}), "DescribeAvailabilityZones", nil)
	if err == nil {
		t.Fatal("no error")
	}
	if _, ok := protocol.AsError(err); ok {
		t.Errorf("a store failure became an EC2 error: %v", err)
	}
}
