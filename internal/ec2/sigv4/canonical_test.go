package sigv4

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"testing"
)

const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestCanonicalURI(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"an empty path is the root":                 {in: "", want: "/"},
		"the root stays the root":                   {in: "/", want: "/"},
		"unreserved characters are left alone":      {in: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", want: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
		"an escaped space is escaped once more":     {in: "/example%20space/", want: "/example%2520space/"},
		"escaped UTF-8 is escaped once more":        {in: "/%E1%88%B4", want: "/%25E1%2588%25B4"},
		"reserved characters are encoded":           {in: "/a:b@c!$", want: "/a%3Ab%40c%21%24"},
		"slashes are kept, empty segments included": {in: "//a//b/", want: "//a//b/"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := CanonicalURI(tc.in); got != tc.want {
				t.Errorf("CanonicalURI(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := map[string]struct {
		raw, want string
	}{
		"no query is an empty string":                  {raw: "", want: ""},
		"parameters are sorted by name":                {raw: "Param2=value2&Param1=value1", want: "Param1=value1&Param2=value2"},
		"upper case sorts before lower case":           {raw: "b=1&B=2&a=3", want: "B=2&a=3&b=1"},
		"a repeated name is sorted by value":           {raw: "foo=Zoo&foo=aha", want: "foo=Zoo&foo=aha"},
		"values of a repeated name are sorted":         {raw: "foo=b&foo=a", want: "foo=a&foo=b"},
		"a space is %20, whether sent as + or %20":     {raw: "a=x+y&b=x%20y", want: "a=x%20y&b=x%20y"},
		"an escaped plus stays a plus":                 {raw: "a=x%2By", want: "a=x%2By"},
		"unreserved characters are left alone":         {raw: "-._~09AZaz=-._~09AZaz", want: "-._~09AZaz=-._~09AZaz"},
		"everything else is encoded in upper-case hex": {raw: "k=%2f%3a%2a", want: "k=%2F%3A%2A"},
		"UTF-8 is encoded byte by byte":                {raw: "%E1%88%B4=bar", want: "%E1%88%B4=bar"},
		"a name without a value gets an empty value":   {raw: "Param1", want: "Param1="},
		"an empty value stays empty":                   {raw: "p=", want: "p="},
		"sorting happens after encoding":               {raw: "a=a-b&a=a%2Fb", want: "a=a%2Fb&a=a-b"},
		"a credential's slashes are encoded":           {raw: "X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fec2%2Faws4_request", want: "X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fec2%2Faws4_request"},
		"the suite's non-unreserved characters":        {raw: "%40%23%24%25%5E=&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D", want: "%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D&%40%23%24%25%5E="},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := CanonicalQuery(q); got != tc.want {
				t.Errorf("CanonicalQuery(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestCanonicalHeaders(t *testing.T) {
	tests := map[string]struct {
		signed []string
		header http.Header
		host   string
		want   string
	}{
		"host comes from the request, not the header map": {
			signed: []string{"host", "x-amz-date"},
			header: http.Header{"X-Amz-Date": {"20150830T123600Z"}, "Host": {"evil.example"}},
			host:   "example.amazonaws.com",
			want:   "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n",
		},
		"values are trimmed and runs of spaces collapsed": {
			signed: []string{"my-header1", "my-header2"},
			header: http.Header{"My-Header1": {" value1"}, "My-Header2": {`"a   b   c"  `}},
			want:   "my-header1:value1\nmy-header2:\"a b c\"\n",
		},
		"a header sent several times has its values joined with commas, in order": {
			signed: []string{"my-header1"},
			header: http.Header{"My-Header1": {"value2", "value2", "value1"}},
			want:   "my-header1:value2,value2,value1\n",
		},
		"a value's own commas are kept": {
			signed: []string{"my-header1"},
			header: http.Header{"My-Header1": {"value4,value1,value3,value2"}},
			want:   "my-header1:value4,value1,value3,value2\n",
		},
		"the case of a value is kept": {
			signed: []string{"my-header1"},
			header: http.Header{"My-Header1": {"VALUE1"}},
			want:   "my-header1:VALUE1\n",
		},
		"only the signed headers appear, in the signed order": {
			signed: []string{"content-type", "host"},
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}, "User-Agent": {"aws-cli"}},
			host:   "ec2.koala.test:8787",
			want:   "content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:ec2.koala.test:8787\n",
		},
		"a signed header that is absent has an empty value": {
			signed: []string{"x-amz-content-sha256"},
			header: http.Header{},
			want:   "x-amz-content-sha256:\n",
		},
		"a header stored under a non-canonical key is found": {
			signed: []string{"x-amz-date"},
			header: http.Header{"x-amz-date": {"20150830T123600Z"}},
			want:   "x-amz-date:20150830T123600Z\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := CanonicalHeaders(tc.signed, tc.header, tc.host); got != tc.want {
				t.Errorf("CanonicalHeaders = %q, want %q", got, tc.want)
			}
		})
	}
}

// Canonical requests and strings to sign of the AWS SigV4 test suite and of the IAM
// example in AWS's signing documentation.
func TestCanonicalRequestAndStringToSign(t *testing.T) {
	tests := map[string]struct {
		method, uri, rawQuery string
		header                http.Header
		host                  string
		signed                []string
		payloadHash           string
		scope                 string
		wantRequest           string
		wantHash              string // of the canonical request, the last line of the string to sign
	}{
		"get-vanilla": {
			method: "GET", uri: "/", host: "example.amazonaws.com",
			header: http.Header{"X-Amz-Date": {suiteAmzDate}}, signed: []string{"host", "x-amz-date"}, payloadHash: emptyHash,
			scope:       "20150830/us-east-1/service/aws4_request",
			wantRequest: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + emptyHash,
			wantHash:    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
		},
		"post-x-www-form-urlencoded": {
			method: "POST", uri: "/", host: "example.amazonaws.com",
			header: http.Header{"X-Amz-Date": {suiteAmzDate}, "Content-Type": {"application/x-www-form-urlencoded"}},
			signed: []string{"content-type", "host", "x-amz-date"}, payloadHash: HashHex([]byte("Param1=value1")),
			scope: "20150830/us-east-1/service/aws4_request",
			wantRequest: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n" +
				"content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
			wantHash: "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
		},
		// aws-c-auth's query-canonical-request.txt and query-string-to-sign.txt (commit e70d49e6).
		"get-vanilla-query-order-key-case, presigned": {
			method: "GET", uri: "/", host: "example.amazonaws.com",
			rawQuery: "Param2=value2&Param1=value1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host",
			signed:   []string{"host"}, payloadHash: emptyHash,
			scope: "20150830/us-east-1/service/aws4_request",
			wantRequest: "GET\n/\nParam1=value1&Param2=value2&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host\n" +
				"host:example.amazonaws.com\n\nhost\n" + emptyHash,
			wantHash: "eb1512f5ed1470925b7b1072c2108953680032d6bc3ccbef8eb7c6fdf1639827",
		},
		// aws-c-auth's post-x-www-form-urlencoded query files (commit 71a25bde).
		"post-x-www-form-urlencoded, presigned with a signed content hash": {
			method: "POST", uri: "/", host: "example.amazonaws.com",
			rawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bx-amz-content-sha256&X-Amz-Expires=3600",
			header: http.Header{
				"Content-Length":       {"13"},
				"Content-Type":         {"application/x-www-form-urlencoded"},
				"X-Amz-Content-Sha256": {"9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"},
			},
			signed:      []string{"content-length", "content-type", "host", "x-amz-content-sha256"},
			payloadHash: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
			scope:       "20150830/us-east-1/service/aws4_request",
			wantRequest: "POST\n/\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bx-amz-content-sha256\n" +
				"content-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n\n" +
				"content-length;content-type;host;x-amz-content-sha256\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
			wantHash: "93ef6c9c66ebd13b0c6820c0464c78f8e1ab050af24494e5322cde3f7067e5ed",
		},
		"the IAM ListUsers example of AWS's documentation": {
			method: "GET", uri: "/", host: "iam.amazonaws.com", rawQuery: "Action=ListUsers&Version=2010-05-08",
			header: http.Header{"X-Amz-Date": {suiteAmzDate}, "Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}},
			signed: []string{"content-type", "host", "x-amz-date"}, payloadHash: emptyHash,
			scope: "20150830/us-east-1/iam/aws4_request",
			wantRequest: "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n" +
				"content-type;host;x-amz-date\n" + emptyHash,
			wantHash: "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			cr := CanonicalRequest(tc.method, CanonicalURI(tc.uri), CanonicalQuery(q),
				CanonicalHeaders(tc.signed, tc.header, tc.host), tc.signed, tc.payloadHash)
			if cr != tc.wantRequest {
				t.Fatalf("CanonicalRequest =\n%s\nwant\n%s", cr, tc.wantRequest)
			}
			sts := StringToSign(suiteAmzDate, tc.scope, cr)
			want := "AWS4-HMAC-SHA256\n20150830T123600Z\n" + tc.scope + "\n" + tc.wantHash
			if sts != want {
				t.Errorf("StringToSign =\n%s\nwant\n%s", sts, want)
			}
		})
	}
}

func TestSigningKey(t *testing.T) {
	tests := map[string]struct {
		secret, date, region, service string
		wantHex                       string
	}{
		// AWS's documentation, "Derive a signing key": the IAM example.
		"the documented IAM key": {
			secret: suiteSecret, date: "20150830", region: "us-east-1", service: "iam",
			wantHex: "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9",
		},
		"the test suite's key": {
			secret: suiteSecret, date: "20150830", region: "us-east-1", service: "service",
			wantHex: mustBase64Hex("k4EntTNoEN22pdavRF/KyeNx+e1BjtOGsCKu2CkBvnU="),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := hex.EncodeToString(SigningKey(tc.secret, tc.date, tc.region, tc.service)); got != tc.wantHex {
				t.Errorf("SigningKey = %s, want %s", got, tc.wantHex)
			}
		})
	}
}

func mustBase64Hex(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func TestSignature(t *testing.T) {
	tests := map[string]struct {
		service, stringToSign, want string
	}{
		"get-vanilla": {
			service:      "service",
			stringToSign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
			want:         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
		"post-x-www-form-urlencoded": {
			service:      "service",
			stringToSign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
			want:         "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
		},
		"the IAM ListUsers example": {
			service:      "iam",
			stringToSign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
			want:         "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			key := SigningKey(suiteSecret, "20150830", "us-east-1", tc.service)
			if got := Signature(key, tc.stringToSign); got != tc.want {
				t.Errorf("Signature = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestHashHex(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"the empty payload":     {in: "", want: emptyHash},
		"the suite's form body": {in: "Param1=value1", want: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := HashHex([]byte(tc.in)); got != tc.want {
				t.Errorf("HashHex(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
