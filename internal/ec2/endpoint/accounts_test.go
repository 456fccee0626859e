package endpoint_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/audit"
	"github.com/koala-dev/koala/internal/ec2/endpoint"
	"github.com/koala-dev/koala/internal/ec2/throttle"
	"github.com/koala-dev/koala/internal/tlsreload"
)

// Every action that takes an ID answers NotFound for another account's ID, never an
// "access denied" that would tell the caller the ID exists.
func TestEveryActionGivenAnotherAccountsIDAnswersNotFound(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	owner, stranger := newAccount(t), newAccount(t)
	id := owner.runOne(g, withTags("Name", "private"))
	kp, err := owner.EC2.CreateKeyPair(owner.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("owners-key")})
	g.Expect(err).NotTo(HaveOccurred())
	keyID := aws.ToString(kp.KeyPairId)
	image := owner.privateImage(g, "owners-image")
	owner.waitRunning(g, id)
	ids := []string{id}
	s, ctx := stranger.NoRetry, stranger.ctx

	cases := map[string]struct {
		call func() error
		code string
	}{
		"DescribeInstances": {func() error {
			_, err := s.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"DescribeInstanceStatus": {func() error {
			_, err := s.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"DescribeInstanceAttribute": {func() error {
			_, err := s.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameInstanceType})
			return err
		}, "InvalidInstanceID.NotFound"},
		"ModifyInstanceAttribute": {func() error {
			_, err := s.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
			return err
		}, "InvalidInstanceID.NotFound"},
		"DescribeInstanceCreditSpecifications": {func() error {
			_, err := s.DescribeInstanceCreditSpecifications(ctx, &ec2.DescribeInstanceCreditSpecificationsInput{InstanceIds: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"StartInstances": {func() error {
			_, err := s.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"StopInstances": {func() error {
			_, err := s.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"RebootInstances": {func() error {
			_, err := s.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"TerminateInstances": {func() error {
			_, err := s.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"CreateTags on an instance": {func() error {
			_, err := s.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: tags("a", "b")})
			return err
		}, "InvalidInstanceID.NotFound"},
		"DeleteTags on an instance": {func() error {
			_, err := s.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: ids})
			return err
		}, "InvalidInstanceID.NotFound"},
		"CreateTags on a private image": {func() error {
			_, err := s.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{image}, Tags: tags("a", "b")})
			return err
		}, "InvalidAMIID.NotFound"},
		"CreateTags on a key pair": {func() error {
			_, err := s.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{keyID}, Tags: tags("a", "b")})
			return err
		}, "InvalidKeyPair.NotFound"},
		"DescribeImages of a private image": {func() error {
			_, err := s.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{image}})
			return err
		}, "InvalidAMIID.NotFound"},
		"RunInstances of a private image": {func() error {
			_, err := s.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(image), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			return err
		}, "InvalidAMIID.NotFound"},
		"RunInstances with another account's key": {func() error {
			_, err := s.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("owners-key")})
			return err
		}, "InvalidKeyPair.NotFound"},
		"DescribeKeyPairs by ID": {func() error {
			_, err := s.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyPairIds: []string{keyID}})
			return err
		}, "InvalidKeyPair.NotFound"},
		"DescribeKeyPairs by name": {func() error {
			_, err := s.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"owners-key"}})
			return err
		}, "InvalidKeyPair.NotFound"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			expectError(NewWithT(t), tc.call(), tc.code)
		})
	}

	// DeleteKeyPair of a key the caller does not have succeeds, as in EC2, and deletes
	// nothing of the owner's.
	_, err = s.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: aws.String(keyID)})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = s.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("owners-key")})
	g.Expect(err).NotTo(HaveOccurred())
	mine, err := owner.EC2.DescribeKeyPairs(owner.ctx, &ec2.DescribeKeyPairsInput{KeyPairIds: []string{keyID}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(mine.KeyPairs).To(HaveLen(1))
	inst := owner.describe(g, id)
	g.Expect(inst.State.Name).To(Equal(types.InstanceStateNameRunning))
	g.Expect(tagMap(inst.Tags)).To(Equal(map[string]string{"Name": "private"}))
}

func setKeyState(g Gomega, a *account, state koalav1.AccessKeyState) {
	key := &koalav1.AccessKey{}
	g.ExpectWithOffset(1, k8s.Get(a.ctx, client.ObjectKeyFromObject(a.Key), key)).To(Succeed())
	patch := client.MergeFrom(key.DeepCopy())
	key.Spec.Status = state
	g.ExpectWithOffset(1, k8s.Patch(a.ctx, key, patch)).To(Succeed())
}

func TestAnInactiveKeyIsRefusedUntilItIsActiveAgain(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	setKeyState(g, a, koalav1.AccessKeyInactive)
	g.Eventually(func() string {
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{})
		return asAPIError(err).Code
	}, timeout, poll).Should(Equal("AuthFailure"))
	r := a.send(g, rawRequest{body: "Action=DescribeRegions" + v})
	expectErrorResponse(g, r, http.StatusUnauthorized, "AuthFailure")

	setKeyState(g, a, koalav1.AccessKeyActive)
	g.Eventually(func() error {
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{})
		return plain(err)
	}, timeout, poll).Should(Succeed())
}

func TestADeletedKeyIsRefusedAndItsSecretRemoved(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	ref := a.Key.Status.SecretRef
	g.Expect(k8s.Delete(a.ctx, a.Key)).To(Succeed())
	g.Eventually(func() string {
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{})
		return asAPIError(err).Code
	}, timeout, poll).Should(Equal("AuthFailure"))
	g.Eventually(func() bool {
		err := k8s.Get(a.ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &corev1.Secret{})
		return apierrors.IsNotFound(err)
	}, timeout, poll).Should(BeTrue())
}

// A Secret that looks like a key is not one: only a key an AccessKey vouches for signs.
func TestASecretMadeByHandIsNotAnAccessKey(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	forged := a.send(g, rawRequest{body: "Action=DescribeRegions" + v, keyID: "AKIAFORGEDFORGED0000", secret: "forged"})
	expectErrorResponse(g, forged, http.StatusUnauthorized, "AuthFailure")
}

func TestARequestSignedMoreThanFifteenMinutesAwayIsRequestExpired(t *testing.T) {
	t.Parallel()
	a := newAccount(t)
	cases := map[string]struct {
		skew time.Duration
		ok   bool
	}{
		"sixteen minutes ago":    {-16 * time.Minute, false},
		"sixteen minutes ahead":  {16 * time.Minute, false},
		"fourteen minutes ago":   {-14 * time.Minute, true},
		"fourteen minutes ahead": {14 * time.Minute, true},
		"signed a day before":    {-24 * time.Hour, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := a.send(g, rawRequest{body: "Action=DescribeRegions" + v, signedAt: time.Now().Add(tc.skew)})
			if tc.ok {
				expectSuccess(g, r, "DescribeRegions")
			} else {
				expectErrorResponse(g, r, http.StatusBadRequest, "RequestExpired")
			}
		})
	}
}

func TestAReadOnlyKeyDescribesButIsRefusedEveryChange(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	full := newAccount(t)
	ro := newAccount(t, readOnly())
	_, err := ro.NoRetry.DescribeInstances(ro.ctx, &ec2.DescribeInstancesInput{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = ro.NoRetry.DescribeImages(ro.ctx, &ec2.DescribeImagesInput{})
	g.Expect(err).NotTo(HaveOccurred())

	run := &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	e := expectError(g, plainAPI(ro.NoRetry.RunInstances(ro.ctx, run)), "UnauthorizedOperation")
	g.Expect(e.Status).To(Equal(http.StatusForbidden))
	_, err = ro.NoRetry.CreateKeyPair(ro.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k")})
	expectError(g, err, "UnauthorizedOperation")
	// DryRun says whether the call would be allowed: not for this key, yes for a full one.
	dry := *run
	dry.DryRun = aws.Bool(true)
	_, err = ro.NoRetry.RunInstances(ro.ctx, &dry)
	expectError(g, err, "UnauthorizedOperation")
	_, err = full.NoRetry.RunInstances(full.ctx, &dry)
	e = expectError(g, err, "DryRunOperation")
	g.Expect(e.Status).To(Equal(http.StatusPreconditionFailed))
	g.Expect(ro.instanceObjects(g)).To(BeZero())
}

// plainAPI drops the output of an SDK call, keeping its error.
func plainAPI[T any](_ T, err error) error { return err }

func TestQuotasAreCheckedBeforeAnythingIsCreated(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	two, four := int32(2), int32(4)
	a := newAccount(t, withQuotas(koalav1.AccountQuotas{Instances: &two, VCPUs: &four}))

	// MaxCount 3 with room for 2: EC2 launches as many as fit, down to MinCount.
	out, err := a.EC2.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(3)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Instances).To(HaveLen(2))
	_, err = a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	expectError(g, err, "InstanceLimitExceeded")
	g.Expect(a.instanceObjects(g)).To(Equal(2))

	// A stopped instance frees its share; starting it again takes it back.
	first := aws.ToString(out.Instances[0].InstanceId)
	a.waitRunning(g, first, aws.ToString(out.Instances[1].InstanceId))
	_, err = a.EC2.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{first}})
	g.Expect(err).NotTo(HaveOccurred())
	// A t3.xlarge has 4 vCPUs: with 2 of 4 in use, the vCPU limit refuses it.
	_, err = a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), InstanceType: types.InstanceTypeT3Xlarge,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	expectError(g, err, "VcpuLimitExceeded")
	third := a.runOne(g)
	a.waitStopped(g, first)
	_, err = a.NoRetry.StartInstances(a.ctx, &ec2.StartInstancesInput{InstanceIds: []string{first}})
	expectError(g, err, "InstanceLimitExceeded")
	g.Expect(a.instanceObjects(g)).To(Equal(3))
	g.Expect(third).NotTo(BeEmpty())
}

func TestThrottledCallsAnswer503AndTheSDKRetriesThemThrough(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// An endpoint of its own, with a describe bucket of 2 refilling at 2 per second.
	slow, err := endpoint.Start(ctx, env.Config, endpoint.Config{Region: region, Log: logr.Discard(),
		Throttle: map[throttle.Class]throttle.Bucket{throttle.ClassDescribe: {Burst: 2, Refill: 2}}})
	g.Expect(err).NotTo(HaveOccurred())
	url := serve(t, slow.Handler)
	g.Eventually(func() error {
		_, _, err := slow.Store.Credentials(ctx, a.KeyID)
		return err
	}, timeout, poll).Should(Succeed())

	noRetry := clientOf(url, a.KeyID, a.Secret, true)
	var throttled error
	for i := 0; i < 5 && throttled == nil; i++ {
		_, throttled = noRetry.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	}
	// 503, not 400: botocore and the Go SDK retry RequestLimitExceeded only with it.
	e := asAPIError(throttled)
	g.Expect(e.Code).To(Equal("RequestLimitExceeded"), "error: %v", throttled)
	g.Expect(e.Status).To(Equal(http.StatusServiceUnavailable))

	// The SDK's standard retryer backs off and gets through. Its backoff is random: with
	// the default 3 attempts, a call whose two retries both come within the half second
	// the bucket needs for a token fails (once in 8 runs of the suite here). More attempts
	// of the same retryer make that vanishingly rare; an answer it does not retry (a
	// 400, say) still fails the call at once.
	retrying := ec2.New(clientOf(url, a.KeyID, a.Secret, false).Options(), func(o *ec2.Options) { o.RetryMaxAttempts = 10 })
	for i := 0; i < 6; i++ {
		_, err := retrying.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		g.Expect(err).NotTo(HaveOccurred(), "call %d", i)
	}
	// Buckets are per key: another account's key is not throttled by this one.
	b := newAccount(t)
	g.Eventually(func() error {
		_, _, err := slow.Store.Credentials(ctx, b.KeyID)
		return err
	}, timeout, poll).Should(Succeed())
	_, err = clientOf(url, b.KeyID, b.Secret, true).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	g.Expect(err).NotTo(HaveOccurred())
}

// serve serves h on loopback for the test.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// clientOf is newClient for another endpoint.
func clientOf(url, keyID, secret string, noAPIRetries bool) *ec2.Client {
	c := newClient(keyID, secret, noAPIRetries)
	return ec2.New(c.Options(), func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
}

func auditLines(g Gomega, accountID string) []audit.Record {
	var out []audit.Record
	for _, line := range strings.Split(auditLog.String(), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		g.ExpectWithOffset(1, json.Unmarshal([]byte(line), &r)).To(Succeed(), "audit line %q", line)
		if r.Account == accountID {
			out = append(out, r)
		}
	}
	return out
}

func TestEveryMutatingCallWritesOneAuditLineWithoutSecrets(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	userData := "#!/bin/sh\necho the-secret-password-42\n"
	out, err := a.EC2.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		UserData: aws.String(b64(userData))})
	g.Expect(err).NotTo(HaveOccurred())
	id1, id2 := aws.ToString(out.Instances[0].InstanceId), aws.ToString(out.Instances[1].InstanceId)
	kp, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("audited")})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: []string{id1}, Tags: tags("Name", "x")})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.NoRetry.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{"i-00000000000000000"}})
	expectError(g, err, "InvalidInstanceID.NotFound")
	_, err = a.NoRetry.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id2}, DryRun: aws.Bool(true)})
	expectError(g, err, "DryRunOperation")
	for i := 0; i < 3; i++ {
		_, err = a.EC2.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{})
		g.Expect(err).NotTo(HaveOccurred())
	}

	lines := auditLines(g, a.ID)
	g.Expect(lines).To(HaveLen(5), "one line per mutating call, none for Describe")
	byAction := map[string]audit.Record{}
	for _, r := range lines {
		byAction[r.Action] = r
		g.Expect(r.AccessKeyID).To(Equal(a.KeyID))
		g.Expect(r.RequestID).NotTo(BeEmpty())
		g.Expect(r.SourceIP).To(Equal("127.0.0.1"))
		g.Expect(r.Time).To(BeTemporally("~", time.Now(), time.Minute))
	}
	g.Expect(byAction["RunInstances"].Resources).To(ConsistOf(id1, id2, publicImageID))
	g.Expect(byAction["RunInstances"].Result).To(Equal("OK"))
	g.Expect(byAction["CreateKeyPair"].Resources).To(Equal([]string{aws.ToString(kp.KeyPairId)}))
	g.Expect(byAction["CreateTags"].Resources).To(Equal([]string{id1}))
	g.Expect(byAction["TerminateInstances"].Result).To(Equal("InvalidInstanceID.NotFound"))
	g.Expect(byAction["StopInstances"].Result).To(Equal("DryRunOperation"))
	g.Expect(byAction["StopInstances"].DryRun).To(BeTrue())

	raw := auditLog.String()
	g.Expect(raw).NotTo(ContainSubstring("the-secret-password-42"))
	g.Expect(raw).NotTo(ContainSubstring(b64(userData)))
	g.Expect(raw).NotTo(ContainSubstring(strings.Split(aws.ToString(kp.KeyMaterial), "\n")[1]))
	g.Expect(raw).NotTo(ContainSubstring(a.Secret))
}

// firstWrite calls at once, the first time the handler starts its answer (before the
// client can have any of it).
type firstWrite struct {
	http.ResponseWriter
	once *sync.Once
	at   func()
}

func (w firstWrite) WriteHeader(code int) {
	w.once.Do(w.at)
	w.ResponseWriter.WriteHeader(code)
}

func (w firstWrite) Write(p []byte) (int, error) {
	w.once.Do(w.at)
	return w.ResponseWriter.Write(p)
}

// A client that has its answer finds its call in the audit log and in the metrics:
// both are written before the answer (a test, a dashboard or an auditor reading right
// after the call must not miss it).
func TestACallIsAuditedAndCountedBeforeItIsAnswered(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logged, reg := &syncBuffer{}, prometheus.NewRegistry()
	own, err := endpoint.Start(ctx, env.Config, endpoint.Config{Region: region, Log: logr.Discard(), Audit: logged, Registerer: reg})
	g.Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	var auditAtAnswer string
	var countAtAnswer float64
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		own.Handler.ServeHTTP(firstWrite{ResponseWriter: w, once: &sync.Once{}, at: func() {
			mu.Lock()
			defer mu.Unlock()
			auditAtAnswer, countAtAnswer = logged.String(), requestsCounted(reg, "CreateKeyPair", "OK")
		}}, r)
	}))
	g.Eventually(func() error {
		_, _, err := own.Store.Credentials(ctx, a.KeyID)
		return err
	}, timeout, poll).Should(Succeed())

	out, err := clientOf(url, a.KeyID, a.Secret, true).CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("audited-early")})
	g.Expect(err).NotTo(HaveOccurred())
	mu.Lock()
	defer mu.Unlock()
	g.Expect(auditAtAnswer).To(ContainSubstring(aws.ToString(out.KeyPairId)), "the audit line was written only after the answer")
	g.Expect(countAtAnswer).To(Equal(1.0), "the call was counted only after the answer")
}

// requestsCounted reads koala_ec2_requests_total of an action and code from reg (-1
// if it cannot be read). It runs in the server's goroutine: it must not fail the test.
func requestsCounted(reg *prometheus.Registry, action, code string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != "koala_ec2_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["action"] == action && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// writeCert writes a self-signed certificate for 127.0.0.1 and returns its files and
// a pool that trusts it.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "koala-ec2"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

func TestTheEndpointServesHTTPSWithTheCertificateItIsGiven(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	certFile, keyFile, pool := writeCert(t)
	kp, err := tlsreload.Load(certFile, keyFile)
	g.Expect(err).NotTo(HaveOccurred())
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: kp.GetCertificate, MinVersion: tls.VersionTLS12})
	g.Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{Handler: ep.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	base := "https://" + ln.Addr().String()

	c := ec2.New(ec2.Options{
		Region: region, BaseEndpoint: aws.String(base),
		Credentials: credentials.NewStaticCredentialsProvider(a.KeyID, a.Secret, ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	out, err := c.DescribeRegions(a.ctx, &ec2.DescribeRegionsInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Regions).To(HaveLen(1))

	// A client that does not trust the certificate gets no answer.
	_, err = http.Get(base)
	var uerr *url.Error
	g.Expect(errors.As(err, &uerr)).To(BeTrue(), "error %v", err)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
