package sigv4

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// verifyingServer answers every request it can verify with an empty DescribeInstances
// result and records what Verify said.
type verifyingServer struct {
	t        *testing.T
	verifier *Verifier
	mu       sync.Mutex
	results  []error
	ids      []string
}

func (s *verifyingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Errorf("reading body: %v", err)
		return
	}
	id, err := s.verifier.Verify(r.Context(), r, body)
	s.mu.Lock()
	s.results, s.ids = append(s.results, err), append(s.ids, id)
	s.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `<Response><Errors><Error><Code>AuthFailure</Code><Message>`+err.Error()+`</Message></Error></Errors><RequestID>r-1</RequestID></Response>`)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = io.WriteString(w, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><reservationSet/></DescribeInstancesResponse>`)
}

func (s *verifyingServer) last(t *testing.T) (string, error) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.results) == 0 {
		t.Fatal("the server saw no request")
	}
	return s.ids[len(s.ids)-1], s.results[len(s.results)-1]
}

func newEC2Client(url, secret string) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:           koalaRegion,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(koalaKeyID, secret, ""),
		RetryMaxAttempts: 1,
	})
}

// What aws-sdk-go-v2's EC2 client really sends verifies, and a wrong secret does not.
func TestVerifyAcceptsAWSSDKGoV2sEC2Client(t *testing.T) {
	srv := &verifyingServer{t: t, verifier: koalaVerifier(time.Time{})}
	srv.verifier.Now = time.Now
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx := context.Background()

	_, err := newEC2Client(ts.URL, koalaSecret).DescribeInstances(ctx, &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: []string{"web server*"}}},
	})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	if id, verr := srv.last(t); verr != nil || id != koalaKeyID {
		t.Fatalf("Verify = %q, %v; want %q", id, verr, koalaKeyID)
	}

	_, _ = newEC2Client(ts.URL, "wrong").DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	_, verr := srv.last(t)
	checkErr(t, verr, CodeAuthFailure, msgBadSignature)
}

// aws-sdk-go-v2's EC2 presigner (used for CopySnapshot's PresignedUrl) sets no
// X-Amz-Expires and signs the empty body's hash; its URLs verify.
func TestVerifyAcceptsAWSSDKGoV2sEC2PresignedURL(t *testing.T) {
	srv := &verifyingServer{t: t, verifier: koalaVerifier(time.Time{})}
	srv.verifier.Now = time.Now
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx := context.Background()

	presigned, err := ec2.NewPresignClient(newEC2Client(ts.URL, koalaSecret)).PresignCopySnapshot(ctx, &ec2.CopySnapshotInput{
		SourceRegion:     aws.String(koalaRegion),
		SourceSnapshotId: aws.String("snap-0123456789abcdef0"),
	})
	if err != nil {
		t.Fatalf("PresignCopySnapshot: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, presigned.Method, presigned.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range presigned.SignedHeader {
		if k != "Host" {
			req.Header[k] = vs
		}
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id, verr := srv.last(t); verr != nil || id != koalaKeyID {
		t.Fatalf("Verify of %s %s = %q, %v; want %q", presigned.Method, presigned.URL, id, verr, koalaKeyID)
	}
}

// Requests signed by botocore (the AWS CLI), captured by testdata/botocore-ec2.py.
func TestVerifyAcceptsBotocoresRequests(t *testing.T) {
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	v := &Verifier{
		Region: koalaRegion, Service: "ec2",
		Now:    func() time.Time { return at },
		Lookup: keys(map[string]string{suiteKeyID: suiteSecret}),
	}
	tests := map[string]struct {
		file     string
		tamper   func(r *http.Request, body *[]byte)
		now      time.Time
		wantCode string
	}{
		"a DescribeInstances POST verifies": {file: "botocore-ec2-describe-instances.txt"},
		"a DescribeInstances POST with another MaxResults fails": {
			file: "botocore-ec2-describe-instances.txt",
			tamper: func(_ *http.Request, body *[]byte) {
				*body = []byte(strings.Replace(string(*body), "MaxResults=5", "MaxResults=6", 1))
			},
			wantCode: CodeAuthFailure,
		},
		"a presigned DescribeInstances GET verifies": {file: "botocore-ec2-presigned-describe-instances.txt"},
		"a presigned DescribeInstances GET for another instance fails": {
			file: "botocore-ec2-presigned-describe-instances.txt",
			tamper: func(r *http.Request, _ *[]byte) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "abcdef0", "abcdef1", 1)
			},
			wantCode: CodeAuthFailure,
		},
		"the PresignedUrl botocore makes for CopySnapshot verifies": {file: "botocore-ec2-copy-snapshot-presigned-url.txt"},
		"a presigned DescribeInstances GET expires after its 900 seconds": {
			file: "botocore-ec2-presigned-describe-instances.txt", now: at.Add(901 * time.Second), wantCode: CodeRequestExpired,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			r, body := readRequest(t, raw)
			if tc.tamper != nil {
				tc.tamper(r, &body)
			}
			v := *v
			if !tc.now.IsZero() {
				v.Now = func() time.Time { return tc.now }
			}
			id, err := v.Verify(context.Background(), r, body)
			checkErr(t, err, tc.wantCode, "")
			if tc.wantCode == "" && id != suiteKeyID {
				t.Errorf("access key ID = %q, want %q", id, suiteKeyID)
			}
		})
	}
}
