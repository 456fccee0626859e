package tagging

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/koala-dev/koala/internal/ec2/protocol"
)

func code(err error) string {
	if e, ok := err.(*protocol.Error); ok {
		return e.Code
	}
	return ""
}

func TestMerge(t *testing.T) {
	cases := map[string]struct {
		existing map[string]string
		add      []Tag
		want     map[string]string
		wantCode string
	}{
		"adds and overwrites":              {map[string]string{"a": "1"}, []Tag{{Key: "a", Value: "2"}, {Key: "b"}}, map[string]string{"a": "2", "b": ""}, ""},
		"refuses an empty key":             {nil, []Tag{{Key: ""}}, nil, protocol.CodeInvalidParameterValue},
		"refuses the aws: prefix":          {nil, []Tag{{Key: "AWS:x"}}, nil, protocol.CodeInvalidParameterValue},
		"refuses a 129-character key":      {nil, []Tag{{Key: strings.Repeat("k", 129)}}, nil, protocol.CodeInvalidParameterValue},
		"counts characters, not bytes":     {nil, []Tag{{Key: strings.Repeat("é", 128)}}, map[string]string{strings.Repeat("é", 128): ""}, ""},
		"refuses a 257-character value":    {nil, []Tag{{Key: "k", Value: strings.Repeat("v", 257)}}, nil, protocol.CodeInvalidParameterValue},
		"refuses a 51st tag":               {fifty(), []Tag{{Key: "one-more"}}, nil, protocol.CodeTagLimitExceeded},
		"overwriting at the limit is fine": {fifty(), []Tag{{Key: "k0", Value: "x"}}, nil, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Merge(tc.existing, tc.add)
			if code(err) != tc.wantCode {
				t.Fatalf("error %v, want code %q", err, tc.wantCode)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// fifty returns 50 tags, k0 to k49.
func fifty() map[string]string {
	m := map[string]string{}
	for i := 0; i < 50; i++ {
		m[fmt.Sprintf("k%d", i)] = ""
	}
	return m
}

func TestRemoveHonoursValues(t *testing.T) {
	got := Remove(map[string]string{"a": "1", "b": "2", "c": "3"}, []Tag{{Key: "a"}, {Key: "b", Value: "nope", HasValue: true}, {Key: "c", Value: "3", HasValue: true}})
	if want := map[string]string{"b": "2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSpecifications(t *testing.T) {
	p := protocol.FromValues(map[string]string{
		"TagSpecification.1.ResourceType": "instance",
		"TagSpecification.1.Tag.1.Key":    "Name",
		"TagSpecification.1.Tag.1.Value":  "web",
		"TagSpecification.2.ResourceType": "instance",
		"TagSpecification.2.Tag.1.Key":    "env",
		"TagSpecification.2.Tag.1.Value":  "prod",
	})
	got, err := Specifications(p, "instance", "volume")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]map[string]string{"instance": {"Name": "web", "env": "prod"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	bad := protocol.FromValues(map[string]string{"TagSpecification.1.ResourceType": "vpc", "TagSpecification.1.Tag.1.Key": "x"})
	if _, err := Specifications(bad, "instance"); code(err) != protocol.CodeInvalidParameterValue {
		t.Errorf("a resource type the action cannot tag: %v", err)
	}
}

func TestSetIsSortedAndEmptyIsNil(t *testing.T) {
	if Set(nil) != nil {
		t.Error("empty tags must render no tagSet")
	}
	got := Set(map[string]string{"b": "2", "a": "1"})
	if want := []Item{{"a", "1"}, {"b", "2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}
