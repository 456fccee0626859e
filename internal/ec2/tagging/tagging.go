// Package tagging is EC2's tag model: parsing Tag.N and TagSpecification.N parameters,
// checking tags against EC2's limits, and rendering tagSet.
package tagging

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/koala-dev/koala/internal/ec2/protocol"
)

// EC2's limits on tags.
const (
	MaxTags        = 50
	MaxKeyLength   = 128
	MaxValueLength = 256
)

// Item is one tag in a response's tagSet.
type Item struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// Set renders tags sorted by key, for a stable tagSet.
func Set(tags map[string]string) []Item {
	if len(tags) == 0 {
		return nil
	}
	out := make([]Item, 0, len(tags))
	for k, v := range tags {
		out = append(out, Item{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Tag is a parsed Tag.N: a key and a value (HasValue false when Value was absent, which
// matters to DeleteTags).
type Tag struct {
	Key      string
	Value    string
	HasValue bool
}

// ParseTags reads name.N.Key and name.N.Value.
func ParseTags(p *protocol.Params, name string) ([]Tag, error) {
	members, err := p.Structs(name)
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(members))
	for _, m := range members {
		key, ok := m.String("Key")
		if !ok {
			return nil, protocol.MissingParameter(m.Path("Key"))
		}
		value, hasValue := m.String("Value")
		out = append(out, Tag{Key: key, Value: value, HasValue: hasValue})
	}
	return out, nil
}

// CheckKey checks a key a client wants to set.
func CheckKey(key string) error {
	switch {
	case key == "":
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Tag keys must not be empty")
	case utf8.RuneCountInString(key) > MaxKeyLength:
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Tag key exceeds the maximum length of %d characters", MaxKeyLength)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
	}
	return nil
}

// CheckValue checks a value a client wants to set.
func CheckValue(value string) error {
	if utf8.RuneCountInString(value) > MaxValueLength {
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Tag value exceeds the maximum length of %d characters", MaxValueLength)
	}
	return nil
}

// Merge returns existing with the tags added (or overwritten), refusing invalid tags and
// more than MaxTags in the result.
func Merge(existing map[string]string, add []Tag) (map[string]string, error) {
	out := make(map[string]string, len(existing)+len(add))
	for k, v := range existing {
		out[k] = v
	}
	for _, t := range add {
		if err := CheckKey(t.Key); err != nil {
			return nil, err
		}
		if err := CheckValue(t.Value); err != nil {
			return nil, err
		}
		out[t.Key] = t.Value
	}
	if len(out) > MaxTags {
		return nil, protocol.Errorf(protocol.CodeTagLimitExceeded, "The maximum number of tags (%d) for a resource has been reached", MaxTags)
	}
	return out, nil
}

// Remove returns existing without the tags named: a tag given with a value is removed
// only if its value matches, as DeleteTags does.
func Remove(existing map[string]string, remove []Tag) map[string]string {
	out := make(map[string]string, len(existing))
	for k, v := range existing {
		out[k] = v
	}
	for _, t := range remove {
		if v, ok := out[t.Key]; ok && (!t.HasValue || v == t.Value) {
			delete(out, t.Key)
		}
	}
	return out
}

// Specifications reads TagSpecification.N and returns the tags asked for each resource
// type. A resource type outside allowed is an InvalidParameterValue, as EC2 answers.
func Specifications(p *protocol.Params, allowed ...string) (map[string]map[string]string, error) {
	members, err := p.Structs("TagSpecification")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, m := range members {
		rt, ok := m.String("ResourceType")
		if !ok || rt == "" {
			return nil, protocol.MissingParameter(m.Path("ResourceType"))
		}
		if !contains(allowed, rt) {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue,
				"'%s' is not a valid taggable resource type for this operation.", rt)
		}
		tags, err := ParseTags(m, "Tag")
		if err != nil {
			return nil, err
		}
		merged, err := Merge(out[rt], tags)
		if err != nil {
			return nil, err
		}
		out[rt] = merged
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
