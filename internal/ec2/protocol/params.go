package protocol

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/koala-dev/koala/internal/ec2/filter"
)

// Params are the parameters of one EC2 Query request. Reading a parameter marks it as
// used; whatever a handler never read is reported by Unused, so that a misspelt or
// unsupported parameter is refused (UnknownParameter) rather than silently ignored.
//
// EC2 lists are Name.N (1-based, no ".member."), structures Name.Field, lists of
// structures Name.N.Field.
type Params struct {
	values map[string]string
	used   map[string]struct{}
	prefix string // "" at the top; "Filter.1." inside a structure
}

// maxParams bounds the number of parameters of one request; the body limit bounds
// their size.
const maxParams = 10000

// ParseQuery parses an application/x-www-form-urlencoded body or a URL query string.
// It is strict where url.ParseQuery is lenient: a parameter given twice, a bad escape,
// or a name or value that is not valid UTF-8 is an error.
func ParseQuery(raw string) (*Params, error) {
	p := &Params{values: map[string]string{}, used: map[string]struct{}{}}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, Errorf(CodeMalformedQueryString, "The query string contains a malformed parameter name: %q", truncate(k, 64))
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, Errorf(CodeMalformedQueryString, "The value of parameter %s is not properly URL-encoded", printable(key))
		}
		if key == "" {
			return nil, Errorf(CodeMalformedQueryString, "The query string contains a parameter without a name")
		}
		if !utf8.ValidString(key) || !isPrintableASCII(key) {
			return nil, Errorf(CodeMalformedQueryString, "Parameter names must be printable ASCII: %q", truncate(key, 64))
		}
		if !utf8.ValidString(val) {
			return nil, Errorf(CodeInvalidParameterValue, "The value of parameter %s is not valid UTF-8", key)
		}
		if _, dup := p.values[key]; dup {
			return nil, Errorf(CodeInvalidParameterValue, "The parameter %s is specified more than once", key)
		}
		if len(p.values) >= maxParams {
			return nil, Errorf(CodeInvalidRequest, "The request has more than %d parameters", maxParams)
		}
		p.values[key] = val
	}
	return p, nil
}

// FromValues builds Params from a map (tests and callers that already parsed).
func FromValues(values map[string]string) *Params {
	v := make(map[string]string, len(values))
	for k, s := range values {
		v[k] = s
	}
	return &Params{values: v, used: map[string]struct{}{}}
}

func (p *Params) key(name string) string { return p.prefix + name }

// Has reports whether the parameter is present, without marking it used.
func (p *Params) Has(name string) bool {
	_, ok := p.values[p.key(name)]
	return ok
}

// String returns a parameter and whether it was present.
func (p *Params) String(name string) (string, bool) {
	k := p.key(name)
	v, ok := p.values[k]
	if ok {
		p.used[k] = struct{}{}
	}
	return v, ok
}

// Required returns a parameter that must be present and non-empty.
func (p *Params) Required(name string) (string, error) {
	v, ok := p.String(name)
	if !ok || v == "" {
		return "", MissingParameter(p.key(name))
	}
	return v, nil
}

// Int returns an integer parameter; a value that is not an integer in [min, max] is an
// InvalidParameterValue.
func (p *Params) Int(name string, min, max int64) (int64, bool, error) {
	v, ok := p.String(name)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, true, Errorf(CodeInvalidParameterValue, "Invalid value '%s' for %s: an integer is expected", truncate(v, 64), p.key(name))
	}
	if n < min || n > max {
		return 0, true, Errorf(CodeInvalidParameterValue, "Invalid value '%d' for %s: it must be between %d and %d", n, p.key(name), min, max)
	}
	return n, true, nil
}

// Bool returns a boolean parameter ("true" or "false", in any case).
func (p *Params) Bool(name string) (bool, bool, error) {
	v, ok := p.String(name)
	if !ok {
		return false, false, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, Errorf(CodeInvalidParameterValue, "Invalid value '%s' for %s: true or false is expected", truncate(v, 64), p.key(name))
}

// indexed returns, in index order, the distinct N of the keys "name.N" or "name.N.rest".
func (p *Params) indexed(name string) ([]int, error) {
	base := p.key(name) + "."
	seen := map[int]string{}
	for k := range p.values {
		rest, ok := strings.CutPrefix(k, base)
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil || n < 1 || strconv.Itoa(n) != idx {
			// Not a list member; left unread, it is reported as unknown.
			continue
		}
		seen[n] = idx
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

// Strings returns the list name.1, name.2, ... in index order (gaps are allowed, as in
// EC2). An absent list is empty.
func (p *Params) Strings(name string) ([]string, error) {
	idx, err := p.indexed(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(idx))
	for _, n := range idx {
		k := p.key(name) + "." + strconv.Itoa(n)
		v, ok := p.values[k]
		if !ok {
			// Only name.N.Field keys: this is a list of structures, not of strings.
			continue
		}
		p.used[k] = struct{}{}
		out = append(out, v)
	}
	return out, nil
}

// Structs returns the members name.1, name.2, ... of a list of structures, each a view
// whose parameters are the member's fields.
func (p *Params) Structs(name string) ([]*Params, error) {
	idx, err := p.indexed(name)
	if err != nil {
		return nil, err
	}
	out := make([]*Params, 0, len(idx))
	for _, n := range idx {
		out = append(out, &Params{values: p.values, used: p.used, prefix: p.key(name) + "." + strconv.Itoa(n) + "."})
	}
	return out, nil
}

// Struct returns the structure name.Field..., and whether any of its fields is present.
func (p *Params) Struct(name string) (*Params, bool) {
	sub := &Params{values: p.values, used: p.used, prefix: p.key(name) + "."}
	for k := range p.values {
		if strings.HasPrefix(k, sub.prefix) {
			return sub, true
		}
	}
	return sub, false
}

// Remove deletes parameters, so that no handler reads them, reports them unknown or
// binds a pagination token to them.
func (p *Params) Remove(names ...string) {
	for _, name := range names {
		delete(p.values, p.key(name))
		delete(p.used, p.key(name))
	}
}

// Values returns every parameter's value, in no order (the audit log picks the
// resource IDs out of them).
func (p *Params) Values() []string {
	out := make([]string, 0, len(p.values))
	for _, v := range p.values {
		out = append(out, v)
	}
	return out
}

// Path is the full parameter name of a field of this view, for error messages.
func (p *Params) Path(name string) string { return p.key(name) }

// Unused returns the parameters nobody read, sorted.
func (p *Params) Unused() []string {
	var out []string
	for k := range p.values {
		if _, ok := p.used[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// CheckUnused answers UnknownParameter for the first parameter nobody read.
func (p *Params) CheckUnused() error {
	if u := p.Unused(); len(u) > 0 {
		return Errorf(CodeUnknownParameter, "The parameter %s is not recognized", printable(u[0]))
	}
	return nil
}

// Filter is one Filter.N of a Describe call: a name and its values, as the filter
// package evaluates it.
type Filter = filter.Filter

// Filters reads Filter.N.Name and Filter.N.Value.M.
func (p *Params) Filters() ([]Filter, error) {
	members, err := p.Structs("Filter")
	if err != nil {
		return nil, err
	}
	out := make([]Filter, 0, len(members))
	for _, m := range members {
		name, ok := m.String("Name")
		if !ok || name == "" {
			return nil, MissingParameter(m.Path("Name"))
		}
		values, err := m.Strings("Value")
		if err != nil {
			return nil, err
		}
		out = append(out, Filter{Name: name, Values: values})
	}
	return out, nil
}

// Canonical is a stable rendering of the parameters except those named, used to bind a
// pagination token to the request that it continues.
func (p *Params) Canonical(except ...string) string {
	skip := map[string]bool{}
	for _, e := range except {
		skip[e] = true
	}
	keys := make([]string, 0, len(p.values))
	for k := range p.values {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.values[k]))
		b.WriteByte('&')
	}
	return b.String()
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// printable makes a client-supplied name safe to echo in a message.
func printable(s string) string {
	s = truncate(s, 128)
	if isPrintableASCII(s) {
		return s
	}
	return strconv.Quote(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the message stays valid UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
