package filter

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPatternMatch(t *testing.T) {
	tests := map[string]struct {
		pattern, value string
		want           bool
	}{
		"a literal matches itself":                                  {pattern: "running", value: "running", want: true},
		"a literal must match the whole value":                      {pattern: "run", value: "running"},
		"matching is case-sensitive":                                {pattern: "Running", value: "running"},
		"the empty pattern matches only the empty value":            {pattern: "", value: "", want: true},
		"the empty pattern does not match a value":                  {pattern: "", value: "x"},
		"a lone star matches the empty value":                       {pattern: "*", value: "", want: true},
		"a lone star matches anything":                              {pattern: "*", value: "anything at all", want: true},
		"a star matches an empty run":                               {pattern: "web*", value: "web", want: true},
		"a star matches any run":                                    {pattern: "web*", value: "web-server-01", want: true},
		"a star in the middle matches an empty run":                 {pattern: "a*b", value: "ab", want: true},
		"a leading star matches a suffix":                           {pattern: "*.micro", value: "t3.micro", want: true},
		"a leading star still needs the suffix at the end":          {pattern: "*.com", value: "a.com.org"},
		"stars on both sides find a substring":                      {pattern: "*server*", value: "web-server-01", want: true},
		"several stars backtrack to find their places":              {pattern: "*a*b*c", value: "xaybzc", want: true},
		"several stars still fail when the order is wrong":          {pattern: "*a*b*c", value: "xcybza"},
		"a star backtracks past a false start":                      {pattern: "*aab", value: "aaaab", want: true},
		"consecutive stars act as one":                              {pattern: "a**b", value: "axyzb", want: true},
		"a question mark matches exactly one character":             {pattern: "t?.micro", value: "t3.micro", want: true},
		"a question mark does not match two characters":             {pattern: "t?.micro", value: "t3a.micro"},
		"a question mark does not match an empty run":               {pattern: "t?", value: "t"},
		"a question mark matches one multi-byte character":          {pattern: "?", value: "ሴ", want: true},
		"two question marks do not match one multi-byte character":  {pattern: "??", value: "ሴ"},
		"a star and question marks count characters, not bytes":     {pattern: "*??", value: "ሴ"},
		"a question mark matches a byte that is not UTF-8":          {pattern: "a?c", value: "a\xffc", want: true},
		"an escaped star matches only a star":                       {pattern: `web\*`, value: "web*", want: true},
		"an escaped star does not match other characters":           {pattern: `web\*`, value: "web-1"},
		"an escaped question mark matches only a question mark":     {pattern: `why\?`, value: "why?", want: true},
		"an escaped question mark does not match another character": {pattern: `why\?`, value: "whyy"},
		"an escaped backslash matches one backslash":                {pattern: `C:\\dir`, value: `C:\dir`, want: true},
		"an escaped backslash does not match two":                   {pattern: `C:\\dir`, value: `C:\\dir`},
		"a trailing backslash is a literal backslash":               {pattern: `dir\`, value: `dir\`, want: true},
		"an escaped ordinary character is that character":           {pattern: `\a\b`, value: "ab", want: true},
		"an escaped multi-byte character is that character":         {pattern: `\ሴ`, value: "ሴ", want: true},
		"an escaped backslash before a star leaves the star wild":   {pattern: `a\\*`, value: `a\anything`, want: true},
		"a literal star in a value is matched by a star":            {pattern: "*", value: "*", want: true},
		"a wildcard pattern matches literal characters exactly":     {pattern: "i-*", value: "I-123"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := compilePattern(tc.pattern)
			if got := p.match(tc.value); got != tc.want {
				t.Errorf("%q matching %q = %v, want %v", tc.pattern, tc.value, got, tc.want)
			}
			if ref := referenceMatch(t, tc.pattern, tc.value); ref != tc.want {
				t.Errorf("the reference says %v: the table is wrong", ref)
			}
		})
	}
}

// referenceMatch is a straightforward implementation to compare with: the pattern
// turned into a regular expression, one character at a time.
func referenceMatch(t testing.TB, pattern, value string) bool {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pattern); {
		r, w := utf8.DecodeRuneInString(pattern[i:])
		i += w
		switch r {
		case '\\':
			if i < len(pattern) {
				r, w = utf8.DecodeRuneInString(pattern[i:])
				i += w
			}
			b.WriteString(regexp.QuoteMeta(string(r)))
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		t.Fatalf("reference regexp %q: %v", b.String(), err)
	}
	return re.MatchString(value)
}

// The glob matcher agrees with the regular expression reference on any pattern and value.
func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{
		{"web*", "web-server"}, {"*a*b*c", "xaybzc"}, {`\*\\?`, `*\x`}, {"?", "ሴ"}, {"*??", "ሴ"},
		{"a*", ""}, {"", ""}, {`dir\`, `dir\`}, {"**?*", "ab"}, {"a?c", "a\xffc"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		// First, so that long inputs all take the same path: otherwise each new length
		// looks like new coverage and the fuzzer spends its time minimizing them.
		if len(pattern) > 64 || len(value) > 256 {
			t.Skip("long inputs only slow the reference")
		}
		if !utf8.ValidString(pattern) {
			t.Skip("the reference cannot compile a pattern that is not UTF-8")
		}
		if !utf8.ValidString(value) && strings.ContainsRune(pattern, utf8.RuneError) {
			// regexp reads a stray byte as U+FFFD and would match a literal U+FFFD to it;
			// the matcher compares bytes, and only '?' and '*' take stray bytes.
			t.Skip("U+FFFD against bytes that are not UTF-8")
		}
		p := compilePattern(pattern)
		got, want := p.match(value), referenceMatch(t, pattern, value)
		if got != want {
			t.Fatalf("%q matching %q = %v, reference says %v", pattern, value, got, want)
		}
	})
}
