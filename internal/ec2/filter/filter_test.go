package filter

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// instance is a stand-in for the objects a Describe action filters.
type instance struct {
	id, state, instanceType, publicIP string
	groups                            []string
	tags                              map[string]string
}

// inst builds an instance with modifiers, so each case states only what it is about.
func inst(id string, mods ...func(*instance)) *instance {
	i := &instance{id: id, state: "running", instanceType: "t3.micro", tags: map[string]string{}}
	for _, m := range mods {
		m(i)
	}
	return i
}

func withState(s string) func(*instance)     { return func(i *instance) { i.state = s } }
func withType(s string) func(*instance)      { return func(i *instance) { i.instanceType = s } }
func withIP(s string) func(*instance)        { return func(i *instance) { i.publicIP = s } }
func withGroups(g ...string) func(*instance) { return func(i *instance) { i.groups = g } }
func withTag(k, v string) func(*instance)    { return func(i *instance) { i.tags[k] = v } }

var instances = Schema[*instance]{
	Fields: map[string]Field[*instance]{
		"instance-id":       String(func(i *instance) string { return i.id }),
		"ip-address":        OptionalString(func(i *instance) string { return i.publicIP }),
		"instance.group-id": Strings(func(i *instance) []string { return i.groups }),
		// A plain function is a Field too.
		"reservation-id": func(i *instance) []string { return []string{"r-" + i.id} },
	},
	Single: map[string]func(*instance) string{
		"instance-state-name": func(i *instance) string { return i.state },
		"instance-type":       func(i *instance) string { return i.instanceType },
	},
	Tags: func(i *instance) map[string]string { return i.tags },
}

// instancesWithFields is instances with every single-valued filter in Fields, as a
// schema written without Single would have it.
var instancesWithFields = Schema[*instance]{
	Fields: map[string]Field[*instance]{
		"instance-id":         String(func(i *instance) string { return i.id }),
		"instance-state-name": String(func(i *instance) string { return i.state }),
		"instance-type":       String(func(i *instance) string { return i.instanceType }),
	},
	Tags: instances.Tags,
}

func f(name string, values ...string) Filter { return Filter{Name: name, Values: values} }

func TestMatch(t *testing.T) {
	tests := map[string]struct {
		filters []Filter
		obj     *instance
		want    bool
	}{
		"no filters match everything": {
			obj: inst("i-1"), want: true,
		},
		"a filter matches an equal value": {
			filters: []Filter{f("instance-state-name", "running")}, obj: inst("i-1"), want: true,
		},
		"a filter does not match another value": {
			filters: []Filter{f("instance-state-name", "stopped")}, obj: inst("i-1"),
		},
		"values are case-sensitive": {
			filters: []Filter{f("instance-state-name", "Running")}, obj: inst("i-1"),
		},
		"values of one filter are ORed": {
			filters: []Filter{f("instance-state-name", "pending", "running")}, obj: inst("i-1"), want: true,
		},
		"two filters must both match": {
			filters: []Filter{f("instance-state-name", "running"), f("instance-type", "t3.large")}, obj: inst("i-1"),
		},
		"two filters that both match match": {
			filters: []Filter{f("instance-state-name", "running"), f("instance-type", "t3.micro")}, obj: inst("i-1"), want: true,
		},
		"the same filter twice is ANDed": {
			filters: []Filter{f("instance-state-name", "running"), f("instance-state-name", "stopped")}, obj: inst("i-1"),
		},
		"a star matches an empty run": {
			filters: []Filter{f("instance-type", "t3.micro*")}, obj: inst("i-1"), want: true,
		},
		"a question mark matches one character": {
			filters: []Filter{f("instance-type", "t?.micro")}, obj: inst("i-1"), want: true,
		},
		"an escaped star matches only a star": {
			filters: []Filter{f("tag:Name", `web\*`)}, obj: inst("i-1", withTag("Name", "web-1")),
		},
		"a multi-valued field matches when any value matches": {
			filters: []Filter{f("instance.group-id", "sg-2")}, obj: inst("i-1", withGroups("sg-1", "sg-2")), want: true,
		},
		"a multi-valued field with no values matches nothing, not even a star": {
			filters: []Filter{f("instance.group-id", "*")}, obj: inst("i-1"),
		},
		"an absent optional value matches nothing, not even a star": {
			filters: []Filter{f("ip-address", "*")}, obj: inst("i-1"),
		},
		"a plain function field matches": {
			filters: []Filter{f("reservation-id", "r-i-1")}, obj: inst("i-1"), want: true,
		},
		"a single-valued field with an empty value matches a star": {
			filters: []Filter{f("instance-type", "*")}, obj: inst("i-1", withType("")), want: true,
		},
		"a present optional value matches a star": {
			filters: []Filter{f("ip-address", "*")}, obj: inst("i-1", withIP("203.0.113.7")), want: true,
		},
		"tag:Name matches the tag's value": {
			filters: []Filter{f("tag:Name", "web")}, obj: inst("i-1", withTag("Name", "web")), want: true,
		},
		"tag:Name does not match another tag's value": {
			filters: []Filter{f("tag:Name", "web")}, obj: inst("i-1", withTag("Role", "web")),
		},
		"tag:Name takes wildcards in its values": {
			filters: []Filter{f("tag:Name", "web-*")}, obj: inst("i-1", withTag("Name", "web-01")), want: true,
		},
		"the key of tag:<key> is literal, not a pattern": {
			filters: []Filter{f("tag:N*", "web")}, obj: inst("i-1", withTag("Name", "web")),
		},
		"tag keys are case-sensitive": {
			filters: []Filter{f("tag:name", "web")}, obj: inst("i-1", withTag("Name", "web")),
		},
		"tag:<key> matches a tag with an empty value": {
			filters: []Filter{f("tag:Empty", "*")}, obj: inst("i-1", withTag("Empty", "")), want: true,
		},
		"tag:<key> does not match an object without that tag, even with a star": {
			filters: []Filter{f("tag:Name", "*")}, obj: inst("i-1"),
		},
		"tag-key matches any key": {
			filters: []Filter{f("tag-key", "Owner")}, obj: inst("i-1", withTag("Name", "a"), withTag("Owner", "b")), want: true,
		},
		"tag-key takes wildcards": {
			filters: []Filter{f("tag-key", "kubernetes.io/*")}, obj: inst("i-1", withTag("kubernetes.io/cluster", "owned")), want: true,
		},
		"tag-key does not match a value": {
			filters: []Filter{f("tag-key", "web")}, obj: inst("i-1", withTag("Name", "web")),
		},
		"tag-value matches any value": {
			filters: []Filter{f("tag-value", "prod")}, obj: inst("i-1", withTag("Name", "a"), withTag("env", "prod")), want: true,
		},
		"tag-value does not match a key": {
			filters: []Filter{f("tag-value", "Name")}, obj: inst("i-1", withTag("Name", "web")),
		},
		"tag-key and tag-value are independent, as in EC2": {
			filters: []Filter{f("tag-key", "Name"), f("tag-value", "prod")}, obj: inst("i-1", withTag("Name", "web"), withTag("env", "prod")), want: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := instances.Compile(tc.filters)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := m.Match(tc.obj); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	many := func(n int, mk func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = mk(i)
		}
		return out
	}
	manyFilters := func(n int) []Filter {
		fs := make([]Filter, n)
		for i := range fs {
			fs[i] = f("instance-state-name", "running")
		}
		return fs
	}
	tests := map[string]struct {
		schema  Schema[*instance]
		filters []Filter
		wantMsg string // "" when Compile must succeed
	}{
		"an unknown name is invalid": {
			schema: instances, filters: []Filter{f("instance-colour", "red")}, wantMsg: "The filter 'instance-colour' is invalid",
		},
		"names are case-sensitive": {
			schema: instances, filters: []Filter{f("Instance-State-Name", "running")}, wantMsg: "The filter 'Instance-State-Name' is invalid",
		},
		"an empty name is invalid": {
			schema: instances, filters: []Filter{f("", "x")}, wantMsg: "The filter '' is invalid",
		},
		"a filter without values is invalid": {
			schema: instances, filters: []Filter{f("instance-state-name")}, wantMsg: "The filter 'instance-state-name' is invalid",
		},
		"tag: without a key is invalid": {
			schema: instances, filters: []Filter{f("tag:", "x")}, wantMsg: "The filter 'tag:' is invalid",
		},
		"tag filters are unknown to a schema without tags": {
			schema: Schema[*instance]{Fields: instances.Fields}, filters: []Filter{f("tag:Name", "x")}, wantMsg: "The filter 'tag:Name' is invalid",
		},
		"tag-key is unknown to a schema without tags": {
			schema: Schema[*instance]{Fields: instances.Fields}, filters: []Filter{f("tag-key", "x")}, wantMsg: "The filter 'tag-key' is invalid",
		},
		"one bad filter among good ones is invalid": {
			schema: instances, filters: []Filter{f("instance-state-name", "running"), f("state", "running")}, wantMsg: "The filter 'state' is invalid",
		},
		"200 values are allowed": {
			schema: instances, filters: []Filter{f("instance-id", many(200, func(i int) string { return "i-" + strconv.Itoa(i) })...)},
		},
		"201 values are too many": {
			schema: instances, filters: []Filter{f("instance-id", many(201, func(i int) string { return "i-" + strconv.Itoa(i) })...)},
			wantMsg: "The maximum number of filter values specified on a single call is 200",
		},
		"50 filters are allowed": {
			schema: instances, filters: manyFilters(50),
		},
		"51 filters are too many": {
			schema: instances, filters: manyFilters(51), wantMsg: "The maximum number of filters specified on a single call is 50",
		},
		"a value of 255 characters is allowed": {
			schema: instances, filters: []Filter{f("tag:Name", strings.Repeat("x", 255))},
		},
		"a value of 256 characters is too long": {
			schema: instances, filters: []Filter{f("tag:Name", strings.Repeat("x", 256))}, wantMsg: "The maximum length for a filter value is 255 characters",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tc.schema.Compile(tc.filters)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile = %v, want an *Error", err)
			}
			wantCode := CodeInvalidParameterValue
			if strings.Contains(tc.wantMsg, "filter value") {
				wantCode = CodeFilterLimitExceeded // EC2's code for the value limits
			}
			if e.Code != wantCode || e.Message != tc.wantMsg {
				t.Errorf("Compile = %s: %q, want %s: %q", e.Code, e.Message, wantCode, tc.wantMsg)
			}
			if code, msg := e.EC2Code(); code != e.Code || msg != e.Message {
				t.Errorf("EC2Code() = %q, %q", code, msg)
			}
		})
	}
}

func TestExact(t *testing.T) {
	tests := map[string]struct {
		filters    []Filter
		name       string
		want       []string
		wantExists bool
	}{
		"literal values are returned": {
			filters: []Filter{f("instance-id", "i-1", "i-2")}, name: "instance-id", want: []string{"i-1", "i-2"}, wantExists: true,
		},
		"escapes are removed": {
			filters: []Filter{f("tag:Name", `a\*b`, `c\\d`)}, name: "tag:Name", want: []string{"a*b", `c\d`}, wantExists: true,
		},
		"one wildcard value rules the index out": {
			filters: []Filter{f("instance-id", "i-1", "i-2*")}, name: "instance-id",
		},
		"an absent filter gives nothing": {
			filters: []Filter{f("instance-type", "t3.micro")}, name: "instance-id",
		},
		"the first of a repeated filter is used": {
			filters: []Filter{f("instance-id", "i-1", "i-2"), f("instance-id", "i-2")}, name: "instance-id", want: []string{"i-1", "i-2"}, wantExists: true,
		},
		"names are case-sensitive": {
			filters: []Filter{f("instance-id", "i-1")}, name: "Instance-Id",
		},
		"many literal values are all returned": {
			filters: []Filter{f("instance-id", "i-1", "i-2", "i-3", "i-4", "i-5", "i-6", "i-7", "i-8", "i-9", "i-10")}, name: "instance-id",
			want: []string{"i-1", "i-2", "i-3", "i-4", "i-5", "i-6", "i-7", "i-8", "i-9", "i-10"}, wantExists: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := instances.Compile(tc.filters)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := m.Exact(tc.name)
			if ok != tc.wantExists || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Exact(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.wantExists)
			}
		})
	}
}

// Many literal values go into a set; the set must match exactly what the list would.
func TestManyLiteralValuesMatchLikeFew(t *testing.T) {
	ids := make([]string, 0, 20)
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("i-%d", i))
	}
	m, err := instances.Compile([]Filter{f("instance-id", append(ids, "x-*")...)})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"i-0": true, "i-19": true, "i-20": false, "x-anything": true, "I-0": false} {
		if got := m.Match(inst(id)); got != want {
			t.Errorf("Match(%s) = %v, want %v", id, got, want)
		}
	}
}

func TestTheZeroMatcherMatchesEverything(t *testing.T) {
	var m Matcher[*instance]
	if !m.Match(inst("i-1")) || m.Len() != 0 {
		t.Error("the zero Matcher must match everything")
	}
	if _, ok := m.Exact("instance-id"); ok {
		t.Error("the zero Matcher has no exact values")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, err := instances.Compile(benchFilters)
	if err != nil {
		t.Fatal(err)
	}
	objs := benchInstances(100)
	allocs := testing.AllocsPerRun(100, func() {
		for _, o := range objs {
			m.Match(o)
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per 100 objects", allocs)
	}
}

// A single-valued filter gives the same answers from Single as from Fields.
func TestSingleAndFieldsAgree(t *testing.T) {
	single, err := instances.Compile(benchFilters)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := instancesWithFields.Compile(benchFilters)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range benchInstances(1000) {
		if a, b := single.Match(o), fields.Match(o); a != b {
			t.Fatalf("%s: Single says %v, Fields %v", o.id, a, b)
		} else if a {
			n++
		}
	}
	if n == 0 || n == 1000 {
		t.Errorf("%d of 1000 matched; the comparison proves nothing", n)
	}
}

var benchFilters = []Filter{
	f("instance-state-name", "pending", "running"),
	f("tag:Name", "web-*"),
	f("instance-type", "t3.*", "m5.large"),
}

func benchInstances(n int) []*instance {
	states := []string{"pending", "running", "stopped", "terminated"}
	types := []string{"t3.micro", "t3.small", "m5.large", "c5.xlarge"}
	names := []string{"web-", "db-", "cache-"}
	out := make([]*instance, n)
	for i := range out {
		out[i] = inst(fmt.Sprintf("i-%017x", i),
			withState(states[i%len(states)]),
			withType(types[i/4%len(types)]),
			withTag("Name", names[i%len(names)]+strconv.Itoa(i)),
			withTag("env", "prod"),
			withTag("team", "platform"))
	}
	return out
}

// BenchmarkMatch filters 10,000 instances with three filters: a literal state, a tag
// with a wildcard and a type with a wildcard; once with the single-valued fields in
// Single and once in Fields (String), to show what the slices cost.
func BenchmarkMatch(b *testing.B) {
	for name, schema := range map[string]Schema[*instance]{"Single": instances, "Fields": instancesWithFields} {
		b.Run(name, func(b *testing.B) {
			m, err := schema.Compile(benchFilters)
			if err != nil {
				b.Fatal(err)
			}
			objs := benchInstances(10000)
			b.ReportAllocs()
			b.ResetTimer()
			matched := 0
			for range b.N {
				for _, o := range objs {
					if m.Match(o) {
						matched++
					}
				}
			}
			b.ReportMetric(float64(matched)/float64(b.N), "matches/op")
		})
	}
}
