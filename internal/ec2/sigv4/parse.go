package sigv4

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Constants of the Signature Version 4 protocol.
const (
	// Algorithm is the only signing algorithm accepted.
	Algorithm = "AWS4-HMAC-SHA256"
	// Terminator ends every credential scope.
	Terminator = "aws4_request"
	// TimeFormat is X-Amz-Date's basic ISO 8601 form.
	TimeFormat = "20060102T150405Z"
	// DateFormat is the date of a credential scope.
	DateFormat = "20060102"
	// UnsignedPayload stands in for the payload hash when the body is not signed.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// MaxExpires is the longest X-Amz-Expires accepted, in seconds (seven days).
	MaxExpires = 604800
)

// Query parameters of a presigned request.
const (
	QueryAlgorithm     = "X-Amz-Algorithm"
	QueryCredential    = "X-Amz-Credential"
	QueryDate          = "X-Amz-Date"
	QuerySignedHeaders = "X-Amz-SignedHeaders"
	QuerySignature     = "X-Amz-Signature"
	QueryExpires       = "X-Amz-Expires"
)

// Headers this package reads.
const (
	HeaderAuthorization = "Authorization"
	HeaderDate          = "X-Amz-Date"
	HeaderContentSHA256 = "X-Amz-Content-Sha256"
)

// CredentialScope is a parsed credential: "AKID/20150830/us-east-1/ec2/aws4_request".
type CredentialScope struct {
	AccessKeyID string
	Date        string // YYYYMMDD
	Region      string
	Service     string
	Terminator  string
}

// Scope is the credential without the access key ID, as it appears in the string to sign.
func (c CredentialScope) Scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + c.Terminator
}

// Authorization is what a request claims about its signature: from the Authorization
// header, or from the X-Amz-* query parameters of a presigned request.
type Authorization struct {
	Credential    CredentialScope
	SignedHeaders []string
	// Signature is 64 lower- or upper-case hex digits; ParseSignature checked them.
	Signature string
}

// Presigned is the authorization of a presigned (query string) request.
type Presigned struct {
	Authorization
	// Date is X-Amz-Date, not yet parsed (ParseAmzDate does that).
	Date string
	// Expires is X-Amz-Expires; zero when the parameter is absent, which aws-sdk-go-v2's
	// EC2 presigner (CopySnapshot's PresignedUrl) does not set.
	Expires time.Duration
}

// ParseCredentialScope parses "AKID/YYYYMMDD/region/service/aws4_request". It checks the
// shape only; CheckScope compares the parts with what the server accepts.
func ParseCredentialScope(s string) (CredentialScope, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 {
		return CredentialScope{}, newError(CodeIncompleteSignature, fmt.Sprintf(
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", s))
	}
	if parts[0] == "" {
		return CredentialScope{}, newError(CodeIncompleteSignature, fmt.Sprintf("Credential '%s' has an empty access key ID", s))
	}
	return CredentialScope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3], Terminator: parts[4]}, nil
}

// ParseSignedHeaders splits "host;x-amz-date" into its names. The names are kept as
// given: they go into the canonical request verbatim, so a client that lists them out of
// order or in upper case simply fails to match.
func ParseSignedHeaders(s string) ([]string, error) {
	if s == "" {
		return nil, newError(CodeIncompleteSignature, "SignedHeaders is empty")
	}
	names := strings.Split(s, ";")
	for _, n := range names {
		if n == "" {
			return nil, newError(CodeIncompleteSignature, fmt.Sprintf("SignedHeaders '%s' has an empty header name", s))
		}
	}
	return names, nil
}

// ParseSignature checks that s is a hex-encoded SHA-256 HMAC.
func ParseSignature(s string) (string, error) {
	if len(s) != 64 {
		return "", newError(CodeIncompleteSignature, fmt.Sprintf("Signature must be 64 hexadecimal characters, got %d characters", len(s)))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", newError(CodeIncompleteSignature, "Signature must be 64 hexadecimal characters")
	}
	return s, nil
}

// ParseAmzDate parses X-Amz-Date, which must be basic ISO 8601 in UTC (20150830T123600Z).
func ParseAmzDate(s string) (time.Time, error) {
	// time.Parse accepts a fractional second after the seconds even when the layout has
	// none; the length check rejects it, so one instant has one spelling.
	t, err := time.Parse(TimeFormat, s)
	if err != nil || len(s) != len(TimeFormat) {
		return time.Time{}, newError(CodeIncompleteSignature, fmt.Sprintf(
			"X-Amz-Date '%s' is not in the basic ISO 8601 format YYYYMMDD'T'HHMMSS'Z'", s))
	}
	return t, nil
}

// ParseAuthorization parses an Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=...
func ParseAuthorization(header string) (Authorization, error) {
	header = strings.TrimSpace(header)
	algorithm, params, _ := strings.Cut(header, " ")
	if algorithm != Algorithm {
		return Authorization{}, newError(CodeIncompleteSignature, fmt.Sprintf(
			"Unsupported AWS 'algorithm': '%s'; only %s is accepted", algorithm, Algorithm))
	}
	// Each parameter is kept with whether it was present, so that a duplicate is caught
	// and every missing one is named, in AWS's order.
	type param struct {
		name  string
		value string
		seen  bool
	}
	credential, signature, signedHeaders := param{name: "Credential"}, param{name: "Signature"}, param{name: "SignedHeaders"}
	if strings.TrimSpace(params) != "" {
		for _, part := range strings.Split(params, ",") {
			part = strings.TrimSpace(part)
			key, value, ok := strings.Cut(part, "=")
			if !ok {
				return Authorization{}, newError(CodeIncompleteSignature, fmt.Sprintf(
					"'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, header))
			}
			var p *param
			switch key {
			case credential.name:
				p = &credential
			case signature.name:
				p = &signature
			case signedHeaders.name:
				p = &signedHeaders
			default:
				continue // AWS tolerates parameters it does not know
			}
			if p.seen {
				return Authorization{}, newError(CodeIncompleteSignature, fmt.Sprintf(
					"Authorization header has more than one '%s' parameter", key))
			}
			p.value, p.seen = value, true
		}
	}
	var missing []string
	for _, p := range []param{credential, signature, signedHeaders} {
		if !p.seen {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", p.name))
		}
	}
	if len(missing) > 0 {
		return Authorization{}, newError(CodeIncompleteSignature, strings.Join(missing, " ")+" Authorization="+header)
	}
	return parseParts(credential.value, signedHeaders.value, signature.value)
}

func parseParts(credential, signedHeaders, signature string) (Authorization, error) {
	c, err := ParseCredentialScope(credential)
	if err != nil {
		return Authorization{}, err
	}
	names, err := ParseSignedHeaders(signedHeaders)
	if err != nil {
		return Authorization{}, err
	}
	sig, err := ParseSignature(signature)
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{Credential: c, SignedHeaders: names, Signature: sig}, nil
}

// ParsePresigned reads the X-Amz-* parameters of a presigned request from its query.
func ParsePresigned(q url.Values) (Presigned, error) {
	get := func(name string) (string, bool, error) {
		vs, ok := q[name]
		if !ok {
			return "", false, nil
		}
		if len(vs) != 1 {
			return "", true, newError(CodeIncompleteSignature, fmt.Sprintf("Query parameter %s appears %d times", name, len(vs)))
		}
		return vs[0], true, nil
	}
	required := []string{QueryAlgorithm, QueryCredential, QuerySignature, QuerySignedHeaders, QueryDate}
	values := make(map[string]string, len(required))
	var missing []string
	for _, name := range required {
		v, ok, err := get(name)
		if err != nil {
			return Presigned{}, err
		}
		if !ok {
			missing = append(missing, name)
			continue
		}
		values[name] = v
	}
	if len(missing) > 0 {
		return Presigned{}, newError(CodeIncompleteSignature, fmt.Sprintf(
			"A presigned request requires the query parameters %s; missing: %s",
			strings.Join(required, ", "), strings.Join(missing, ", ")))
	}
	if a := values[QueryAlgorithm]; a != Algorithm {
		return Presigned{}, newError(CodeIncompleteSignature, fmt.Sprintf(
			"Unsupported AWS 'algorithm': '%s'; only %s is accepted", a, Algorithm))
	}
	auth, err := parseParts(values[QueryCredential], values[QuerySignedHeaders], values[QuerySignature])
	if err != nil {
		return Presigned{}, err
	}
	p := Presigned{Authorization: auth, Date: values[QueryDate]}
	raw, ok, err := get(QueryExpires)
	if err != nil {
		return Presigned{}, err
	}
	if ok {
		secs, err := strconv.Atoi(raw)
		if err != nil || secs < 1 || secs > MaxExpires || strings.HasPrefix(raw, "+") {
			return Presigned{}, newError(CodeIncompleteSignature, fmt.Sprintf(
				"X-Amz-Expires must be a whole number of seconds from 1 to %d, got '%s'", MaxExpires, raw))
		}
		p.Expires = time.Duration(secs) * time.Second
	}
	return p, nil
}
