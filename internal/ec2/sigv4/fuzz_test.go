package sigv4

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// ParseAuthorization never panics, every failure is an *Error, and what it accepts is
// well formed.
func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []string{
		exampleAuthz,
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=" + exampleSig + ",",
		"AWS AKIDEXAMPLE:c2ln",
		"AWS4-HMAC-SHA256 Credential==, SignedHeaders=;, Signature=\x00",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeIncompleteSignature {
				t.Fatalf("ParseAuthorization(%q) = %v, want an IncompleteSignature *Error", header, err)
			}
			return
		}
		if a.Credential.AccessKeyID == "" || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
			t.Fatalf("ParseAuthorization(%q) accepted %+v", header, a)
		}
		for _, h := range a.SignedHeaders {
			if h == "" {
				t.Fatalf("ParseAuthorization(%q) accepted an empty signed header", header)
			}
		}
	})
}

// Verify never panics on any Authorization header, query, X-Amz-Date, content hash, path
// or body, and every refusal carries an EC2 code.
func FuzzVerify(f *testing.F) {
	post, postBody := sign(f, defaultSigning())
	f.Add(post.Header.Get("Authorization"), "", post.Header.Get("X-Amz-Date"), "", "/", postBody, false)
	s := defaultSigning()
	s.method, s.target, s.body, s.header, s.presign, s.expires = "GET", "/?"+formBody, "", nil, true, 300
	get, _ := sign(f, s)
	f.Add("", get.URL.RawQuery, "", "", "/", []byte(nil), true)
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=99999999999999999999", "", "", "/", []byte(nil), true)
	f.Add(exampleAuthz, "a=%zz", "20260314T150926Z", "UNSIGNED-PAYLOAD", "/a%20b", []byte("x"), false)
	v := koalaVerifier(serverTime)
	f.Fuzz(func(t *testing.T, authorization, rawQuery, amzDate, contentSHA256, path string, body []byte, get bool) {
		method := "POST"
		if get {
			method = "GET"
		}
		r := &http.Request{
			Method:        method,
			URL:           &url.URL{Path: path, RawQuery: rawQuery},
			Host:          koalaHost,
			ContentLength: int64(len(body)),
			Header:        http.Header{},
		}
		for k, val := range map[string]string{"Authorization": authorization, "X-Amz-Date": amzDate, "X-Amz-Content-Sha256": contentSHA256} {
			if val != "" {
				r.Header.Set(k, val)
			}
		}
		r.Header.Set("Content-Type", formType)
		_, err := v.Verify(context.Background(), r, body)
		if err == nil {
			return // the seeds are genuinely signed
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Verify = %v (%T), want an *Error", err, err)
		}
		switch e.Code {
		case CodeMissingAuthenticationToken, CodeIncompleteSignature, CodeAuthFailure, CodeRequestExpired:
		default:
			t.Fatalf("Verify answered the unknown code %q", e.Code)
		}
	})
}
