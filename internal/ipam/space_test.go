package ipam

import (
	"reflect"
	"testing"
)

func TestSubnetSpaceReservesTheFirstFourAndTheLastAddress(t *testing.T) {
	cases := map[string]struct {
		cidr        string
		size        uint64
		first, last string
	}{
		"a /28 has 11 usable addresses":   {"10.0.1.0/28", 11, "10.0.1.4", "10.0.1.14"},
		"a /24 has 251":                   {"10.0.1.0/24", 251, "10.0.1.4", "10.0.1.254"},
		"a /16 has 65531":                 {"172.31.0.0/16", 65531, "172.31.0.4", "172.31.255.254"},
		"a /20 starts past its network":   {"172.31.16.0/20", 4091, "172.31.16.4", "172.31.31.254"},
		"a non-canonical CIDR is masked":  {"10.0.1.7/28", 11, "10.0.1.4", "10.0.1.14"},
		"the last usable is before bcast": {"192.168.0.16/28", 11, "192.168.0.20", "192.168.0.30"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := ParseSubnet(tc.cidr)
			if err != nil {
				t.Fatal(err)
			}
			if s.Size() != tc.size || s.At(0) != tc.first || s.At(s.Size()-1) != tc.last {
				t.Errorf("size %d, first %s, last %s; want %d, %s, %s", s.Size(), s.At(0), s.At(s.Size()-1), tc.size, tc.first, tc.last)
			}
			for _, v := range []string{tc.first, tc.last} {
				if i, ok := s.Index(v); !ok || s.At(i) != v {
					t.Errorf("Index(%s) = %d, %v", v, i, ok)
				}
			}
		})
	}
}

func TestSubnetSpaceIndexRefusesReservedAndForeignAddresses(t *testing.T) {
	s, _ := ParseSubnet("10.0.1.0/28")
	for _, v := range []string{"10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.15", "10.0.1.16", "10.0.0.200", "fe80::1", "nope"} {
		if _, ok := s.Index(v); ok {
			t.Errorf("Index(%s) accepted an address that cannot be handed out", v)
		}
	}
}

func TestParseSubnetRefusesWhatEC2Refuses(t *testing.T) {
	for _, c := range []string{"10.0.0.0/15", "10.0.0.0/29", "10.0.0.0", "fd00::/64", "x/24"} {
		if _, err := ParseSubnet(c); err == nil {
			t.Errorf("ParseSubnet(%q) succeeded", c)
		}
	}
}

func TestPoolSpace(t *testing.T) {
	ps, err := ParsePool([]string{"203.0.113.0/30", "198.51.100.10-198.51.100.20"})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Size() != 4+11 {
		t.Fatalf("size %d, want 15", ps.Size())
	}
	want := map[uint64]string{0: "203.0.113.0", 3: "203.0.113.3", 4: "198.51.100.10", 14: "198.51.100.20"}
	for i, v := range want {
		if got := ps.At(i); got != v {
			t.Errorf("At(%d) = %s, want %s", i, got, v)
		}
		if j, ok := ps.Index(v); !ok || j != i {
			t.Errorf("Index(%s) = %d, %v; want %d", v, j, ok, i)
		}
	}
	if _, ok := ps.Index("198.51.100.21"); ok {
		t.Error("an address past the range is in the pool")
	}
}

func TestParsePoolRefusesOverlapsAndNonsense(t *testing.T) {
	cases := map[string][]string{
		"overlapping entries": {"203.0.113.0/24", "203.0.113.7-203.0.113.9"},
		"a range backwards":   {"198.51.100.20-198.51.100.10"},
		"an IPv6 CIDR":        {"2001:db8::/64"},
		"no entries":          nil,
		"a bare address":      {"203.0.113.7"},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePool(entries); err == nil {
				t.Errorf("ParsePool(%v) succeeded", entries)
			}
		})
	}
}

func TestVLANSpace(t *testing.T) {
	v := VLANSpace{Min: 100, Max: 102}
	if v.Size() != 3 || v.At(0) != "100" || v.At(2) != "102" {
		t.Errorf("size %d, at %s..%s", v.Size(), v.At(0), v.At(2))
	}
	if _, ok := v.Index("103"); ok {
		t.Error("103 is in 100-102")
	}
}

func TestContainsOverlapsAndSplit(t *testing.T) {
	if !Contains("10.0.0.0/16", "10.0.5.0/24") || Contains("10.0.0.0/16", "10.1.0.0/24") || Contains("10.0.1.0/24", "10.0.0.0/16") {
		t.Error("Contains is wrong")
	}
	if !Overlaps("10.0.0.0/24", "10.0.0.128/25") || Overlaps("10.0.0.0/25", "10.0.0.128/25") {
		t.Error("Overlaps is wrong")
	}
	got := Split("172.31.0.0/16", 20, 3)
	want := []string{"172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Split = %v, want %v", got, want)
	}
}

func TestNextFreeSkipsEveryBlockAnExistingSubnetTouches(t *testing.T) {
	tests := map[string]struct {
		taken  []string
		want   string
		wantOK bool
	}{
		"an empty VPC gets its first /20":                     {nil, "172.31.0.0/20", true},
		"the zones made before keep theirs, the next follows": {[]string{"172.31.0.0/20"}, "172.31.16.0/20", true},
		"a gap left by a deleted subnet is taken first":       {[]string{"172.31.16.0/20", "172.31.32.0/20"}, "172.31.0.0/20", true},
		"a user's /24 inside a block makes the block taken":   {[]string{"172.31.0.0/20", "172.31.17.0/24"}, "172.31.32.0/20", true},
		"a user's /19 takes two blocks":                       {[]string{"172.31.0.0/19"}, "172.31.32.0/20", true},
		"a subnet outside the VPC changes nothing":            {[]string{"10.0.0.0/16"}, "172.31.0.0/20", true},
		"an unreadable CIDR is ignored":                       {[]string{"nonsense"}, "172.31.0.0/20", true},
		"a VPC whose every /20 is taken has no room":          {[]string{"172.31.0.0/17", "172.31.128.0/17"}, "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := NextFree("172.31.0.0/16", 20, tc.taken)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("NextFree = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, ok := NextFree("172.31.0.0/24", 20, nil); ok {
		t.Error("a /24 VPC has no /20 to give")
	}
	if _, ok := NextFree("not a cidr", 20, nil); ok {
		t.Error("an unreadable VPC CIDR has no block to give")
	}
}
