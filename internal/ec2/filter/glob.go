package filter

import (
	"strings"
	"unicode/utf8"
)

// A pattern is one compiled filter value. In a value, '*' matches any run of
// characters (the empty run too), '?' exactly one character, and '\' makes the next
// character literal ("\*" is a star, "\\" a backslash; a '\' at the very end is itself
// literal). Everything else matches itself, case-sensitively. A character is a UTF-8
// rune; a byte that is not valid UTF-8 counts as one character.
type pattern struct {
	// literal is the unescaped value when it has no wildcard; ops is then nil.
	literal string
	ops     []op
}

type opKind uint8

const (
	opLiteral opKind = iota // match lit exactly
	opOne                   // '?': match one character
	opStar                  // '*': match any run
)

type op struct {
	kind opKind
	lit  string
}

// compilePattern parses a filter value once, so that matching does no parsing.
func compilePattern(value string) pattern {
	var ops []op
	var lit strings.Builder
	wild := false
	flush := func() {
		if lit.Len() > 0 {
			ops = append(ops, op{kind: opLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\':
			if i+1 < len(value) {
				i++
			}
			// The escaped byte is literal; a multi-byte character's remaining bytes are
			// never special, so escaping its first byte escapes the character.
			lit.WriteByte(value[i])
		case '*':
			wild = true
			flush()
			if n := len(ops); n == 0 || ops[n-1].kind != opStar { // "**" is "*"
				ops = append(ops, op{kind: opStar})
			}
		case '?':
			wild = true
			flush()
			ops = append(ops, op{kind: opOne})
		default:
			lit.WriteByte(c)
		}
	}
	if !wild {
		return pattern{literal: lit.String()}
	}
	flush()
	return pattern{ops: ops}
}

// isLiteral reports whether the pattern has no wildcard.
func (p *pattern) isLiteral() bool { return p.ops == nil }

// match reports whether the whole of s matches. It walks s and the pattern once,
// remembering only the last star: when the rest fails, that star takes one more
// character and the rest is tried again. Earlier stars never need revisiting, because
// what lies between two stars matches at the leftmost place it can, so the time is
// O(len(s) × len(pattern)) at worst and nothing is allocated.
func (p *pattern) match(s string) bool {
	if p.ops == nil {
		return s == p.literal
	}
	ops := p.ops
	oi, si := 0, 0
	star, starSi := -1, 0 // the last star's op index and where its run ends in s
	for {
		if oi < len(ops) {
			switch o := ops[oi]; o.kind {
			case opStar:
				if oi == len(ops)-1 {
					return true // a trailing star takes the rest
				}
				star, starSi = oi, si
				oi++
				continue
			case opLiteral:
				if strings.HasPrefix(s[si:], o.lit) {
					si += len(o.lit)
					oi++
					continue
				}
			case opOne:
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					oi++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last star take one more character, if there is one.
		if star < 0 || starSi >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starSi:])
		starSi += w
		oi, si = star+1, starSi
	}
}
