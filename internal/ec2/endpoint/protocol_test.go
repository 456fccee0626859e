package endpoint_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	. "github.com/onsi/gomega"
)

// rawRequest is a request built by hand, to send what no SDK would: it is signed with
// SigV4 over exactly the bytes given, unless told otherwise.
type rawRequest struct {
	method string // POST unless set
	// body is the form body of a POST; query is the query string of a GET.
	body, query string
	// keyID and secret sign the request; empty uses the account's key.
	keyID, secret string
	// signedAt is the signing time; zero is now.
	signedAt time.Time
	unsigned bool
	// presign signs a GET in its query string instead of the Authorization header.
	presign bool
	// tamper changes the request after it was signed.
	tamper func(*http.Request)
}

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func payloadHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (a *account) send(g Gomega, rr rawRequest) rawResponse {
	method := rr.method
	if method == "" {
		method = http.MethodPost
	}
	target := endpointURL + "/"
	if rr.query != "" {
		target += "?" + rr.query
	}
	req, err := http.NewRequestWithContext(a.ctx, method, target, bytes.NewReader([]byte(rr.body)))
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	if !rr.unsigned {
		creds := aws.Credentials{AccessKeyID: a.KeyID, SecretAccessKey: a.Secret}
		if rr.keyID != "" {
			creds.AccessKeyID = rr.keyID
		}
		if rr.secret != "" {
			creds.SecretAccessKey = rr.secret
		}
		at := rr.signedAt
		if at.IsZero() {
			at = time.Now()
		}
		signer := v4.NewSigner()
		if rr.presign {
			uri, _, err := signer.PresignHTTP(a.ctx, creds, req, payloadHash([]byte(rr.body)), "ec2", region, at)
			g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
			req.URL, err = url.Parse(uri)
			g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		} else {
			g.ExpectWithOffset(1, signer.SignHTTP(a.ctx, creds, req, payloadHash([]byte(rr.body)), "ec2", region, at)).To(Succeed())
		}
	}
	if rr.tamper != nil {
		rr.tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: body}
}

// errorDocument is EC2's error response.
type errorDocument struct {
	XMLName xml.Name `xml:"Response"`
	Errors  []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

// expectErrorResponse asserts the HTTP status and EC2's error document with the code.
func expectErrorResponse(g Gomega, r rawResponse, status int, code string) errorDocument {
	g.ExpectWithOffset(1, r.status).To(Equal(status), "body: %s", r.body)
	g.ExpectWithOffset(1, r.header.Get("Content-Type")).To(HavePrefix("text/xml"))
	var doc errorDocument
	g.ExpectWithOffset(1, xml.Unmarshal(r.body, &doc)).To(Succeed(), "body: %s", r.body)
	g.ExpectWithOffset(1, doc.Errors).To(HaveLen(1), "body: %s", r.body)
	g.ExpectWithOffset(1, doc.Errors[0].Code).To(Equal(code), "body: %s", r.body)
	g.ExpectWithOffset(1, doc.Errors[0].Message).NotTo(BeEmpty())
	g.ExpectWithOffset(1, doc.RequestID).NotTo(BeEmpty())
	g.ExpectWithOffset(1, r.header.Get("x-amzn-RequestId")).To(Equal(doc.RequestID))
	return doc
}

// expectSuccess asserts a 200 with <{action}Response xmlns=...> whose first child is
// the lowercase requestId.
func expectSuccess(g Gomega, r rawResponse, action string) {
	g.ExpectWithOffset(1, r.status).To(Equal(http.StatusOK), "body: %s", r.body)
	dec := xml.NewDecoder(bytes.NewReader(r.body))
	var names []xml.Name
	for len(names) < 2 {
		tok, err := dec.Token()
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred(), "body: %s", r.body)
		if se, ok := tok.(xml.StartElement); ok {
			names = append(names, se.Name)
		}
	}
	g.ExpectWithOffset(1, names[0]).To(Equal(xml.Name{Space: "http://ec2.amazonaws.com/doc/2016-11-15/", Local: action + "Response"}))
	g.ExpectWithOffset(1, names[1].Local).To(Equal("requestId"))
}

const v = "&Version=2016-11-15"

func TestBadRequestsAreClientErrorsInEC2sShapeAndCreateNothing(t *testing.T) {
	t.Parallel()
	a := newAccount(t)
	run := "Action=RunInstances" + v + "&ImageId=" + publicImageID + "&InstanceType=t3.micro"
	cases := map[string]struct {
		req    rawRequest
		status int
		code   string
	}{
		"a bad % escape is MalformedQueryString": {
			rawRequest{body: "Action=DescribeInstances" + v + "&Filter.1.Name=instance-id&Filter.1.Value.1=%zz"}, 400, "MalformedQueryString"},
		"a parameter given twice is refused": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1&MaxCount=2"}, 400, "InvalidParameterValue"},
		"MaxCount=abc is InvalidParameterValue": {
			rawRequest{body: run + "&MinCount=1&MaxCount=abc"}, 400, "InvalidParameterValue"},
		"a missing MinCount is MissingParameter": {
			rawRequest{body: run + "&MaxCount=1"}, 400, "MissingParameter"},
		"an unknown parameter is UnknownParameter": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1&Colour=red"}, 400, "UnknownParameter"},
		"a misspelt list parameter is UnknownParameter": {
			rawRequest{body: "Action=DescribeInstances" + v + "&InstanceIds.1=i-0123456789abcdef0"}, 400, "UnknownParameter"},
		"an unknown action is InvalidAction": {
			rawRequest{body: "Action=LaunchRocket" + v}, 400, "InvalidAction"},
		"a request without Action is MissingAction": {
			rawRequest{body: "Version=2016-11-15&MaxCount=1"}, 400, "MissingAction"},
		"a request without Version is MissingParameter": {
			rawRequest{body: "Action=DescribeInstances"}, 400, "MissingParameter"},
		"a Version that is no date is InvalidParameterValue": {
			rawRequest{body: "Action=DescribeInstances&Version=latest"}, 400, "InvalidParameterValue"},
		"a body over 1 MB is RequestEntityTooLarge": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1&UserData=" + strings.Repeat("A", 1<<20)}, 413, "RequestEntityTooLarge"},
		"a tag value that is not UTF-8 is refused": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=%ff%fe"}, 400, "InvalidParameterValue"},
		"user data that is not base64 is InvalidUserData.Malformed": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1&UserData=%21%21%21"}, 400, "InvalidUserData.Malformed"},
		"a request without a signature is MissingAuthenticationToken": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1", unsigned: true}, 401, "MissingAuthenticationToken"},
		"a key nobody has is AuthFailure": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1", keyID: "AKIAUNKNOWNUNKNOWN00"}, 401, "AuthFailure"},
		"a wrong secret is AuthFailure": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1", secret: "not-the-secret-not-the-secret-not-the-sec"}, 401, "AuthFailure"},
		"a request signed 20 minutes ago is RequestExpired": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1", signedAt: time.Now().Add(-20 * time.Minute)}, 400, "RequestExpired"},
		"a request signed 20 minutes ahead is RequestExpired": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1", signedAt: time.Now().Add(20 * time.Minute)}, 400, "RequestExpired"},
		"DryRun=maybe is InvalidParameterValue": {
			rawRequest{body: run + "&MinCount=1&MaxCount=1&DryRun=maybe"}, 400, "InvalidParameterValue"},
		"a PUT is refused": {
			rawRequest{method: http.MethodPut, body: run + "&MinCount=1&MaxCount=1"}, 400, "UnsupportedProtocol"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			expectErrorResponse(g, a.send(g, tc.req), tc.status, tc.code)
		})
	}
	g := NewWithT(t)
	g.Expect(a.instanceObjects(g)).To(BeZero(), "no refused request created an instance")

	// The same request, well formed, works: the cases failed for the reason they name.
	expectSuccess(g, a.send(g, rawRequest{body: run + "&MinCount=1&MaxCount=1&ClientToken=raw-1"}), "RunInstances")
	g.Expect(a.instanceObjects(g)).To(Equal(1))
}

func TestGETRequestsSignedInTheHeaderOrPresignedAreAnswered(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	a.runInstances(g, 6)
	query := "Action=DescribeInstances" + v

	t.Run("signed in the Authorization header", func(t *testing.T) {
		g := NewWithT(t)
		expectSuccess(g, a.send(g, rawRequest{method: http.MethodGet, query: query}), "DescribeInstances")
	})
	t.Run("presigned in the query string", func(t *testing.T) {
		g := NewWithT(t)
		r := a.send(g, rawRequest{method: http.MethodGet, query: query, presign: true})
		expectSuccess(g, r, "DescribeInstances")
		g.Expect(strings.Count(string(r.body), "<instanceId>")).To(Equal(6))
	})
	t.Run("presigned pages continue across requests signed at different times", func(t *testing.T) {
		g := NewWithT(t)
		first := a.send(g, rawRequest{method: http.MethodGet, query: query + "&MaxResults=5", presign: true, signedAt: time.Now().Add(-2 * time.Second)})
		expectSuccess(g, first, "DescribeInstances")
		var page struct {
			NextToken string `xml:"nextToken"`
		}
		g.Expect(xml.Unmarshal(first.body, &page)).To(Succeed())
		g.Expect(page.NextToken).NotTo(BeEmpty())
		next := a.send(g, rawRequest{method: http.MethodGet, query: query + "&MaxResults=5&NextToken=" + url.QueryEscape(page.NextToken), presign: true})
		expectSuccess(g, next, "DescribeInstances")
		g.Expect(strings.Count(string(next.body), "<instanceId>")).To(Equal(1))
		g.Expect(string(next.body)).NotTo(ContainSubstring("<nextToken>"))
	})
	t.Run("a presigned URL whose parameters were changed is AuthFailure", func(t *testing.T) {
		g := NewWithT(t)
		r := a.send(g, rawRequest{method: http.MethodGet, query: query, presign: true,
			tamper: func(req *http.Request) { req.URL.RawQuery += "&MaxResults=10" }})
		expectErrorResponse(g, r, http.StatusUnauthorized, "AuthFailure")
	})
	t.Run("an Authorization header on a presigned URL is IncompleteSignature", func(t *testing.T) {
		g := NewWithT(t)
		r := a.send(g, rawRequest{method: http.MethodGet, query: query + "&X-Amz-Algorithm=AWS4-HMAC-SHA256"})
		expectErrorResponse(g, r, http.StatusBadRequest, "IncompleteSignature")
	})
	t.Run("a malformed query string of a GET is a client error", func(t *testing.T) {
		g := NewWithT(t)
		// The signer re-encodes the query it signs; the bad escape goes in afterwards.
		// What is signed cannot be checked against a query that does not parse, so the
		// signature check refuses it first.
		r := a.send(g, rawRequest{method: http.MethodGet, query: query,
			tamper: func(req *http.Request) { req.URL.RawQuery += "&Filter.1.Name=%zz" }})
		expectErrorResponse(g, r, http.StatusBadRequest, "IncompleteSignature")
	})
}
