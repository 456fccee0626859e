package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// CanonicalURI is the canonical form of a request path as the client sent it (already
// percent-encoded, r.URL.EscapedPath()): every byte outside RFC 3986's unreserved set,
// '/' excepted, is encoded once more. That is what botocore and aws-sdk-go-v2 do for
// every service but S3, so "/a%20b" is signed as "/a%2520b". EC2's path is "/".
func CanonicalURI(escapedPath string) string {
	if escapedPath == "" {
		return "/"
	}
	return uriEncode(escapedPath, true)
}

// CanonicalQuery is the canonical query string of q: every name and value URI-encoded
// (RFC 3986, space as %20), the pairs sorted by encoded name and then encoded value,
// joined with '&'. A presigned request's X-Amz-Signature must be removed from q first.
func CanonicalQuery(q url.Values) string {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(q))
	for k, vs := range q {
		ek := uriEncode(k, false)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, uriEncode(v, false)})
		}
	}
	// The specification sorts after encoding, and the order can differ from sorting
	// before: "a/b" < "a-b" decoded, but "a%2Fb" < "a-b" encoded.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// CanonicalHeaders renders exactly the signed headers, in the order given, as
// "name:value\n" lines. host is the request's Host (Go moves it out of the header map).
// A header sent several times has its values joined with ','; each value is trimmed
// and its runs of spaces collapsed to one. A signed header that is absent is rendered
// with an empty value, so the signature will not match if the client had one.
func CanonicalHeaders(signed []string, h http.Header, host string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		if name == "host" {
			b.WriteString(canonicalValue(host))
		} else {
			values := h.Values(name)
			if len(values) == 0 {
				values = h[name] // a key that was not stored in canonical form
			}
			for i, v := range values {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(canonicalValue(v))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalValue trims v and collapses each run of spaces to one space.
func canonicalValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// CanonicalRequest joins the parts of a canonical request. canonicalHeaders is
// CanonicalHeaders' result (each line ends in '\n', hence the blank line that follows).
func CanonicalRequest(method, canonicalURI, canonicalQuery, canonicalHeaders string, signedHeaders []string, payloadHash string) string {
	return method + "\n" +
		canonicalURI + "\n" +
		canonicalQuery + "\n" +
		canonicalHeaders + "\n" +
		strings.Join(signedHeaders, ";") + "\n" +
		payloadHash
}

// StringToSign is what the signing key signs: the algorithm, X-Amz-Date, the credential
// scope (CredentialScope.Scope) and the hex SHA-256 of the canonical request.
func StringToSign(amzDate, scope, canonicalRequest string) string {
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + HashHex([]byte(canonicalRequest))
}

// SigningKey derives the key for one day, region and service from the secret.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, Terminator)
}

// Signature is the hex HMAC-SHA256 of the string to sign under the signing key.
func Signature(signingKey []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(signingKey, stringToSign))
}

// HashHex is the lower-case hex SHA-256 of b, the payload hash of a signed body.
func HashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - _ . ~) with upper-case hex; '/' too unless keepSlash.
func uriEncode(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && !(keepSlash && s[i] == '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xF])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}
