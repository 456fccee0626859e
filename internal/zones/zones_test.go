package zones

import (
	"reflect"
	"testing"
)

func TestFromNodeLabels(t *testing.T) {
	cases := map[string]struct {
		labels []map[string]string
		want   []string
	}{
		"no nodes give the default zone":               {nil, []string{"koala-1a"}},
		"nodes without the label give the default":     {[]map[string]string{{"x": "y"}}, []string{"koala-1a"}},
		"zones are distinct and sorted":                {[]map[string]string{{Label: "b"}, {Label: "a"}, {Label: "b"}}, []string{"a", "b"}},
		"unlabelled nodes do not add the default zone": {[]map[string]string{{Label: "z1"}, {}}, []string{"z1"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := FromNodeLabels("koala-1", tc.labels); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestID(t *testing.T) {
	zs := []string{"koala-1a", "koala-1b"}
	if got := ID("koala-1", zs, "koala-1b"); got != "koala1-az2" {
		t.Errorf("ID = %q", got)
	}
	if got := ID("koala-1", zs, "nope"); got != "" {
		t.Errorf("ID of an unknown zone = %q", got)
	}
}
