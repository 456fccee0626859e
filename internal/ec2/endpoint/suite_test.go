package endpoint_test

// The integration suite of the EC2 endpoint: the real API server (etcd and
// kube-apiserver), the operator and the KubeVirt simulator, with the endpoint served on
// loopback and driven by aws-sdk-go-v2 as a user's program would drive it. Each test
// makes its own account (namespace and access key), so tests run in parallel and never
// see each other's instances.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/endpoint"
	"github.com/koala-dev/koala/internal/kubevirtsim"
	"github.com/koala-dev/koala/internal/operator"
	"github.com/koala-dev/koala/internal/testenv"
	"github.com/koala-dev/koala/internal/testgen"
)

const (
	region = "test-1"
	zoneA  = "test-1a"
	zoneB  = "test-1b"
	// timeout bounds every wait for something the operator and simulator converge on.
	timeout = 30 * time.Second
	poll    = 50 * time.Millisecond
	// platformNamespace holds the platform's public image: a namespace that is no
	// account, so the image's owner is the platform ("amazon").
	platformNamespace = "platform-images"
)

var (
	env *testenv.Environment
	// k8s is a direct client for arrangements and assertions: what the API server holds.
	k8s client.Client
	ep  *endpoint.Endpoint
	// endpointURL is the EC2 endpoint served on loopback.
	endpointURL string
	// publicImageID is the platform's public image, available.
	publicImageID string
	// serverErrors records every 5xx answer: none is expected in this suite, whatever
	// the client sends.
	serverErrors = &statusLog{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())
	var err error
	env, err = testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := setup(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "setting up the suite:", err)
		return 1
	}
	code := m.Run()
	if bad := serverErrors.all(); len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "the endpoint answered with a server error %d times: %v\n", len(bad), bad)
		code = 1
	}
	return code
}

func setup(ctx context.Context) error {
	var err error
	if k8s, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		return err
	}
	for _, it := range catalog.Default() {
		if err := k8s.Create(ctx, &it); err != nil {
			return fmt.Errorf("installing instance type %s: %w", it.Name, err)
		}
	}
	sim := kubevirtsim.Options{
		StartDelay: 300 * time.Millisecond, StopDelay: 200 * time.Millisecond, DataVolumeDelay: 200 * time.Millisecond,
		Nodes: []kubevirtsim.Node{{Name: "node-a", Zone: zoneA}, {Name: "node-b", Zone: zoneB}},
	}
	if err := startManager(ctx, "simulator", sim.SetupWithManager); err != nil {
		return err
	}
	if err := startManager(ctx, "operator", func(mgr ctrl.Manager) error {
		// Terminated instances stay visible for longer than the suite runs.
		return operator.Setup(ctx, mgr, operator.Config{Region: region, TerminatedRetention: time.Hour, InstanceWorkers: 8})
	}); err != nil {
		return err
	}
	// The endpoint's requests to the API server are recorded (endpointRequests), for
	// tests that count what a call costs.
	epConfig := rest.CopyConfig(env.Config)
	epConfig.Wrap(endpointRequests.wrap)
	if ep, err = endpoint.Start(ctx, epConfig, endpoint.Config{Region: region, Endpoint: "ec2.test-1.koala.test", Log: logr.Discard(), Audit: auditLog}); err != nil {
		return fmt.Errorf("starting the endpoint: %w", err)
	}
	srv := httptest.NewServer(serverErrors.wrap(ep.Handler))
	go func() { <-ctx.Done(); srv.Close() }()
	endpointURL = srv.URL

	// The platform's provider network, before any account exists: every account gets
	// a default VPC, and its instances launched without a subnet an address of its
	// default subnet, as in EC2. (networks_test.go's ensureNetworkPlatform makes the
	// same object; made here, no test sees the world change under it.)
	if err := k8s.Create(ctx, &koalav1.ProviderNetwork{
		ObjectMeta: metav1.ObjectMeta{Name: "physnet"},
		Spec:       koalav1.ProviderNetworkSpec{Type: koalav1.ProviderNetworkBridge, Bridge: "br-vpc", Default: true},
	}); err != nil {
		return err
	}

	// The platform's public image, shared by every test.
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}}); err != nil {
		return err
	}
	img := testgen.Image("ubuntu", platformNamespace, testgen.Public())
	img.Spec.Name = "ubuntu-24.04-server-amd64"
	img.Spec.Description = "Ubuntu 24.04 LTS"
	if err := k8s.Create(ctx, img); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(img), img)
		zs, zerr := ep.Store.Zones(ctx, region)
		if err == nil && img.Status.State == koalav1.ImageStateAvailable && zerr == nil && len(zs) == 2 {
			publicImageID = img.Status.ImageID
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the public image (state %q) or the zones (%v) are not ready", img.Status.State, zs)
		}
		time.Sleep(poll)
	}
}

// endpointRequests records the shared endpoint's requests to the API server.
var endpointRequests = &requestLog{}

// requestLog records requests ("GET /api/...?watch=true") that pass its transport.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

// count is how many requests have been recorded so far.
func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// since returns the requests recorded after the first n, but the watches of the
// endpoint's cache.
func (l *requestLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs[n:] {
		if !strings.Contains(r, "watch") {
			out = append(out, r)
		}
	}
	return out
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// auditLog receives the shared endpoint's audit lines.
var auditLog = &syncBuffer{}

// syncBuffer is a bytes.Buffer that the endpoint writes and tests read concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startManager runs a manager with the given setup until ctx ends.
func startManager(ctx context.Context, name string, setup func(ctrl.Manager) error) error {
	skip, recoverPanic := true, false
	cacheOpts := operator.CacheOptions()
	if name == "operator" {
		cacheOpts = operator.OperatorCacheOptions() // as the operator runs
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Cache:      cacheOpts,
		Scheme:     env.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     logr.Discard(),
		Controller: config.Controller{SkipNameValidation: &skip, RecoverPanic: &recoverPanic},
	})
	if err != nil {
		return fmt.Errorf("creating the %s manager: %w", name, err)
	}
	if err := setup(mgr); err != nil {
		return fmt.Errorf("setting up the %s: %w", name, err)
	}
	go func() { _ = mgr.Start(ctx) }()
	return nil
}

// statusLog wraps the endpoint's handler and records every 5xx it answers.
type statusLog struct {
	mu  sync.Mutex
	bad []string
}

func (l *statusLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if rec.status >= 500 {
			l.mu.Lock()
			l.bad = append(l.bad, fmt.Sprintf("%s %s: %d", r.Method, r.URL, rec.status))
			l.mu.Unlock()
		}
	})
}

func (l *statusLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.bad...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// account is one AWS account of a test: its namespace, its access key and two
// clients (one with the SDK's retries, one that does not retry the endpoint's errors,
// for asserting them).
type account struct {
	ID, Namespace string
	KeyID, Secret string
	Key           *koalav1.AccessKey
	EC2, NoRetry  *ec2.Client
	t             *testing.T
	ctx           context.Context
}

// accountOption changes the Account or the AccessKey a test's account is made with.
type accountOption func(*koalav1.Account, *koalav1.AccessKey)

// readOnly makes the account's key read-only.
func readOnly() accountOption {
	return func(_ *koalav1.Account, k *koalav1.AccessKey) { k.Spec.Permission = koalav1.PermissionReadOnly }
}

// withQuotas sets the account's quotas.
func withQuotas(q koalav1.AccountQuotas) accountOption {
	return func(a *koalav1.Account, _ *koalav1.AccessKey) { a.Spec.Quotas = q }
}

// newAccount makes a fresh account as a platform team would: an Account with a
// random 12-digit ID and an AccessKey; it waits until the operator has made the key's
// Secret and the endpoint accepts the key.
func newAccount(t *testing.T, opts ...accountOption) *account {
	t.Helper()
	ctx := context.Background()
	g := NewWithT(t)
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	acct := &koalav1.Account{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "acct-"},
		Spec:       koalav1.AccountSpec{AccountID: fmt.Sprintf("%012d", n.Int64()+100_000_000_000)},
	}
	key := &koalav1.AccessKey{ObjectMeta: metav1.ObjectMeta{GenerateName: "key-"}}
	for _, o := range opts {
		o(acct, key)
	}
	g.Expect(k8s.Create(ctx, acct)).To(Succeed())
	key.Spec.Account = acct.Name
	g.Expect(k8s.Create(ctx, key)).To(Succeed())
	a := &account{ID: acct.Spec.AccountID, Namespace: acct.Name, t: t, ctx: ctx, Key: key}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(key), key)).To(Succeed())
		g.Expect(key.Status.SecretRef).NotTo(BeNil())
		sec := &corev1.Secret{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: key.Status.SecretRef.Namespace, Name: key.Status.SecretRef.Name}, sec)).To(Succeed())
		a.KeyID, a.Secret = string(sec.Data[koalav1.AccessKeyIDKey]), string(sec.Data[koalav1.SecretAccessKeyKey])
	}, timeout, poll).Should(Succeed(), "the operator never made the access key's Secret")
	a.EC2 = newClient(a.KeyID, a.Secret, false)
	a.NoRetry = newClient(a.KeyID, a.Secret, true)
	g.Eventually(func() error {
		_, _, err := ep.Store.Credentials(ctx, a.KeyID)
		return err
	}, timeout, poll).Should(Succeed(), "the endpoint never accepted the access key")
	return a
}

// newClient is an EC2 client of the endpoint, built without any shared configuration
// so that nothing of the machine's AWS settings leaks in. Without API retries it still
// retries a broken connection (as the SDK's own retryer does), so that an error
// asserted is always the endpoint's answer.
func newClient(keyID, secret string, noAPIRetries bool) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpointURL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	}, func(o *ec2.Options) {
		if noAPIRetries {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.RetryableConnectionError{}}
			})
		}
	})
}

// apiError is what a client learns from a failed call: the code, the message and the
// HTTP status.
type apiError struct {
	Code, Message string
	Status        int
}

func asAPIError(err error) apiError {
	var out apiError
	var ae smithy.APIError
	if errors.As(err, &ae) {
		out.Code, out.Message = ae.ErrorCode(), ae.ErrorMessage()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		out.Status = re.HTTPStatusCode()
	}
	return out
}

// plain flattens an error to its text, for assertions inside Eventually: gomega prints
// the structure of a failing error, and an SDK error holds the HTTP response whose
// connection the transport's goroutine is still using (a data race).
func plain(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

// expectError asserts that err is the EC2 error code, a client error (4xx) with a
// message.
func expectError(g Gomega, err error, code string) apiError {
	g.ExpectWithOffset(1, err).To(HaveOccurred(), "expected %s", code)
	e := asAPIError(err)
	g.ExpectWithOffset(1, e.Code).To(Equal(code), "error: %v", err)
	g.ExpectWithOffset(1, e.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)), "error: %v", err)
	g.ExpectWithOffset(1, e.Message).NotTo(BeEmpty())
	return e
}

// runInstances launches count instances of the public image as t3.micro, with opts
// applied to the input.
func (a *account) runInstances(g Gomega, count int32, opts ...func(*ec2.RunInstancesInput)) *ec2.RunInstancesOutput {
	in := &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(count), MaxCount: aws.Int32(count)}
	for _, o := range opts {
		o(in)
	}
	out, err := a.EC2.RunInstances(a.ctx, in)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, out.Instances).To(HaveLen(int(count)))
	return out
}

// runOne launches one instance and returns its ID.
func (a *account) runOne(g Gomega, opts ...func(*ec2.RunInstancesInput)) string {
	out := a.runInstances(g, 1, opts...)
	return aws.ToString(out.Instances[0].InstanceId)
}

func withType(t types.InstanceType) func(*ec2.RunInstancesInput) {
	return func(in *ec2.RunInstancesInput) { in.InstanceType = t }
}

func withTags(kv ...string) func(*ec2.RunInstancesInput) {
	return func(in *ec2.RunInstancesInput) {
		spec := types.TagSpecification{ResourceType: types.ResourceTypeInstance}
		for i := 0; i+1 < len(kv); i += 2 {
			spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		in.TagSpecifications = append(in.TagSpecifications, spec)
	}
}

func withZone(z string) func(*ec2.RunInstancesInput) {
	return func(in *ec2.RunInstancesInput) { in.Placement = &types.Placement{AvailabilityZone: aws.String(z)} }
}

func withKey(name string) func(*ec2.RunInstancesInput) {
	return func(in *ec2.RunInstancesInput) { in.KeyName = aws.String(name) }
}

func withImage(id string) func(*ec2.RunInstancesInput) {
	return func(in *ec2.RunInstancesInput) { in.ImageId = aws.String(id) }
}

// The SDK's waiters, polling quickly: the simulator boots a guest in a fraction of a
// second.
func (a *account) waitRunning(g Gomega, ids ...string) {
	w := ec2.NewInstanceRunningWaiter(a.EC2, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	g.ExpectWithOffset(1, w.Wait(a.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, timeout)).To(Succeed())
}

func (a *account) waitStopped(g Gomega, ids ...string) {
	w := ec2.NewInstanceStoppedWaiter(a.EC2, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	g.ExpectWithOffset(1, w.Wait(a.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, timeout)).To(Succeed())
}

func (a *account) waitTerminated(g Gomega, ids ...string) {
	w := ec2.NewInstanceTerminatedWaiter(a.EC2, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	g.ExpectWithOffset(1, w.Wait(a.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, timeout)).To(Succeed())
}

// describe returns the account's instance with that ID, as DescribeInstances shows it.
func (a *account) describe(g Gomega, id string) types.Instance {
	out, err := a.EC2.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, out.Reservations).To(HaveLen(1))
	g.ExpectWithOffset(1, out.Reservations[0].Instances).To(HaveLen(1))
	return out.Reservations[0].Instances[0]
}

// instanceIDs lists the IDs that DescribeInstances returns for the input, walking
// every page, sorted.
func (a *account) instanceIDs(g Gomega, in *ec2.DescribeInstancesInput) []string {
	var out []string
	p := ec2.NewDescribeInstancesPaginator(a.NoRetry, in)
	for p.HasMorePages() {
		page, err := p.NextPage(a.ctx)
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				out = append(out, aws.ToString(i.InstanceId))
			}
		}
	}
	sort.Strings(out)
	return out
}

// instanceObjects counts the account's Instance objects in the API server.
func (a *account) instanceObjects(g Gomega) int {
	var list koalav1.InstanceList
	g.ExpectWithOffset(1, k8s.List(a.ctx, &list, client.InNamespace(a.Namespace))).To(Succeed())
	return len(list.Items)
}

// privateImage creates an image in the account and waits (with the SDK's waiter)
// until it is available.
func (a *account) privateImage(g Gomega, name string) string {
	img := testgen.Image(name, a.Namespace)
	img.Spec.Name = name
	g.ExpectWithOffset(1, k8s.Create(a.ctx, img)).To(Succeed())
	var id string
	g.EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(img), img)).To(Succeed())
		id = img.Status.ImageID
		g.Expect(id).NotTo(BeEmpty())
	}, timeout, poll).Should(Succeed())
	// The operator confirmed the ID in the API server; the endpoint's cache sees it a
	// moment later, and the waiter does not retry NotFound.
	g.EventuallyWithOffset(1, func() error {
		_, err := a.EC2.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		return plain(err)
	}, timeout, poll).Should(Succeed())
	w := ec2.NewImageAvailableWaiter(a.EC2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	g.ExpectWithOffset(1, w.Wait(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}, timeout)).To(Succeed())
	return id
}

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func tagMap(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}
