package protocol

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	cases := map[string]struct {
		raw      string
		want     map[string]string
		wantCode string
	}{
		"decodes names and values, plus as space": {
			raw:  "Action=RunInstances&Tag.1.Value=a+b%2Fc",
			want: map[string]string{"Action": "RunInstances", "Tag.1.Value": "a b/c"},
		},
		"skips empty pairs": {
			raw:  "&Action=X&&",
			want: map[string]string{"Action": "X"},
		},
		"a name without = has an empty value": {
			raw:  "DryRun",
			want: map[string]string{"DryRun": ""},
		},
		"rejects a parameter given twice": {
			raw: "InstanceId.1=a&InstanceId.1=b", wantCode: CodeInvalidParameterValue,
		},
		"rejects a bad escape in a value": {
			raw: "Action=%zz", wantCode: CodeMalformedQueryString,
		},
		"rejects a bad escape in a name": {
			raw: "Act%ion=X", wantCode: CodeMalformedQueryString,
		},
		"rejects a value that is not UTF-8": {
			raw: "Tag.1.Value=%ff%fe", wantCode: CodeInvalidParameterValue,
		},
		"rejects a name with a control character": {
			raw: "A%00b=1", wantCode: CodeMalformedQueryString,
		},
		"rejects a value without a name": {
			raw: "=x", wantCode: CodeMalformedQueryString,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := ParseQuery(tc.raw)
			if tc.wantCode != "" {
				e, ok := err.(*Error)
				if !ok || e.Code != tc.wantCode {
					t.Fatalf("ParseQuery(%q) error = %v, want code %s", tc.raw, err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.raw, err)
			}
			if !reflect.DeepEqual(p.values, tc.want) {
				t.Errorf("got %v, want %v", p.values, tc.want)
			}
		})
	}
}

func TestListsAndStructures(t *testing.T) {
	p := FromValues(map[string]string{
		"InstanceId.2":               "i-2",
		"InstanceId.1":               "i-1",
		"InstanceId.10":              "i-10",
		"Filter.1.Name":              "tag:Name",
		"Filter.1.Value.1":           "web*",
		"Filter.1.Value.2":           "db",
		"Filter.2.Name":              "instance-state-name",
		"Filter.2.Value.1":           "running",
		"Placement.AvailabilityZone": "koala-1a",
		"InstanceId.01":              "leading zero is not an index",
	})
	ids, err := p.Strings("InstanceId")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"i-1", "i-2", "i-10"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("Strings = %v, want %v (numeric order)", ids, want)
	}
	fs, err := p.Filters()
	if err != nil {
		t.Fatal(err)
	}
	want := []Filter{{Name: "tag:Name", Values: []string{"web*", "db"}}, {Name: "instance-state-name", Values: []string{"running"}}}
	if !reflect.DeepEqual(fs, want) {
		t.Errorf("Filters = %#v, want %#v", fs, want)
	}
	pl, ok := p.Struct("Placement")
	if !ok {
		t.Fatal("Struct(Placement) not found")
	}
	if az, _ := pl.String("AvailabilityZone"); az != "koala-1a" {
		t.Errorf("Placement.AvailabilityZone = %q", az)
	}
	if u := p.Unused(); !reflect.DeepEqual(u, []string{"InstanceId.01"}) {
		t.Errorf("Unused = %v, want only the malformed index", u)
	}
	if err := p.CheckUnused(); err == nil || err.(*Error).Code != CodeUnknownParameter {
		t.Errorf("CheckUnused = %v, want UnknownParameter", err)
	}
}

func TestTypedAccessors(t *testing.T) {
	p := FromValues(map[string]string{"MaxCount": "3", "Bad": "x3", "Big": "5000", "DryRun": "TRUE", "Flag": "yes"})
	if n, ok, err := p.Int("MaxCount", 1, 1000); n != 3 || !ok || err != nil {
		t.Errorf("Int(MaxCount) = %d %v %v", n, ok, err)
	}
	if _, _, err := p.Int("Bad", 1, 10); err == nil || err.(*Error).Code != CodeInvalidParameterValue {
		t.Errorf("Int(Bad) error = %v, want InvalidParameterValue", err)
	}
	if _, _, err := p.Int("Big", 1, 1000); err == nil || !strings.Contains(err.Error(), "between 1 and 1000") {
		t.Errorf("Int(Big) error = %v, want a range error", err)
	}
	if _, ok, _ := p.Int("Absent", 0, 1); ok {
		t.Error("Int(Absent) reported present")
	}
	if b, ok, err := p.Bool("DryRun"); !b || !ok || err != nil {
		t.Errorf("Bool(DryRun) = %v %v %v", b, ok, err)
	}
	if _, _, err := p.Bool("Flag"); err == nil {
		t.Error("Bool(Flag=yes) accepted")
	}
	if _, err := p.Required("Missing"); err == nil || err.(*Error).Code != CodeMissingParameter {
		t.Errorf("Required(Missing) = %v, want MissingParameter", err)
	}
}

func TestFiltersNeedANameAndCanonicalSkipsPagination(t *testing.T) {
	p := FromValues(map[string]string{"Filter.1.Value.1": "x"})
	if _, err := p.Filters(); err == nil || err.(*Error).Code != CodeMissingParameter {
		t.Errorf("Filters without Name = %v, want MissingParameter", err)
	}
	a := FromValues(map[string]string{"Action": "DescribeInstances", "NextToken": "t1", "Filter.1.Name": "x"})
	b := FromValues(map[string]string{"Filter.1.Name": "x", "Action": "DescribeInstances", "NextToken": "t2"})
	if a.Canonical("NextToken") != b.Canonical("NextToken") {
		t.Error("Canonical differs for the same request on another page")
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{"Action=DescribeInstances&Version=2016-11-15", "Filter.1.Name=tag%3AName&Filter.1.Value.1=%2A", "a=%", "%=&&=", "x=%C3%28"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := ParseQuery(raw)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("non-EC2 error %T: %v", err, err)
			}
			return
		}
		// Whatever parsed must be walkable without panics.
		_, _ = p.Filters()
		_, _ = p.Strings("InstanceId")
		_, _ = p.Structs("TagSpecification")
		_ = p.Unused()
	})
}
