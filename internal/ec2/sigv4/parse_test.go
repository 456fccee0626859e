package sigv4

import (
	"net/url"
	"reflect"
	"testing"
	"time"
)

const (
	exampleSig   = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	exampleCred  = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
	exampleAuthz = "AWS4-HMAC-SHA256 Credential=" + exampleCred + ", SignedHeaders=host;x-amz-date, Signature=" + exampleSig
)

var exampleScope = CredentialScope{AccessKeyID: "AKIDEXAMPLE", Date: "20150830", Region: "us-east-1", Service: "service", Terminator: "aws4_request"}

func TestParseAuthorization(t *testing.T) {
	want := Authorization{Credential: exampleScope, SignedHeaders: []string{"host", "x-amz-date"}, Signature: exampleSig}
	tests := map[string]struct {
		header   string
		want     Authorization
		wantCode string
		wantMsg  string
	}{
		"a header as the SDKs write it parses": {
			header: exampleAuthz, want: want,
		},
		"commas without spaces parse too": {
			header: "AWS4-HMAC-SHA256 Credential=" + exampleCred + ",SignedHeaders=host;x-amz-date,Signature=" + exampleSig, want: want,
		},
		"the parameters may come in any order": {
			header: "AWS4-HMAC-SHA256 Signature=" + exampleSig + ", Credential=" + exampleCred + ", SignedHeaders=host;x-amz-date", want: want,
		},
		"surrounding spaces are ignored": {
			header: "  " + exampleAuthz + " ", want: want,
		},
		"an unknown parameter is ignored": {
			header: exampleAuthz + ", Extra=1", want: want,
		},
		"an upper-case signature is accepted": {
			header: "AWS4-HMAC-SHA256 Credential=" + exampleCred + ", SignedHeaders=host, Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
			want:   Authorization{Credential: exampleScope, SignedHeaders: []string{"host"}, Signature: "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31"},
		},
		"the algorithm alone names every missing parameter": {
			header: "AWS4-HMAC-SHA256", wantCode: CodeIncompleteSignature,
			wantMsg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.",
		},
		"a missing Signature is incomplete": {
			header: "AWS4-HMAC-SHA256 Credential=" + exampleCred + ", SignedHeaders=host", wantCode: CodeIncompleteSignature,
			wantMsg: "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256",
		},
		"a missing SignedHeaders is incomplete": {
			header: "AWS4-HMAC-SHA256 Credential=" + exampleCred + ", Signature=" + exampleSig, wantCode: CodeIncompleteSignature,
			wantMsg: "requires 'SignedHeaders' parameter",
		},
		"a missing Credential is incomplete": {
			header: "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + exampleSig, wantCode: CodeIncompleteSignature,
			wantMsg: "requires 'Credential' parameter",
		},
		"another algorithm is refused": {
			header:   "AWS4-ECDSA-P256-SHA256 Credential=" + exampleCred + ", SignedHeaders=host, Signature=" + exampleSig,
			wantCode: CodeIncompleteSignature, wantMsg: "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'",
		},
		"a Signature Version 2 header is refused": {
			header: "AWS AKIDEXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=", wantCode: CodeIncompleteSignature, wantMsg: "Unsupported AWS 'algorithm': 'AWS'",
		},
		"an empty header is refused": {
			header: "", wantCode: CodeIncompleteSignature, wantMsg: "Unsupported AWS 'algorithm': ''",
		},
		"a pair without an equals sign is malformed": {
			header:   "AWS4-HMAC-SHA256 Credential " + exampleCred + ", SignedHeaders=host, Signature=" + exampleSig,
			wantCode: CodeIncompleteSignature, wantMsg: "not a valid key=value pair (missing equal-sign) in Authorization header",
		},
		"a trailing comma is malformed": {
			header: exampleAuthz + ",", wantCode: CodeIncompleteSignature, wantMsg: "'' not a valid key=value pair",
		},
		"a repeated parameter is refused": {
			header: exampleAuthz + ", Signature=" + exampleSig, wantCode: CodeIncompleteSignature, wantMsg: "more than one 'Signature'",
		},
		"a credential with four parts is malformed": {
			header:   "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, SignedHeaders=host, Signature=" + exampleSig,
			wantCode: CodeIncompleteSignature, wantMsg: "exactly 5 slash-delimited elements",
		},
		"an empty signed header name is malformed": {
			header:   "AWS4-HMAC-SHA256 Credential=" + exampleCred + ", SignedHeaders=host;;x-amz-date, Signature=" + exampleSig,
			wantCode: CodeIncompleteSignature, wantMsg: "empty header name",
		},
		"a short signature is malformed": {
			header:   "AWS4-HMAC-SHA256 Credential=" + exampleCred + ", SignedHeaders=host, Signature=abc",
			wantCode: CodeIncompleteSignature, wantMsg: "64 hexadecimal characters",
		},
		"a signature that is not hex is malformed": {
			header:   "AWS4-HMAC-SHA256 Credential=" + exampleCred + ", SignedHeaders=host, Signature=" + "zz" + exampleSig[2:],
			wantCode: CodeIncompleteSignature, wantMsg: "64 hexadecimal characters",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseAuthorization(tc.header)
			checkErr(t, err, tc.wantCode, tc.wantMsg)
			if tc.wantCode == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseAuthorization = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseCredentialScope(t *testing.T) {
	tests := map[string]struct {
		in       string
		want     CredentialScope
		wantCode string
	}{
		"five parts are a credential": {
			in: exampleCred, want: exampleScope,
		},
		"the parts are kept as given, for CheckScope to judge": {
			in:   "AKID/2015/xx/yy/zz",
			want: CredentialScope{AccessKeyID: "AKID", Date: "2015", Region: "xx", Service: "yy", Terminator: "zz"},
		},
		"four parts are malformed":         {in: "AKID/20150830/us-east-1/service", wantCode: CodeIncompleteSignature},
		"six parts are malformed":          {in: exampleCred + "/x", wantCode: CodeIncompleteSignature},
		"an empty credential is malformed": {in: "", wantCode: CodeIncompleteSignature},
		"an empty access key is malformed": {in: "/20150830/us-east-1/service/aws4_request", wantCode: CodeIncompleteSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCredentialScope(tc.in)
			checkErr(t, err, tc.wantCode, "")
			if got != tc.want {
				t.Errorf("ParseCredentialScope = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCredentialScopeScope(t *testing.T) {
	if got, want := exampleScope.Scope(), "20150830/us-east-1/service/aws4_request"; got != want {
		t.Errorf("Scope() = %q, want %q", got, want)
	}
}

func TestParseSignedHeaders(t *testing.T) {
	tests := map[string]struct {
		in       string
		want     []string
		wantCode string
	}{
		"names are split at semicolons":     {in: "content-type;host;x-amz-date", want: []string{"content-type", "host", "x-amz-date"}},
		"one name is a list of one":         {in: "host", want: []string{"host"}},
		"names are kept as given":           {in: "X-Amz-Date;Host", want: []string{"X-Amz-Date", "Host"}},
		"an empty list is malformed":        {in: "", wantCode: CodeIncompleteSignature},
		"a trailing semicolon is malformed": {in: "host;", wantCode: CodeIncompleteSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSignedHeaders(tc.in)
			checkErr(t, err, tc.wantCode, "")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseSignedHeaders = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseSignature(t *testing.T) {
	tests := map[string]struct {
		in       string
		wantCode string
	}{
		"64 lower-case hex digits are a signature": {in: exampleSig},
		"63 digits are not":                        {in: exampleSig[1:], wantCode: CodeIncompleteSignature},
		"a non-hex digit is not":                   {in: exampleSig[:63] + "g", wantCode: CodeIncompleteSignature},
		"an empty signature is not":                {in: "", wantCode: CodeIncompleteSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSignature(tc.in)
			checkErr(t, err, tc.wantCode, "")
			if tc.wantCode == "" && got != tc.in {
				t.Errorf("ParseSignature = %q, want %q", got, tc.in)
			}
		})
	}
}

func TestParseAmzDate(t *testing.T) {
	tests := map[string]struct {
		in       string
		want     time.Time
		wantCode string
	}{
		"basic ISO 8601 in UTC parses":            {in: "20150830T123600Z", want: time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)},
		"extended ISO 8601 is refused":            {in: "2015-08-30T12:36:00Z", wantCode: CodeIncompleteSignature},
		"a missing Z is refused":                  {in: "20150830T123600", wantCode: CodeIncompleteSignature},
		"fractional seconds are refused":          {in: "20150830T123600.5Z", wantCode: CodeIncompleteSignature},
		"a thirteenth month is refused":           {in: "20151330T123600Z", wantCode: CodeIncompleteSignature},
		"an HTTP date is refused":                 {in: "Sun, 30 Aug 2015 12:36:00 GMT", wantCode: CodeIncompleteSignature},
		"an empty date is refused":                {in: "", wantCode: CodeIncompleteSignature},
		"a date with a trailing space is refused": {in: "20150830T123600Z ", wantCode: CodeIncompleteSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseAmzDate(tc.in)
			checkErr(t, err, tc.wantCode, "")
			if !got.Equal(tc.want) {
				t.Errorf("ParseAmzDate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParsePresigned(t *testing.T) {
	base := func(mod func(url.Values)) url.Values {
		q := url.Values{
			"Action":              {"DescribeInstances"},
			"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
			"X-Amz-Credential":    {exampleCred},
			"X-Amz-Date":          {"20150830T123600Z"},
			"X-Amz-SignedHeaders": {"host"},
			"X-Amz-Signature":     {exampleSig},
			"X-Amz-Expires":       {"900"},
		}
		if mod != nil {
			mod(q)
		}
		return q
	}
	auth := Authorization{Credential: exampleScope, SignedHeaders: []string{"host"}, Signature: exampleSig}
	tests := map[string]struct {
		q        url.Values
		want     Presigned
		wantCode string
		wantMsg  string
	}{
		"a complete presigned query parses": {
			q: base(nil), want: Presigned{Authorization: auth, Date: "20150830T123600Z", Expires: 900 * time.Second},
		},
		"X-Amz-Expires may be absent": {
			q: base(func(q url.Values) { q.Del("X-Amz-Expires") }), want: Presigned{Authorization: auth, Date: "20150830T123600Z"},
		},
		"seven days is the longest expiry": {
			q: base(func(q url.Values) { q.Set("X-Amz-Expires", "604800") }), want: Presigned{Authorization: auth, Date: "20150830T123600Z", Expires: 7 * 24 * time.Hour},
		},
		"one second is the shortest expiry": {
			q: base(func(q url.Values) { q.Set("X-Amz-Expires", "1") }), want: Presigned{Authorization: auth, Date: "20150830T123600Z", Expires: time.Second},
		},
		"a missing signature is named": {
			q: base(func(q url.Values) { q.Del("X-Amz-Signature") }), wantCode: CodeIncompleteSignature, wantMsg: "missing: X-Amz-Signature",
		},
		"every missing parameter is named": {
			q:        url.Values{"X-Amz-Algorithm": {"AWS4-HMAC-SHA256"}},
			wantCode: CodeIncompleteSignature, wantMsg: "missing: X-Amz-Credential, X-Amz-Signature, X-Amz-SignedHeaders, X-Amz-Date",
		},
		"another algorithm is refused": {
			q: base(func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA1") }), wantCode: CodeIncompleteSignature, wantMsg: "'AWS4-HMAC-SHA1'",
		},
		"a repeated parameter is refused": {
			q: base(func(q url.Values) { q.Add("X-Amz-Credential", exampleCred) }), wantCode: CodeIncompleteSignature, wantMsg: "appears 2 times",
		},
		"a malformed credential is refused": {
			q: base(func(q url.Values) { q.Set("X-Amz-Credential", "AKIDEXAMPLE") }), wantCode: CodeIncompleteSignature, wantMsg: "5 slash-delimited",
		},
		"an expiry of zero is refused": {
			q: base(func(q url.Values) { q.Set("X-Amz-Expires", "0") }), wantCode: CodeIncompleteSignature, wantMsg: "from 1 to 604800",
		},
		"an expiry over seven days is refused": {
			q: base(func(q url.Values) { q.Set("X-Amz-Expires", "604801") }), wantCode: CodeIncompleteSignature, wantMsg: "from 1 to 604800",
		},
		"a negative expiry is refused": {
			q: base(func(q url.Values) { q.Set("X-Amz-Expires", "-5") }), wantCode: CodeIncompleteSignature,
		},
		"an expiry with a plus sign is refused": {
			q: base(func(q url.Values) { q.Set("X-Amz-Expires", "+5") }), wantCode: CodeIncompleteSignature,
		},
		"an expiry that is not a number is refused": {
			q: base(func(q url.Values) { q.Set("X-Amz-Expires", "15m") }), wantCode: CodeIncompleteSignature,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePresigned(tc.q)
			checkErr(t, err, tc.wantCode, tc.wantMsg)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePresigned = %+v, want %+v", got, tc.want)
			}
		})
	}
}
