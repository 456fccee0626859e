package chart_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
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
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	kubevirtv1 "kubevirt.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/config"
	"github.com/koala-dev/koala/internal/ec2/endpoint"
	"github.com/koala-dev/koala/internal/kubevirtsim"
	"github.com/koala-dev/koala/internal/operator"
	"github.com/koala-dev/koala/internal/scheme"
	"github.com/koala-dev/koala/internal/testenv"
)

// cluster is the API server the chart is installed into, with its audit log.
type cluster struct {
	env      *envtest.Environment
	admin    client.Client
	cfg      *rest.Config
	auditLog string
	// warnings collects the API server's warnings for admin requests (Pod Security
	// admission warns about Deployments whose pods would be refused).
	warnings *warningLog
	// withheld are the third-party CRDs left out at start (Multus'), for the test of
	// the operator's preflight to install once it has seen them missing.
	withheld []*apiextensionsv1.CustomResourceDefinition
}

type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// auditPolicy records every request's metadata (who, what, the authorization
// decision), never bodies.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
`

// startCluster runs kube-apiserver and etcd with an audit log, and installs the CRDs
// of KubeVirt, CDI and CSI snapshots as those projects would; Koala's own CRDs come
// from the chart. Multus' CRD is left out: the operator must notice it is missing.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	assets, err := testenv.BinaryAssets()
	if err != nil {
		t.Fatal(err)
	}
	all, err := config.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	var thirdParty, withheld []*apiextensionsv1.CustomResourceDefinition
	for _, crd := range all {
		switch crd.Spec.Group {
		case koalav1.GroupVersion.Group:
		case multusGroup:
			// Attachments first (Multus), then policies (multi-networkpolicy), the
			// order in which a cluster usually gets them.
			if crd.Spec.Names.Kind == "NetworkAttachmentDefinition" {
				withheld = append([]*apiextensionsv1.CustomResourceDefinition{crd}, withheld...)
			} else {
				withheld = append(withheld, crd)
			}
		default:
			thirdParty = append(thirdParty, crd)
		}
	}
	dir := t.TempDir()
	policy, logPath := filepath.Join(dir, "audit-policy.yaml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	s := scheme.New()
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDs: thirdParty, Scheme: s}
	env.ControlPlane.GetAPIServer().Configure().
		Set("audit-policy-file", policy).
		Set("audit-log-path", logPath).
		Set("audit-log-format", "json")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg.QPS, cfg.Burst = 500, 1000
	warnings := &warningLog{}
	adminCfg := rest.CopyConfig(cfg)
	adminCfg.WarningHandlerWithContext = warnings
	admin, err := client.New(adminCfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{env: env, admin: admin, cfg: cfg, auditLog: logPath, warnings: warnings, withheld: withheld}
}

// multusGroup is the API group of Multus' CRDs, which startCluster withholds.
const multusGroup = "k8s.cni.cncf.io"

// serviceAccount is the username of the chart's service account of a component.
func serviceAccount(component string) string {
	return "system:serviceaccount:" + releaseNamespace + ":koala-" + component
}

// as returns a rest.Config that acts as the chart's service account of a component:
// every request is authorized by the chart's RBAC and nothing else.
func (c *cluster) as(component string) *rest.Config {
	cfg := rest.CopyConfig(c.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccount(component)}
	return cfg
}

// key identifies an object across renderings.
func key(o *unstructured.Unstructured) string {
	return o.GetAPIVersion() + "/" + o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// install applies a rendering with server-side apply, as `helm install` or `helm
// upgrade` would: the CRDs first (waiting until they are served), then the rest; then
// it deletes what the previous rendering had and this one has not, and returns those
// objects' keys.
func (c *cluster) install(ctx context.Context, t *testing.T, r, previous *rendering) []string {
	t.Helper()
	g := NewWithT(t)
	var crds, rest []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	for _, o := range crds {
		g.Expect(c.admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner(fieldManager), client.ForceOwnership)).To(Succeed(), "applying %s", key(o))
	}
	g.Eventually(func(g Gomega) {
		for _, o := range crds {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			g.Expect(c.admin.Get(ctx, client.ObjectKey{Name: o.GetName()}, crd)).To(Succeed())
			established := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			g.Expect(established).To(BeTrue(), "CRD %s is not established", o.GetName())
		}
	}, timeout, poll).Should(Succeed())
	// The client's REST mapper learns of the new kinds on its next miss.
	for _, o := range rest {
		g.Eventually(func() error {
			return c.admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
				client.FieldOwner(fieldManager), client.ForceOwnership)
		}, timeout, poll).Should(Succeed(), "applying %s", key(o))
	}
	var pruned []string
	if previous != nil {
		keep := map[string]bool{}
		for _, o := range r.objects {
			keep[key(o)] = true
		}
		for _, o := range previous.objects {
			if keep[key(o)] || o.GetKind() == "CustomResourceDefinition" { // helm never deletes CRDs
				continue
			}
			pruned = append(pruned, key(o))
			g.Expect(client.IgnoreNotFound(c.admin.Delete(ctx, o.DeepCopy()))).To(Succeed())
		}
	}
	c.waitForGrants(ctx, t, r)
	return pruned
}

// waitForGrants waits until the API server authorizes every verb the rendering's roles
// grant the service accounts. It authorizes from its informers' copy of the roles and
// bindings just applied, which follows a moment later: a component started before
// would be refused at first, and checkAudit counts every refusal. The checks are the
// admin's SubjectAccessReviews, so the service accounts' audit stays theirs alone.
func (c *cluster) waitForGrants(ctx context.Context, t *testing.T, r *rendering) {
	t.Helper()
	g := NewWithT(t)
	for _, gr := range grants(t, r) {
		attrs := &authorizationv1.ResourceAttributes{Group: gr.group, Resource: gr.resource, Name: gr.name, Verb: gr.verb}
		if base, sub, ok := strings.Cut(gr.resource, "/"); ok {
			attrs.Resource, attrs.Subresource = base, sub
		}
		if gr.namespaced {
			attrs.Namespace = releaseNamespace
		}
		g.Eventually(func(g Gomega) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: serviceAccount(gr.component), Groups: []string{"system:authenticated"}, ResourceAttributes: attrs}}
			g.Expect(c.admin.Create(ctx, sar)).To(Succeed())
			g.Expect(sar.Status.Allowed).To(BeTrue(), "%s may not %s %s %s %q yet: %s", gr.component, gr.verb, gr.group, gr.resource, gr.name, sar.Status.Reason)
		}, timeout, poll).Should(Succeed())
	}
}

// runningOperator is an operator run by the test, as cmd/koala-operator runs it.
type runningOperator struct {
	cancel   context.CancelFunc
	done     chan error
	probeURL string
}

// startOperator runs the operator with the rendered Deployment's arguments and the
// identity of the chart's operator service account. Only the addresses change: metrics
// off, probes on a free loopback port.
func (c *cluster) startOperator(t *testing.T, r *rendering) *runningOperator {
	t.Helper()
	args := containerArgs(t, r.get(t, "Deployment", "koala-operator"), map[string]string{"POD_NAMESPACE": releaseNamespace})
	var opts operator.RunOptions
	fs := flag.NewFlagSet("koala-operator", flag.ContinueOnError)
	operator.BindFlags(fs, &opts)
	fs.String("zap-log-level", "", "parsed by zap in the binary")
	if err := fs.Parse(args); err != nil {
		t.Fatalf("the chart's operator arguments %v: %v", args, err)
	}
	probes := freeLoopbackAddr(t)
	opts.MetricsAddr, opts.ProbeAddr = "0", probes
	skip, recoverPanic := true, false
	opts.Controller = ctrlconfig.Controller{SkipNameValidation: &skip, RecoverPanic: &recoverPanic}
	opts.Log = logr.Discard()
	ctx, cancel := context.WithCancel(context.Background())
	op := &runningOperator{cancel: cancel, done: make(chan error, 1), probeURL: "http://" + probes}
	go func() { op.done <- operator.Run(ctx, c.as("operator"), opts) }()
	return op
}

// stop stops the operator and waits until it has released its Lease.
func (o *runningOperator) stop(t *testing.T) {
	t.Helper()
	o.cancel()
	select {
	case err := <-o.done:
		if err != nil {
			t.Errorf("the operator stopped with an error: %v", err)
		}
	case <-time.After(timeout):
		t.Error("the operator did not stop")
	}
}

// probe answers the status code and body of one of the operator's probes.
func (o *runningOperator) probe(path string) (int, string, error) {
	resp, err := http.Get(o.probeURL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// runningEndpoint is the EC2 endpoint run by the test on loopback.
type runningEndpoint struct {
	cancel context.CancelFunc
	srv    *httptest.Server
}

// startEndpoint runs the EC2 endpoint with the rendered Deployment's settings and
// the identity of the chart's endpoint service account, served on loopback.
func (c *cluster) startEndpoint(t *testing.T, r *rendering) *runningEndpoint {
	t.Helper()
	args := containerArgs(t, r.get(t, "Deployment", "koala-ec2"), nil)
	cfg := endpoint.Config{Log: logr.Discard()}
	for flagName, field := range map[string]*string{
		"region": &cfg.Region, "public-endpoint": &cfg.Endpoint, "default-instance-type": &cfg.DefaultInstanceType,
		"platform-owner-id": &cfg.PlatformOwnerID, "platform-owner-alias": &cfg.PlatformOwnerAlias,
	} {
		v, ok := argValue(args, flagName)
		if !ok {
			t.Fatalf("the chart does not set the endpoint's --%s: %v", flagName, args)
		}
		*field = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The endpoint's cache waits for every informer; one its RBAC forbids never syncs.
	// Bound the wait and say what was refused.
	type started struct {
		ep  *endpoint.Endpoint
		err error
	}
	done := make(chan started, 1)
	go func() {
		ep, err := endpoint.Start(ctx, c.as("ec2"), cfg)
		done <- started{ep, err}
	}()
	select {
	case s := <-done:
		if s.err != nil {
			cancel()
			t.Fatalf("starting the endpoint as its service account: %v; refused: %v", s.err, refused(t, c.auditLog))
		}
		return &runningEndpoint{cancel: cancel, srv: httptest.NewServer(s.ep.Handler)}
	case <-time.After(timeout):
		cancel()
		t.Fatalf("the endpoint's cache did not sync as its service account; refused: %v", refused(t, c.auditLog))
		return nil
	}
}

func (e *runningEndpoint) stop() {
	e.srv.Close()
	e.cancel()
}

// startSimulator plays KubeVirt's and CDI's controllers with admin rights, as those
// projects' own service accounts would, until ctx ends.
func (c *cluster) startSimulator(ctx context.Context, t *testing.T) {
	t.Helper()
	skip := true
	mgr, err := ctrl.NewManager(c.cfg, ctrl.Options{
		Scheme:     c.env.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     logr.Discard(),
		Controller: ctrlconfig.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	sim := kubevirtsim.Options{
		StartDelay: 300 * time.Millisecond, StopDelay: 200 * time.Millisecond, DataVolumeDelay: 200 * time.Millisecond,
		Nodes: []kubevirtsim.Node{{Name: "node-a", Zone: region + "a"}, {Name: "node-b", Zone: region + "b"}},
	}
	if err := sim.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
}

// statusCondition reads the operator's condition from its status ConfigMap.
func (c *cluster) statusCondition(ctx context.Context, g Gomega) *metav1.Condition {
	cm := &corev1.ConfigMap{}
	g.Expect(c.admin.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: operator.DefaultStatusConfigMap}, cm)).To(Succeed())
	conds, err := operator.ReadStatus(cm)
	g.Expect(err).NotTo(HaveOccurred())
	cond := meta.FindStatusCondition(conds, operator.PrerequisitesCondition)
	g.Expect(cond).NotTo(BeNil(), "the status ConfigMap has no %s condition: %v", operator.PrerequisitesCondition, cm.Data)
	return cond
}

// statusEvents are the events regarding the status ConfigMap with a reason.
func (c *cluster) statusEvents(ctx context.Context, g Gomega, reason string) []eventsv1.Event {
	var list eventsv1.EventList
	g.Expect(c.admin.List(ctx, &list, client.InNamespace(releaseNamespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason && e.Regarding.Kind == "ConfigMap" && e.Regarding.Name == operator.DefaultStatusConfigMap {
			out = append(out, e)
		}
	}
	return out
}

// account is the first account and its access key, made as docs/install.md says.
type account struct {
	namespace string
	ec2       *ec2.Client
}

func (c *cluster) createAccount(ctx context.Context, t *testing.T, endpointURL string) *account {
	t.Helper()
	g := NewWithT(t)
	acct := &koalav1.Account{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
		// With quotas, as platform teams give them: the operator keeps a ResourceQuota.
		Spec: koalav1.AccountSpec{AccountID: "123456789012", DisplayName: "Team A",
			Quotas: koalav1.AccountQuotas{Instances: ptr.To[int32](20), Snapshots: ptr.To[int32](50)}},
	}
	g.Expect(c.admin.Create(ctx, acct)).To(Succeed())
	key := &koalav1.AccessKey{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a-ci"},
		Spec:       koalav1.AccessKeySpec{Account: acct.Name, Description: "CI"},
	}
	g.Expect(c.admin.Create(ctx, key)).To(Succeed())
	var keyID, secret string
	g.Eventually(func(g Gomega) {
		g.Expect(c.admin.Get(ctx, client.ObjectKeyFromObject(key), key)).To(Succeed())
		g.Expect(key.Status.SecretRef).NotTo(BeNil(), "the operator made no Secret for the key")
		sec := &corev1.Secret{}
		g.Expect(c.admin.Get(ctx, client.ObjectKey{Namespace: key.Status.SecretRef.Namespace, Name: key.Status.SecretRef.Name}, sec)).To(Succeed())
		keyID, secret = string(sec.Data[koalav1.AccessKeyIDKey]), string(sec.Data[koalav1.SecretAccessKeyKey])
		g.Expect(keyID).NotTo(BeEmpty())
	}, timeout, poll).Should(Succeed())
	g.Expect(c.admin.Get(ctx, client.ObjectKeyFromObject(acct), acct)).To(Succeed())
	return &account{namespace: acct.Status.Namespace, ec2: ec2.New(ec2.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpointURL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})}
}

// instance is DescribeInstances' view of one instance.
func (a *account) instance(ctx context.Context, g Gomega, id string) types.Instance {
	out, err := a.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, out.Reservations).To(HaveLen(1))
	return out.Reservations[0].Instances[0]
}

func waitFor(ctx context.Context, g Gomega, a *account, want types.InstanceStateName, id string) {
	in := &ec2.DescribeInstancesInput{InstanceIds: []string{id}}
	var err error
	switch want {
	case types.InstanceStateNameRunning:
		err = ec2.NewInstanceRunningWaiter(a.ec2, func(o *ec2.InstanceRunningWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
		}).Wait(ctx, in, timeout)
	case types.InstanceStateNameStopped:
		err = ec2.NewInstanceStoppedWaiter(a.ec2, func(o *ec2.InstanceStoppedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
		}).Wait(ctx, in, timeout)
	case types.InstanceStateNameTerminated:
		err = ec2.NewInstanceTerminatedWaiter(a.ec2, func(o *ec2.InstanceTerminatedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
		}).Wait(ctx, in, timeout)
	}
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred(), "waiting for %s to be %s", id, want)
}

// snapshot is what the API server holds of an object, for before/after comparisons.
type snapshot struct {
	UID        string
	Generation int64
	Spec       string
	Status     string
	Data       string
}

func snap(t *testing.T, obj client.Object) snapshot {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	str := func(field string) string {
		raw, _ := json.Marshal(u[field])
		return string(raw)
	}
	return snapshot{UID: string(obj.GetUID()), Generation: obj.GetGeneration(), Spec: str("spec"), Status: str("status"), Data: str("data")}
}

// koalaObjects snapshots every Koala object, and every VirtualMachine behind them.
func (c *cluster) koalaObjects(ctx context.Context, t *testing.T) map[string]snapshot {
	t.Helper()
	out := map[string]snapshot{}
	lists := []client.ObjectList{&koalav1.InstanceList{}, &koalav1.ImageList{}, &koalav1.KeyPairList{},
		&koalav1.AccountList{}, &koalav1.AccessKeyList{}, &kubevirtv1.VirtualMachineList{}}
	for _, l := range lists {
		if err := c.admin.List(ctx, l); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range items {
			obj := item.(client.Object)
			out[fmt.Sprintf("%T %s/%s", obj, obj.GetNamespace(), obj.GetName())] = snap(t, obj)
		}
	}
	return out
}

// chartObjects snapshots every object of a rendering as the API server holds it.
func (c *cluster) chartObjects(ctx context.Context, t *testing.T, r *rendering) map[string]snapshot {
	t.Helper()
	out := map[string]snapshot{}
	for _, o := range r.objects {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := c.admin.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			t.Errorf("%s: %v", key(o), err)
			continue
		}
		out[key(o)] = snap(t, live)
	}
	return out
}

// bumpedChart copies the chart and sets its version, as the next release would.
func bumpedChart(t *testing.T, version string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "koala")
	if err := os.CopyFS(dir, os.DirFS(chartDir(t))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "Chart.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bumped := regexp.MustCompile(`(?m)^version: .*$`).ReplaceAll(raw, []byte("version: "+version))
	if string(bumped) == string(raw) {
		t.Fatal("Chart.yaml has no version line")
	}
	if err := os.WriteFile(path, bumped, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
