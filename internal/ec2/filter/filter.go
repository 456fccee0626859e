// Package filter implements the Filter.N parameters of EC2's Describe actions.
//
// Several filters must all match (AND); the values of one filter are alternatives (OR).
// Names and values are case-sensitive. In a value, '*' matches any run of characters,
// '?' exactly one, and '\' escapes the next character.
//
// A Schema lists the filters a Describe action supports for its object type; Compile
// checks a request's filters against it and compiles their values once, and the Matcher
// it returns then tests objects without allocating of its own (a Fields function that
// builds its slice allocates; Single and Tags do not).
package filter

import (
	"fmt"
	"strings"
)

// Limits EC2 documents for one Describe call.
const (
	// MaxFilters is the most filters one call may have.
	MaxFilters = 50
	// MaxValues is the most values one filter may have.
	MaxValues = 200
	// MaxValueLength is the longest filter value, in bytes.
	MaxValueLength = 255
)

// EC2 error codes Compile returns: FilterLimitExceeded for too many or too long values
// (as EC2 answers), InvalidParameterValue for everything else.
const (
	CodeInvalidParameterValue = "InvalidParameterValue"
	CodeFilterLimitExceeded   = "FilterLimitExceeded"
)

// Filter is one Filter.N of a request: a name and its values.
type Filter struct {
	Name   string
	Values []string
}

// Error is a filter the request may not use. Code is the EC2 error code and Message is
// EC2's wording.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// EC2Code lets the EC2 server turn the error into its response without importing this
// package's type.
func (e *Error) EC2Code() (code, message string) { return e.Code, e.Message }

func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidParameterValue, Message: fmt.Sprintf(format, args...)}
}

// Field gives an object's values for one filter (nil or empty: none). It is an alias, so
// a plain func(T) []string literal is a Field too.
type Field[T any] = func(obj T) []string

// String is a field with exactly one value, possibly empty. Each call allocates the
// one-element slice; Schema.Single avoids that for large scans.
func String[T any](get func(T) string) Field[T] {
	return func(obj T) []string { return []string{get(obj)} }
}

// OptionalString is a field with one value, or none when get returns "" (an instance
// without a public IP address has no "ip-address", so not even "*" matches it).
func OptionalString[T any](get func(T) string) Field[T] {
	return func(obj T) []string {
		if v := get(obj); v != "" {
			return []string{v}
		}
		return nil
	}
}

// Strings is a field with any number of values (nil: none).
func Strings[T any](get func(T) []string) Field[T] { return get }

// Schema describes the filters a Describe action supports for objects of type T.
type Schema[T any] struct {
	// Fields maps a filter name (e.g. "instance.group-id") to the object's values for
	// it. A filter matches an object when any of its patterns matches any value.
	Fields map[string]Field[T]
	// Single maps a filter name (e.g. "instance-state-name") to the object's one value,
	// possibly empty. It is Fields without the slice: matching allocates nothing, which
	// matters when a Describe scans thousands of objects. A name in Fields wins.
	Single map[string]func(T) string
	// Tags returns the object's tags. When it is set, the schema also supports
	// "tag:<key>" (the value of the tag <key>, taken literally), "tag-key" (any tag's
	// key) and "tag-value" (any tag's value). A name in Fields or Single wins.
	Tags func(T) map[string]string
}

type kind uint8

const (
	kindField    kind = iota
	kindSingle        // a Single field
	kindTag           // tag:<key>
	kindTagKey        // tag-key
	kindTagValue      // tag-value
)

// compiled is one filter of a Matcher.
type compiled[T any] struct {
	name   string
	kind   kind
	field  Field[T]
	single func(T) string
	tagKey string
	values *valueSet
}

// Matcher tests objects against compiled filters. The zero Matcher has no filters and
// matches everything.
type Matcher[T any] struct {
	filters []compiled[T]
	tags    func(T) map[string]string
}

// Compile validates fs against the schema and returns their matcher. An empty name, an
// unknown name, a filter without values and a request over EC2's limits are an *Error
// with code InvalidParameterValue.
func (s Schema[T]) Compile(fs []Filter) (Matcher[T], error) {
	if len(fs) > MaxFilters {
		return Matcher[T]{}, invalid("The maximum number of filters specified on a single call is %d", MaxFilters)
	}
	m := Matcher[T]{tags: s.Tags}
	for _, f := range fs {
		if f.Name == "" {
			return Matcher[T]{}, invalid("The filter '' is invalid")
		}
		c := compiled[T]{name: f.Name}
		if field := s.Fields[f.Name]; field != nil {
			c.kind, c.field = kindField, field
		} else if single := s.Single[f.Name]; single != nil {
			c.kind, c.single = kindSingle, single
		} else if s.Tags != nil && f.Name == "tag-key" {
			c.kind = kindTagKey
		} else if s.Tags != nil && f.Name == "tag-value" {
			c.kind = kindTagValue
		} else if key, ok := strings.CutPrefix(f.Name, "tag:"); ok && s.Tags != nil && key != "" {
			c.kind, c.tagKey = kindTag, key
		} else {
			return Matcher[T]{}, invalid("The filter '%s' is invalid", f.Name)
		}
		if len(f.Values) == 0 {
			return Matcher[T]{}, invalid("The filter '%s' is invalid", f.Name)
		}
		if len(f.Values) > MaxValues {
			return Matcher[T]{}, &Error{Code: CodeFilterLimitExceeded, Message: fmt.Sprintf("The maximum number of filter values specified on a single call is %d", MaxValues)}
		}
		for _, v := range f.Values {
			if len(v) > MaxValueLength {
				return Matcher[T]{}, &Error{Code: CodeFilterLimitExceeded, Message: fmt.Sprintf("The maximum length for a filter value is %d characters", MaxValueLength)}
			}
		}
		c.values = newValueSet(f.Values)
		m.filters = append(m.filters, c)
	}
	return m, nil
}

// Match reports whether obj satisfies every filter.
func (m Matcher[T]) Match(obj T) bool {
	for i := range m.filters {
		if !m.filters[i].match(obj, m.tags) {
			return false
		}
	}
	return true
}

func (c *compiled[T]) match(obj T, tags func(T) map[string]string) bool {
	switch c.kind {
	case kindField:
		for _, v := range c.field(obj) {
			if c.values.match(v) {
				return true
			}
		}
	case kindSingle:
		return c.values.match(c.single(obj))
	case kindTag:
		v, ok := tags(obj)[c.tagKey]
		return ok && c.values.match(v)
	case kindTagKey:
		for k := range tags(obj) {
			if c.values.match(k) {
				return true
			}
		}
	case kindTagValue:
		for _, v := range tags(obj) {
			if c.values.match(v) {
				return true
			}
		}
	}
	return false
}

// Exact returns the values of the filter with that name when the filter is present and
// none of its values has a wildcard (escapes removed), so that a caller can look the
// objects up in an index instead of scanning. When the name appears more than once the
// first is used: the result is then a superset, so the caller must still call Match on
// each object it finds.
func (m Matcher[T]) Exact(name string) ([]string, bool) {
	for i := range m.filters {
		if m.filters[i].name == name {
			return m.filters[i].values.exact()
		}
	}
	return nil, false
}

// Len is the number of filters.
func (m Matcher[T]) Len() int { return len(m.filters) }

// valueSet is the compiled values of one filter, any of which may match.
type valueSet struct {
	// literals holds the values without wildcards, in a map when there are enough of
	// them that hashing beats comparing (a request may list 200 instance IDs).
	literals   []string
	literalSet map[string]struct{}
	wild       []pattern
}

const literalSetThreshold = 8

func newValueSet(values []string) *valueSet {
	s := &valueSet{}
	for _, v := range values {
		p := compilePattern(v)
		if p.isLiteral() {
			s.literals = append(s.literals, p.literal)
		} else {
			s.wild = append(s.wild, p)
		}
	}
	if len(s.literals) > literalSetThreshold {
		s.literalSet = make(map[string]struct{}, len(s.literals))
		for _, l := range s.literals {
			s.literalSet[l] = struct{}{}
		}
	}
	return s
}

func (s *valueSet) match(v string) bool {
	if s.literalSet != nil {
		if _, ok := s.literalSet[v]; ok {
			return true
		}
	} else {
		for _, l := range s.literals {
			if v == l {
				return true
			}
		}
	}
	for i := range s.wild {
		if s.wild[i].match(v) {
			return true
		}
	}
	return false
}

func (s *valueSet) exact() ([]string, bool) {
	if len(s.wild) > 0 {
		return nil, false
	}
	return append([]string(nil), s.literals...), true
}
