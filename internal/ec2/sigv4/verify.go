// Package sigv4 verifies AWS Signature Version 4 on requests to the EC2 endpoint, signed
// in the Authorization header or presigned in the query string.
//
// Parsing (ParseAuthorization, ParsePresigned, ParseCredentialScope, ...) and checking
// (CheckScope, CheckTime, PayloadHashes, CanonicalRequest, StringToSign, SigningKey,
// Signature) are small pure functions; Verifier.Verify strings them together.
package sigv4

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxSkew is how far X-Amz-Date may be from the server's clock, as on EC2.
const DefaultMaxSkew = 15 * time.Minute

// Credentials is what the key store returns for an access key ID.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Lookup finds the secret of an access key. It returns ErrUnknownKey (wrapped or not)
// when there is none; any other error is an internal failure and is passed on.
type Lookup func(ctx context.Context, accessKeyID string) (Credentials, error)

// Verifier checks the signatures of requests to one region and service.
type Verifier struct {
	// Region is the only region accepted in the credential scope, e.g. "koala-1".
	Region string
	// Service is the only service accepted in the credential scope: "ec2".
	Service string
	// MaxSkew is how far X-Amz-Date may be from Now; zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// Lookup finds secrets. It is required.
	Lookup Lookup
}

// Verify checks r, whose body has already been read into body (Verify does not touch
// r.Body), and returns the access key ID that signed it. A request that fails
// authentication gets an *Error carrying the EC2 error code; any other error (a
// failing Lookup) is an internal failure.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (accessKeyID string, err error) {
	if v.Lookup == nil {
		return "", errors.New("sigv4: Verifier.Lookup is nil")
	}
	authHeaders := r.Header.Values(HeaderAuthorization)
	query, queryErr := url.ParseQuery(r.URL.RawQuery)
	presigned := query.Has(QueryAlgorithm)
	switch {
	case len(authHeaders) == 0 && !presigned:
		return "", newError(CodeMissingAuthenticationToken, msgMissingToken)
	case len(authHeaders) > 0 && presigned:
		return "", newError(CodeIncompleteSignature,
			"Only one authentication mechanism may be used: the Authorization header or the X-Amz-Algorithm query parameter, not both")
	case len(authHeaders) > 1:
		return "", newError(CodeIncompleteSignature, "The request has more than one Authorization header")
	}
	if queryErr != nil {
		// What is signed must be what the server later reads; a query that Go's parser
		// only partly understands cannot be both.
		return "", newError(CodeIncompleteSignature, fmt.Sprintf("The query string is malformed: %v", queryErr))
	}

	var (
		auth    Authorization
		amzDate string
		expires time.Duration
	)
	if presigned {
		p, err := ParsePresigned(query)
		if err != nil {
			return "", err
		}
		auth, amzDate, expires = p.Authorization, p.Date, p.Expires
		// The signature cannot sign itself.
		query = withoutKey(query, QuerySignature)
	} else {
		if auth, err = ParseAuthorization(authHeaders[0]); err != nil {
			return "", err
		}
		if amzDate = r.Header.Get(HeaderDate); amzDate == "" {
			return "", newError(CodeIncompleteSignature,
				"Authorization header requires existence of a 'X-Amz-Date' header. Authorization="+authHeaders[0])
		}
	}
	signedAt, err := ParseAmzDate(amzDate)
	if err != nil {
		return "", err
	}
	if err := CheckScope(auth.Credential, amzDate, v.Region, v.Service); err != nil {
		return "", err
	}
	if err := CheckTime(signedAt, v.now(), v.maxSkew(), expires); err != nil {
		return "", err
	}
	if !slices.Contains(auth.SignedHeaders, "host") {
		return "", newError(CodeAuthFailure, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}

	claimed := r.Header.Get(HeaderContentSHA256)
	if claimed == "" && presigned {
		claimed = query.Get(HeaderContentSHA256)
	}
	hashes, err := PayloadHashes(claimed, body, presigned)
	if err != nil {
		return "", err
	}

	creds, err := v.Lookup(ctx, auth.Credential.AccessKeyID)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return "", newError(CodeAuthFailure, msgUnknownKey)
	case err != nil:
		return "", fmt.Errorf("sigv4: looking up access key %q: %w", auth.Credential.AccessKeyID, err)
	case creds.SecretAccessKey == "":
		return "", fmt.Errorf("sigv4: the key store returned an empty secret for access key %q", auth.Credential.AccessKeyID)
	}

	want, err := hex.DecodeString(auth.Signature)
	if err != nil { // ParseSignature checked it; kept so a bad value can never match
		return "", newError(CodeIncompleteSignature, "Signature is not hexadecimal")
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	uri := CanonicalURI(r.URL.EscapedPath())
	canonicalQuery := CanonicalQuery(query)
	headers := CanonicalHeaders(auth.SignedHeaders, headerView(r, auth.SignedHeaders), host)
	c := auth.Credential
	key := SigningKey(creds.SecretAccessKey, c.Date, c.Region, c.Service)
	for _, hash := range hashes {
		cr := CanonicalRequest(r.Method, uri, canonicalQuery, headers, auth.SignedHeaders, hash)
		got := hmacSHA256(key, StringToSign(amzDate, c.Scope(), cr))
		if hmac.Equal(got, want) {
			return c.AccessKeyID, nil
		}
	}
	return "", newError(CodeAuthFailure, msgBadSignature)
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

// CheckScope compares a credential scope with the request's X-Amz-Date and the region
// and service the server accepts.
func CheckScope(c CredentialScope, amzDate, region, service string) error {
	date := amzDate
	if len(date) > len(DateFormat) {
		date = date[:len(DateFormat)]
	}
	switch {
	case c.Date != date:
		return newError(CodeAuthFailure, fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from 'X-Amz-Date'.", c.Date, date))
	case c.Region != region:
		return newError(CodeAuthFailure, fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", c.Region))
	case c.Service != service:
		return newError(CodeAuthFailure, fmt.Sprintf("Credential should be scoped to correct service: '%s'.", service))
	case c.Terminator != Terminator:
		return newError(CodeAuthFailure, fmt.Sprintf(
			"Credential should be scoped with a valid terminator: '%s', not '%s'.", Terminator, c.Terminator))
	}
	return nil
}

// CheckTime decides whether a request signed at signedAt is still valid at now. Without
// X-Amz-Expires (expires zero) the request must be within maxSkew of now either way;
// a presigned request with X-Amz-Expires is valid from maxSkew before signedAt until
// signedAt+expires.
func CheckTime(signedAt, now time.Time, maxSkew, expires time.Duration) error {
	at, server := signedAt.UTC().Format(TimeFormat), now.UTC().Format(TimeFormat)
	if signedAt.Sub(now) > maxSkew {
		return newError(CodeRequestExpired, fmt.Sprintf(
			"%s X-Amz-Date %s is more than %v ahead of the server time %s.", msgExpiredPrefix, at, maxSkew, server))
	}
	if expires == 0 {
		if now.Sub(signedAt) > maxSkew {
			return newError(CodeRequestExpired, fmt.Sprintf(
				"%s X-Amz-Date %s is more than %v behind the server time %s.", msgExpiredPrefix, at, maxSkew, server))
		}
		return nil
	}
	if until := signedAt.Add(expires); now.After(until) {
		return newError(CodeRequestExpired, fmt.Sprintf(
			"%s It was valid until %s (X-Amz-Date plus X-Amz-Expires); the server time is %s.",
			msgExpiredPrefix, until.UTC().Format(TimeFormat), server))
	}
	return nil
}

// PayloadHashes returns the payload hashes to try in the canonical request. claimed
// is X-Amz-Content-Sha256 ("" when absent).
//
// A claimed hash must be the body's: trusting it blindly would leave the body, which
// holds EC2's parameters, unsigned. UNSIGNED-PAYLOAD is accepted only without a body.
// Without a claim, the body's hash is used (botocore and aws-sdk-go-v2's EC2 client send
// none); a presigned request with no body may also have been signed with
// UNSIGNED-PAYLOAD, as S3-style presigners do, so both are tried.
func PayloadHashes(claimed string, body []byte, presigned bool) ([]string, error) {
	actual := HashHex(body)
	switch {
	case claimed == "":
		if presigned && len(body) == 0 {
			return []string{actual, UnsignedPayload}, nil
		}
		return []string{actual}, nil
	case claimed == UnsignedPayload:
		if len(body) > 0 {
			return nil, newError(CodeAuthFailure,
				"X-Amz-Content-Sha256 UNSIGNED-PAYLOAD is not accepted for a request with a body: the parameters in the body must be signed.")
		}
		return []string{UnsignedPayload}, nil
	case len(claimed) == 64 && isHex(claimed):
		if !strings.EqualFold(claimed, actual) {
			return nil, newError(CodeAuthFailure, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		// Verbatim: the client signed the value it sent.
		return []string{claimed}, nil
	default:
		return nil, newError(CodeIncompleteSignature, fmt.Sprintf(
			"X-Amz-Content-Sha256 '%s' is not supported: it must be the hex SHA-256 of the body or UNSIGNED-PAYLOAD.", claimed))
	}
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// headerView is r's header as the client signed it. Go keeps Content-Length out of the
// header map of requests it builds (aws-sdk-go-v2 signs it from r.ContentLength), so it
// is put back when it is signed but missing.
func headerView(r *http.Request, signed []string) http.Header {
	if !slices.Contains(signed, "content-length") || r.Header.Get("Content-Length") != "" || r.ContentLength < 0 {
		return r.Header
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	return h
}

// withoutKey returns a copy of q without the parameter name.
func withoutKey(q url.Values, name string) url.Values {
	out := make(url.Values, len(q))
	for k, vs := range q {
		if k != name {
			out[k] = vs
		}
	}
	return out
}
