package regions

import (
	"reflect"
	"testing"

	"github.com/koala-dev/koala/internal/ec2/protocol"
)

// attributes reads accountAttributeSet as name → values. Every attribute Koala
// answers has exactly one value, which the test checks.
func attributes(t *testing.T, d *doc) ([]string, map[string]string) {
	t.Helper()
	names := d.get("accountAttributeSet/item/attributeName")
	values := d.get("accountAttributeSet/item/attributeValueSet/item/attributeValue")
	if len(names) != len(values) {
		t.Fatalf("%d attributes with %d values", len(names), len(values))
	}
	m := map[string]string{}
	for i, n := range names {
		m[n] = values[i]
	}
	return names, m
}

func TestDescribeAccountAttributesAnswersEveryAttributeByDefault(t *testing.T) {
	d := mustCall(t, handlers(withZones()), "DescribeAccountAttributes", nil)
	names, got := attributes(t, d)
	want := map[string]string{
		"supported-platforms":                   "VPC",
		"default-vpc":                           "none",
		"max-instances":                         "1000",
		"vpc-max-security-groups-per-interface": "5",
		"max-elastic-ips":                       "5",
		"vpc-max-elastic-ips":                   "5",
	}
	if !reflect.DeepEqual(got, want) || len(names) != len(want) {
		t.Errorf("attributes = %v (%d items), want %v", got, len(names), want)
	}
}

func TestDescribeAccountAttributesSelects(t *testing.T) {
	cases := map[string]struct {
		params map[string]string
		want   []string
	}{
		"AttributeName.N lists the named attributes in the order asked": {
			params: map[string]string{"AttributeName.1": "default-vpc", "AttributeName.2": "supported-platforms"},
			want:   []string{"default-vpc", "supported-platforms"},
		},
		"a name given twice is listed once": {
			params: map[string]string{"AttributeName.1": "max-instances", "AttributeName.2": "max-instances"},
			want:   []string{"max-instances"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := mustCall(t, handlers(withZones()), "DescribeAccountAttributes", tc.params)
			if names, _ := attributes(t, d); !reflect.DeepEqual(names, tc.want) {
				t.Errorf("attributes = %q, want %q", names, tc.want)
			}
		})
	}
}

func TestDescribeAccountAttributesRefuses(t *testing.T) {
	cases := map[string]struct {
		params map[string]string
		want   refusal
	}{
		"an unknown attribute": {
			params: map[string]string{"AttributeName.1": "default-vpc", "AttributeName.2": "max-volumes"},
			want:   refusal{protocol.CodeInvalidParameterValue, "Value (max-volumes) for parameter attributeName is invalid. Unknown attribute."},
		},
		"a filter, which the action does not take": {
			params: map[string]string{"Filter.1.Name": "attribute-name", "Filter.1.Value.1": "default-vpc"},
			want:   refusal{code: protocol.CodeUnknownParameter},
		},
		"DryRun, which would have succeeded": {
			params: map[string]string{"DryRun": "true"},
			want:   refusal{code: protocol.CodeDryRunOperation},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := call(t, handlers(withZones()), "DescribeAccountAttributes", tc.params)
			checkRefusal(t, err, tc.want)
		})
	}
}
