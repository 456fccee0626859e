package sigv4

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Koala's own settings, for the end-to-end tests.
const (
	koalaRegion = "koala-1"
	koalaHost   = "ec2.koala.test:8787"
	koalaKeyID  = "AKIAKOALA0000000001"
	koalaSecret = "koala/secret+key/0000000000000000000000"
	formBody    = "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=web%2A"
	formType    = "application/x-www-form-urlencoded; charset=utf-8"
)

var serverTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func koalaVerifier(now time.Time) *Verifier {
	return &Verifier{
		Region:  koalaRegion,
		Service: "ec2",
		MaxSkew: 15 * time.Minute,
		Now:     func() time.Time { return now },
		Lookup:  keys(map[string]string{koalaKeyID: koalaSecret}),
	}
}

// signing says how a test request is signed by aws-sdk-go-v2's signer.
type signing struct {
	method, target, body string
	header               http.Header
	keyID, secret        string
	region, service      string
	at                   time.Time
	// contentSHA256 sends X-Amz-Content-Sha256 with the payload hash, as S3 clients do.
	contentSHA256 bool
	// payloadHash overrides the hash of the body given to the signer.
	payloadHash string
	// presign signs in the query string; expires sets X-Amz-Expires (0: none).
	presign bool
	expires int
}

func defaultSigning() signing {
	return signing{
		method: "POST", target: "/", body: formBody,
		header: http.Header{"Content-Type": {formType}},
		keyID:  koalaKeyID, secret: koalaSecret, region: koalaRegion, service: "ec2", at: serverTime,
	}
}

// sign builds the request a client would send and returns it as the server reads it off
// the wire, with its body.
func sign(t testing.TB, s signing) (*http.Request, []byte) {
	t.Helper()
	req, err := http.NewRequest(s.method, "http://"+koalaHost+s.target, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	if s.body == "" {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	for k, vs := range s.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	hash := HashHex([]byte(s.body))
	if s.payloadHash != "" {
		hash = s.payloadHash
	}
	if s.contentSHA256 {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	creds := aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}
	signer := v4.NewSigner()
	if s.presign {
		if s.expires > 0 {
			q := req.URL.Query()
			q.Set("X-Amz-Expires", strconv.Itoa(s.expires))
			req.URL.RawQuery = q.Encode()
		}
		signed, headers, err := signer.PresignHTTP(context.Background(), creds, req, hash, s.service, s.region, s.at)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		req.URL = u
		for k, vs := range headers {
			if k != "Host" {
				req.Header[k] = vs
			}
		}
	} else if err := signer.SignHTTP(context.Background(), creds, req, hash, s.service, s.region, s.at); err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	return readRequest(t, wire.Bytes())
}

func TestVerify(t *testing.T) {
	tests := map[string]struct {
		signing  func(*signing)
		tamper   func(r *http.Request, body *[]byte)
		now      time.Time // zero: serverTime
		wantCode string
		wantMsg  string
	}{
		"a form POST signed as aws-sdk-go-v2's EC2 client signs it verifies": {},
		"a form POST that also sends X-Amz-Content-Sha256 verifies": {
			signing: func(s *signing) { s.contentSHA256 = true },
		},
		"a GET with the parameters in the query verifies": {
			signing: func(s *signing) { s.method, s.target, s.body, s.header = "GET", "/?"+formBody, "", nil },
		},
		"a presigned GET with the empty body's hash verifies": {
			signing: func(s *signing) {
				s.method, s.target, s.body, s.header, s.presign, s.expires = "GET", "/?"+formBody, "", nil, true, 300
			},
		},
		"a presigned GET signed with UNSIGNED-PAYLOAD verifies": {
			signing: func(s *signing) {
				s.method, s.target, s.body, s.header, s.presign, s.expires = "GET", "/?"+formBody, "", nil, true, 300
				s.payloadHash = UnsignedPayload
			},
		},
		"a presigned GET without X-Amz-Expires verifies within the skew": {
			signing: func(s *signing) {
				s.method, s.target, s.body, s.header, s.presign = "GET", "/?"+formBody, "", nil, true
			},
			now: serverTime.Add(15 * time.Minute),
		},
		"a presigned GET is valid until X-Amz-Date plus X-Amz-Expires": {
			signing: func(s *signing) {
				s.method, s.target, s.body, s.header, s.presign, s.expires = "GET", "/?"+formBody, "", nil, true, 3600
			},
			now: serverTime.Add(time.Hour),
		},
		"a presigned GET past its expiry has expired": {
			signing: func(s *signing) {
				s.method, s.target, s.body, s.header, s.presign, s.expires = "GET", "/?"+formBody, "", nil, true, 3600
			},
			now: serverTime.Add(time.Hour + time.Second), wantCode: CodeRequestExpired, wantMsg: "Request has expired.",
		},
		"a presigned POST whose body is signed verifies": {
			signing: func(s *signing) { s.presign, s.expires = true, 60 },
		},
		"a path with an escaped space verifies, encoded twice as the SDKs do": {
			signing: func(s *signing) { s.target = "/a%20b/" },
		},
		"the host's port is part of the signature": {
			tamper:   func(r *http.Request, _ *[]byte) { r.Host = "ec2.koala.test:8788" },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"skew just inside 15 minutes behind the server is accepted": {
			now: serverTime.Add(15 * time.Minute),
		},
		"skew just inside 15 minutes ahead of the server is accepted": {
			now: serverTime.Add(-15 * time.Minute),
		},
		"skew just outside 15 minutes behind the server has expired": {
			now: serverTime.Add(15*time.Minute + time.Second), wantCode: CodeRequestExpired, wantMsg: "Request has expired. X-Amz-Date 20260314T150926Z is more than 15m0s behind",
		},
		"skew just outside 15 minutes ahead of the server has expired": {
			now: serverTime.Add(-15*time.Minute - time.Second), wantCode: CodeRequestExpired, wantMsg: "ahead of the server time",
		},
		"a request without any signature is missing its token": {
			tamper: func(r *http.Request, _ *[]byte) {
				r.Header.Del("Authorization")
			},
			wantCode: CodeMissingAuthenticationToken, wantMsg: "Request is missing Authentication Token",
		},
		"an Authorization header without Signature is incomplete": {
			tamper: func(r *http.Request, _ *[]byte) {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			},
			wantCode: CodeIncompleteSignature, wantMsg: "requires 'Signature' parameter",
		},
		"another algorithm is incomplete": {
			tamper: func(r *http.Request, _ *[]byte) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1))
			},
			wantCode: CodeIncompleteSignature, wantMsg: "AWS4-HMAC-SHA512",
		},
		"a request without X-Amz-Date is incomplete": {
			tamper:   func(r *http.Request, _ *[]byte) { r.Header.Del("X-Amz-Date") },
			wantCode: CodeIncompleteSignature, wantMsg: "X-Amz-Date",
		},
		"an X-Amz-Date in another format is incomplete": {
			tamper:   func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Date", "2026-03-14T15:09:26Z") },
			wantCode: CodeIncompleteSignature, wantMsg: "basic ISO 8601",
		},
		"two Authorization headers are refused": {
			tamper:   func(r *http.Request, _ *[]byte) { r.Header.Add("Authorization", r.Header.Get("Authorization")) },
			wantCode: CodeIncompleteSignature, wantMsg: "more than one Authorization header",
		},
		"a header signature and a query signature together are refused": {
			tamper:   func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" },
			wantCode: CodeIncompleteSignature, wantMsg: "Only one authentication mechanism",
		},
		"a malformed query string is refused": {
			tamper:   func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "Action=%zz" },
			wantCode: CodeIncompleteSignature, wantMsg: "query string is malformed",
		},
		"a scope dated another day fails": {
			signing:  func(s *signing) { s.at = serverTime.Add(-24 * time.Hour) },
			tamper:   func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Date", "20260314T150926Z") },
			wantCode: CodeAuthFailure, wantMsg: "'20260313' != '20260314'",
		},
		"a scope for another region fails": {
			signing:  func(s *signing) { s.region = "us-west-2" },
			wantCode: CodeAuthFailure, wantMsg: "Credential should be scoped to a valid region, not 'us-west-2'.",
		},
		"a scope for another service fails": {
			signing:  func(s *signing) { s.service = "s3" },
			wantCode: CodeAuthFailure, wantMsg: "Credential should be scoped to correct service: 'ec2'.",
		},
		"a scope with another terminator fails": {
			tamper: func(r *http.Request, _ *[]byte) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "/aws5_request", 1))
			},
			wantCode: CodeAuthFailure, wantMsg: "valid terminator: 'aws4_request', not 'aws5_request'",
		},
		"an unknown access key fails": {
			signing:  func(s *signing) { s.keyID = "AKIAUNKNOWN" },
			wantCode: CodeAuthFailure, wantMsg: msgUnknownKey,
		},
		"a signature made with the wrong secret fails": {
			signing:  func(s *signing) { s.secret = "not-the-secret" },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"a signature that leaves out host fails": {
			tamper: func(r *http.Request, _ *[]byte) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
			},
			wantCode: CodeAuthFailure, wantMsg: "'Host' must be a 'SignedHeader'",
		},
		"a tampered body fails": {
			tamper:   func(_ *http.Request, body *[]byte) { *body = bytes.Replace(*body, []byte("web"), []byte("db"), 1) },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"a body that no longer matches its X-Amz-Content-Sha256 fails": {
			signing:  func(s *signing) { s.contentSHA256 = true },
			tamper:   func(_ *http.Request, body *[]byte) { *body = append(*body, '&') },
			wantCode: CodeAuthFailure, wantMsg: "x-amz-content-sha256",
		},
		"UNSIGNED-PAYLOAD with a body fails": {
			signing:  func(s *signing) { s.contentSHA256, s.payloadHash = true, UnsignedPayload },
			wantCode: CodeAuthFailure, wantMsg: "UNSIGNED-PAYLOAD is not accepted",
		},
		"a tampered signed header fails": {
			tamper:   func(r *http.Request, _ *[]byte) { r.Header.Set("Content-Type", "text/plain") },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"an unsigned header may change": {
			tamper: func(r *http.Request, _ *[]byte) { r.Header.Set("User-Agent", "something else") },
		},
		"a tampered query parameter fails": {
			signing:  func(s *signing) { s.method, s.target, s.body, s.header = "GET", "/?"+formBody, "", nil },
			tamper:   func(r *http.Request, _ *[]byte) { r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "web", "db", 1) },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"an added query parameter fails": {
			signing:  func(s *signing) { s.method, s.target, s.body, s.header = "GET", "/?"+formBody, "", nil },
			tamper:   func(r *http.Request, _ *[]byte) { r.URL.RawQuery += "&DryRun=true" },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"a parameter added to a presigned URL fails": {
			signing: func(s *signing) {
				s.method, s.target, s.body, s.header, s.presign, s.expires = "GET", "/?"+formBody, "", nil, true, 300
			},
			tamper:   func(r *http.Request, _ *[]byte) { r.URL.RawQuery += "&DryRun=true" },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"another method fails": {
			signing:  func(s *signing) { s.method, s.target, s.body, s.header = "GET", "/?"+formBody, "", nil },
			tamper:   func(r *http.Request, _ *[]byte) { r.Method = "DELETE" },
			wantCode: CodeAuthFailure, wantMsg: msgBadSignature,
		},
		"a presigned URL whose X-Amz-Expires is too long is incomplete": {
			signing: func(s *signing) {
				s.method, s.target, s.body, s.header, s.presign, s.expires = "GET", "/?"+formBody, "", nil, true, MaxExpires+1
			},
			wantCode: CodeIncompleteSignature, wantMsg: "X-Amz-Expires",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := defaultSigning()
			if tc.signing != nil {
				tc.signing(&s)
			}
			r, body := sign(t, s)
			if tc.tamper != nil {
				tc.tamper(r, &body)
			}
			now := tc.now
			if now.IsZero() {
				now = serverTime
			}
			id, err := koalaVerifier(now).Verify(context.Background(), r, body)
			checkErr(t, err, tc.wantCode, tc.wantMsg)
			if tc.wantCode == "" && id != koalaKeyID {
				t.Errorf("access key ID = %q, want %q", id, koalaKeyID)
			}
		})
	}
}

// A key store that fails is an internal error: it must not be answered as a client error.
func TestVerifyPassesOnAFailingKeyStore(t *testing.T) {
	broken := errors.New("etcd is down")
	v := koalaVerifier(serverTime)
	v.Lookup = func(context.Context, string) (Credentials, error) { return Credentials{}, broken }
	r, body := sign(t, defaultSigning())
	_, err := v.Verify(context.Background(), r, body)
	var e *Error
	if errors.As(err, &e) || !errors.Is(err, broken) {
		t.Fatalf("Verify = %v, want the key store's error wrapped, not an *Error", err)
	}
	if !strings.Contains(err.Error(), koalaKeyID) {
		t.Errorf("error %q does not name the access key", err)
	}
}

// A wrapped ErrUnknownKey is still an unknown key.
func TestVerifyRecognisesAWrappedUnknownKey(t *testing.T) {
	v := koalaVerifier(serverTime)
	v.Lookup = func(_ context.Context, id string) (Credentials, error) {
		return Credentials{}, errors.Join(errors.New("store"), ErrUnknownKey)
	}
	r, body := sign(t, defaultSigning())
	_, err := v.Verify(context.Background(), r, body)
	checkErr(t, err, CodeAuthFailure, msgUnknownKey)
}

// Verify must not consume the body: the server reads it once and passes it in.
func TestVerifyDoesNotReadTheBody(t *testing.T) {
	r, body := sign(t, defaultSigning())
	r.Body = bodyThatFails{t}
	if _, err := koalaVerifier(serverTime).Verify(context.Background(), r, body); err != nil {
		t.Fatal(err)
	}
}

type bodyThatFails struct{ t *testing.T }

func (b bodyThatFails) Read([]byte) (int, error) {
	b.t.Error("Verify read r.Body")
	return 0, errors.New("read")
}
func (bodyThatFails) Close() error { return nil }

// The zero MaxSkew and a nil Now fall back to 15 minutes and the real clock.
func TestVerifierDefaults(t *testing.T) {
	s := defaultSigning()
	s.at = time.Now().Add(-14 * time.Minute)
	r, body := sign(t, s)
	v := &Verifier{Region: koalaRegion, Service: "ec2", Lookup: keys(map[string]string{koalaKeyID: koalaSecret})}
	if _, err := v.Verify(context.Background(), r, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	s.at = time.Now().Add(-16 * time.Minute)
	r, body = sign(t, s)
	_, err := v.Verify(context.Background(), r, body)
	checkErr(t, err, CodeRequestExpired, "")
}

func TestCheckScope(t *testing.T) {
	good := CredentialScope{AccessKeyID: "AKID", Date: "20260314", Region: "koala-1", Service: "ec2", Terminator: "aws4_request"}
	with := func(mod func(*CredentialScope)) CredentialScope {
		c := good
		mod(&c)
		return c
	}
	tests := map[string]struct {
		scope    CredentialScope
		amzDate  string
		wantCode string
		wantMsg  string
	}{
		"a scope of the request's day, region and service passes": {scope: good, amzDate: "20260314T150926Z"},
		"a scope dated another day fails": {
			scope: good, amzDate: "20260315T000001Z", wantCode: CodeAuthFailure,
			wantMsg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260314' != '20260315', from 'X-Amz-Date'.",
		},
		"a scope for another region fails": {
			scope: with(func(c *CredentialScope) { c.Region = "us-west-2" }), amzDate: "20260314T150926Z",
			wantCode: CodeAuthFailure, wantMsg: "Credential should be scoped to a valid region, not 'us-west-2'.",
		},
		"regions are case-sensitive": {
			scope: with(func(c *CredentialScope) { c.Region = "Koala-1" }), amzDate: "20260314T150926Z",
			wantCode: CodeAuthFailure, wantMsg: "not 'Koala-1'",
		},
		"a scope for another service fails": {
			scope: with(func(c *CredentialScope) { c.Service = "sts" }), amzDate: "20260314T150926Z",
			wantCode: CodeAuthFailure, wantMsg: "Credential should be scoped to correct service: 'ec2'.",
		},
		"a scope with another terminator fails": {
			scope: with(func(c *CredentialScope) { c.Terminator = "aws4_requests" }), amzDate: "20260314T150926Z",
			wantCode: CodeAuthFailure, wantMsg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_requests'.",
		},
		"a short X-Amz-Date does not panic": {
			scope: good, amzDate: "2026", wantCode: CodeAuthFailure,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checkErr(t, CheckScope(tc.scope, tc.amzDate, "koala-1", "ec2"), tc.wantCode, tc.wantMsg)
		})
	}
}

func TestCheckTime(t *testing.T) {
	at := serverTime
	const skew = 15 * time.Minute
	tests := map[string]struct {
		now      time.Time
		expires  time.Duration
		wantCode string
		wantMsg  string
	}{
		"a request signed now is valid":                                   {now: at},
		"a request exactly 15 minutes old is valid":                       {now: at.Add(skew)},
		"a request a second over 15 minutes old has expired":              {now: at.Add(skew + time.Second), wantCode: CodeRequestExpired, wantMsg: "Request has expired. X-Amz-Date 20260314T150926Z is more than 15m0s behind the server time 20260314T152427Z."},
		"a request dated exactly 15 minutes ahead is valid":               {now: at.Add(-skew)},
		"a request dated a second over 15 minutes ahead has expired":      {now: at.Add(-skew - time.Second), wantCode: CodeRequestExpired, wantMsg: "is more than 15m0s ahead of the server time 20260314T145425Z."},
		"a presigned request is valid until its expiry":                   {now: at.Add(time.Hour), expires: time.Hour},
		"a presigned request a second past its expiry has expired":        {now: at.Add(time.Hour + time.Second), expires: time.Hour, wantCode: CodeRequestExpired, wantMsg: "It was valid until 20260314T160926Z"},
		"a presigned request with a short expiry expires before the skew": {now: at.Add(2 * time.Minute), expires: time.Minute, wantCode: CodeRequestExpired},
		"a presigned request dated too far ahead is not yet valid":        {now: at.Add(-skew - time.Second), expires: time.Hour, wantCode: CodeRequestExpired, wantMsg: "ahead"},
		"a presigned request dated a little ahead is valid":               {now: at.Add(-time.Minute), expires: time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checkErr(t, CheckTime(at, tc.now, skew, tc.expires), tc.wantCode, tc.wantMsg)
		})
	}
}

func TestPayloadHashes(t *testing.T) {
	body := []byte("Param1=value1")
	bodyHash := HashHex(body)
	tests := map[string]struct {
		claimed   string
		body      []byte
		presigned bool
		want      []string
		wantCode  string
	}{
		"without a claim the body's hash is used":            {body: body, want: []string{bodyHash}},
		"without a claim an empty body hashes to e3b0":       {want: []string{emptyHash}},
		"a presigned request without a body may be unsigned": {presigned: true, want: []string{emptyHash, UnsignedPayload}},
		"a presigned request with a body must sign it":       {presigned: true, body: body, want: []string{bodyHash}},
		"a claim that matches the body is used verbatim":     {claimed: strings.ToUpper(bodyHash), body: body, want: []string{strings.ToUpper(bodyHash)}},
		"a claim that does not match the body fails":         {claimed: emptyHash, body: body, wantCode: CodeAuthFailure},
		"UNSIGNED-PAYLOAD without a body is accepted":        {claimed: UnsignedPayload, want: []string{UnsignedPayload}},
		"UNSIGNED-PAYLOAD with a body fails":                 {claimed: UnsignedPayload, body: body, wantCode: CodeAuthFailure},
		"a streaming payload is not supported":               {claimed: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", body: body, wantCode: CodeIncompleteSignature},
		"a claim that is not hex is not supported":           {claimed: strings.Repeat("z", 64), body: body, wantCode: CodeIncompleteSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := PayloadHashes(tc.claimed, tc.body, tc.presigned)
			checkErr(t, err, tc.wantCode, "")
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("PayloadHashes = %q, want %q", got, tc.want)
			}
		})
	}
}
