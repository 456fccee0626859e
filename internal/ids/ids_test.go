package ids

import (
	"strings"
	"testing"
)

func TestNewMakesDistinctValidIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := New(Instance)
		if !Valid(Instance, id) {
			t.Fatalf("New(%q) = %q, which Valid rejects", Instance, id)
		}
		if seen[id] {
			t.Fatalf("New returned %q twice", id)
		}
		seen[id] = true
	}
}

func TestFromSeedIsStableAndSeparatesParts(t *testing.T) {
	a := FromSeed(Instance, "ns", "token", "0")
	if a != FromSeed(Instance, "ns", "token", "0") {
		t.Fatal("the same seed gave two IDs")
	}
	if a == FromSeed(Instance, "nst", "oken", "0") {
		t.Fatal("seed parts that concatenate alike gave the same ID")
	}
	if !Valid(Instance, a) {
		t.Fatalf("FromSeed gave invalid ID %q", a)
	}
}

func TestValid(t *testing.T) {
	cases := map[string]struct {
		prefix, id string
		want       bool
	}{
		"accepts a 17-digit instance ID":         {Instance, "i-0123456789abcdef0", true},
		"accepts an 8-digit legacy ID":           {Instance, "i-0123abcd", true},
		"rejects upper-case hex":                 {Instance, "i-0123456789ABCDEF0", false},
		"rejects another kind's prefix":          {Instance, "vol-0123456789abcdef0", false},
		"rejects a prefix that only begins it":   {Image, "amix-0123456789abcdef0", false},
		"rejects 16 digits":                      {Instance, "i-0123456789abcdef", false},
		"rejects non-hex letters":                {KeyPair, "key-0123456789abcdefg", false},
		"rejects the empty string":               {Instance, "", false},
		"rejects a prefix with nothing after it": {Instance, "i-", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Valid(tc.prefix, tc.id); got != tc.want {
				t.Errorf("Valid(%q, %q) = %v, want %v", tc.prefix, tc.id, got, tc.want)
			}
		})
	}
}

func TestPrefixOf(t *testing.T) {
	if got := PrefixOf("ami-0123"); got != "ami" {
		t.Errorf("PrefixOf = %q", got)
	}
	if got := PrefixOf("nodash"); got != "" {
		t.Errorf("PrefixOf without dash = %q", got)
	}
	if !strings.HasPrefix(New(Snapshot), "snap-") {
		t.Error("New(Snapshot) lacks its prefix")
	}
}
