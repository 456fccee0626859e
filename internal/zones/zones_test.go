package zones

import (
	"reflect"
	"strconv"
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

func TestAssignSpreadsOverLabelledZonesAndRepeatsItself(t *testing.T) {
	nodes := []map[string]string{{Label: "a"}, {Label: "b"}, {}}
	seen := map[string]int{}
	for i := 0; i < 100; i++ {
		seed := "i-" + strconv.Itoa(i)
		z, pinned := Assign("r", nodes, seed)
		if !pinned {
			t.Fatalf("zone %q of labelled nodes is not pinned", z)
		}
		if again, _ := Assign("r", nodes, seed); again != z {
			t.Fatalf("Assign is not stable: %q then %q", z, again)
		}
		seen[z]++
	}
	if seen["a"] < 20 || seen["b"] < 20 {
		t.Errorf("zones are not spread: %v", seen)
	}
	if z, pinned := Assign("r", nil, "i-1"); z != "ra" || pinned {
		t.Errorf("without zone labels: %q pinned=%v, want the default zone, unpinned", z, pinned)
	}
}
