// Package localstack runs Koala on one machine: a real kube-apiserver, etcd and
// kube-controller-manager, the CRDs, the operator, the EC2 endpoint and the KubeVirt
// simulator, with a ready account. It is what `make run` starts; nothing of it is
// deployed to a cluster.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/endpoint"
	"github.com/koala-dev/koala/internal/ec2/throttle"
	"github.com/koala-dev/koala/internal/kubevirtsim"
	"github.com/koala-dev/koala/internal/operator"
	"github.com/koala-dev/koala/internal/testenv"
)

// ReadyLine is printed (in a line of its own) once everything answers.
const ReadyLine = "koala local stack ready"

// Options configure the local stack.
type Options struct {
	// DataDir holds etcd's data, the kubeconfig and the env file; kept across runs.
	DataDir string
	// Listen is the EC2 endpoint's address.
	Listen string
	// Region names the region.
	Region string
	// AccountID and AccountNamespace are the ready-made account's.
	AccountID        string
	AccountNamespace string
	// ImagesNamespace holds the public images the stack ships.
	ImagesNamespace string
	// TerminatedRetention is how long terminated instances stay visible.
	TerminatedRetention time.Duration
	// Simulator configures the KubeVirt simulator (delays, nodes).
	Simulator kubevirtsim.Options
	// ExternalOperator leaves the operator out of this process: a koala-operator started
	// with the stack's kubeconfig takes its place (the benchmark does so, to measure the
	// operator's memory and requests apart from the rest). The stack is not ready until
	// that operator has made the account's access key.
	ExternalOperator bool
	// Log receives the components' logs.
	Log logr.Logger
	// Out receives the few lines meant for the user (the ready line).
	Out io.Writer
}

// Defaults for the local stack.
func Defaults() Options {
	return Options{
		DataDir:             ".koala",
		Listen:              "127.0.0.1:8773",
		Region:              "koala-1",
		AccountID:           "123456789012",
		AccountNamespace:    "demo",
		ImagesNamespace:     "koala-images",
		TerminatedRetention: time.Hour,
		Simulator: kubevirtsim.Options{
			Nodes: []kubevirtsim.Node{{Name: "koala-sim-node-1", Zone: "koala-1a"}, {Name: "koala-sim-node-2", Zone: "koala-1b"}},
		},
		Log: logr.Discard(),
		Out: os.Stdout,
	}
}

// Run starts the stack and serves until ctx ends, then stops everything it started.
func Run(ctx context.Context, opts Options) (retErr error) {
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	unlock, err := lock(dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	stopStrays(dataDir, opts.Log)

	// The port is checked first: failing after etcd has started is slower to read.
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("the EC2 endpoint cannot listen on %s: %w", opts.Listen, err)
	}
	defer ln.Close()

	// envtest learns the CA of the API server's serving certificate only when it makes
	// that certificate, which it does only when none is in the directory: with the one an
	// earlier run left there it panics before any client can connect. The certificate is
	// cheap to make again (the kubeconfig is written anew on every run); etcd's data is
	// what must survive.
	controlPlaneDir := filepath.Join(dataDir, "controlplane")
	if err := os.Remove(filepath.Join(controlPlaneDir, "apiserver", "apiserver.crt")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// With kube-controller-manager, as in a cluster: a deleted account's namespace goes
	// away, owner references cascade, and the account's ResourceQuota is enforced.
	env, err := testenv.Start(testenv.Options{DataDir: controlPlaneDir, ControllerManager: true})
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			retErr = errors.Join(retErr, fmt.Errorf("stopping the control plane: %w", err))
		}
	}()
	kubeconfig := filepath.Join(dataDir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig, opts.AccountNamespace); err != nil {
		return err
	}

	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	if err := seed(ctx, c, opts); err != nil {
		return fmt.Errorf("preparing the account and catalog: %w", err)
	}

	// The managers are stopped, and waited for, before the control plane: the API server
	// stops promptly only once its clients have gone (a watch still being set up when it
	// is told to stop keeps it alive past envtest's 20 s, and the stack then fails).
	var managers sync.WaitGroup
	defer managers.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 4)

	// The operator and the simulator run as separate managers, as they would as
	// separate programs: the operator knows nothing of the simulator.
	components := map[string]func(ctrl.Manager) error{
		"operator": func(m ctrl.Manager) error {
			return operator.Setup(ctx, m, operator.Config{Region: opts.Region, TerminatedRetention: opts.TerminatedRetention, InstanceWorkers: 8, VolumeWorkers: 8})
		},
		"kubevirt-simulator": opts.Simulator.SetupWithManager,
	}
	if opts.ExternalOperator {
		delete(components, "operator")
	}
	for name, setup := range components {
		cacheOpts := operator.CacheOptions()
		if name == "operator" {
			cacheOpts = operator.OperatorCacheOptions()
		}
		mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
			Cache:   cacheOpts,
			Scheme:  env.Scheme,
			Metrics: metricsserver.Options{BindAddress: "0"},
			Logger:  opts.Log.WithName(name),
		})
		if err != nil {
			return fmt.Errorf("creating the %s: %w", name, err)
		}
		if err := setup(mgr); err != nil {
			return fmt.Errorf("setting up the %s: %w", name, err)
		}
		managers.Add(1)
		go func(name string) {
			defer managers.Done()
			if err := mgr.Start(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}(name)
	}

	// The audit log goes to a file: the terminal is kept for what the user must read.
	auditLog, err := os.OpenFile(filepath.Join(dataDir, "audit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer auditLog.Close()
	ep, err := endpoint.Start(ctx, env.Config, endpoint.Config{
		Region:     opts.Region,
		Endpoint:   opts.Listen,
		Log:        opts.Log.WithName("ec2"),
		Registerer: prometheus.NewRegistry(),
		Throttle:   throttle.Defaults(),
		Audit:      auditLog,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ep.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("EC2 endpoint: %w", err)
		}
	}()
	defer func() {
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = srv.Shutdown(shutdown)
	}()

	// Ready means usable: the first run-instances needs the shipped image available,
	// and the account's key made by the operator.
	if err := waitForImages(ctx, c, opts.ImagesNamespace); err != nil {
		return err
	}
	accessKey, err := waitForKey(ctx, c)
	if err != nil {
		return err
	}
	for keyID := string(accessKey.Data[koalav1.AccessKeyIDKey]); ; {
		if _, _, err := ep.Store.Credentials(ctx, keyID); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}

	if err := waitForDefaultVPC(ctx, c, opts.AccountNamespace); err != nil {
		return err
	}

	envFile := filepath.Join(dataDir, "env")
	if err := writeEnv(envFile, kubeconfig, accessKey, opts); err != nil {
		return err
	}
	fmt.Fprintf(opts.Out, "%s: EC2 endpoint http://%s (region %s, account %s); run `source %s` to use aws and kubectl\n",
		ReadyLine, opts.Listen, opts.Region, opts.AccountID, relative(envFile))

	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		return err
	}
}

// relative shortens path for the user's eye when it is under the working directory.
func relative(path string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}

func writeEnv(path, kubeconfig string, key *corev1.Secret, opts Options) error {
	content := fmt.Sprintf(`# Written by the Koala local stack: source it to use kubectl and the AWS CLI with it.
export KUBECONFIG=%s
export AWS_ACCESS_KEY_ID=%s
export AWS_SECRET_ACCESS_KEY=%s
export AWS_DEFAULT_REGION=%s
export AWS_ENDPOINT_URL=http://%s
export AWS_EC2_METADATA_DISABLED=true
`, kubeconfig, key.Data[koalav1.AccessKeyIDKey], key.Data[koalav1.SecretAccessKeyKey], opts.Region, opts.Listen)
	return os.WriteFile(path, []byte(content), 0o600)
}

// seed makes sure the instance type catalog, the account with its access key, and the
// public image exist. It keeps what an earlier run made (the access key in
// particular), so that a restart changes nothing a user relies on.
func seed(ctx context.Context, c client.Client, opts Options) error {
	for _, it := range catalog.Default() {
		if err := c.Create(ctx, &it); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("installing instance type %s: %w", it.Name, err)
		}
	}
	// The account and its key, as a platform team makes them; the operator makes the
	// account's namespace and the key's Secret.
	for _, obj := range []client.Object{
		&koalav1.Account{
			ObjectMeta: metav1.ObjectMeta{Name: opts.AccountNamespace},
			Spec:       koalav1.AccountSpec{AccountID: opts.AccountID, DisplayName: "The local stack's account"},
		},
		&koalav1.AccessKey{
			ObjectMeta: metav1.ObjectMeta{Name: localKeyName},
			Spec:       koalav1.AccessKeySpec{Account: opts.AccountNamespace, Description: "The local stack's key, in .koala/env"},
		},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.ImagesNamespace}},
		// The network VPCs are carved from: with a default one, the account gets a
		// default VPC with a subnet per zone and a default security group, as in EC2.
		&koalav1.ProviderNetwork{
			ObjectMeta: metav1.ObjectMeta{Name: localProviderNetwork},
			Spec: koalav1.ProviderNetworkSpec{Type: koalav1.ProviderNetworkBridge, Bridge: "br-koala", Default: true,
				Description: "The local stack's network of the VPCs (simulated: no bridge is made)"},
		},
		// Elastic IPs come from TEST-NET-2 (RFC 5737): addresses that route nowhere, as
		// nothing announces them here.
		&koalav1.AddressPool{
			ObjectMeta: metav1.ObjectMeta{Name: localAddressPool},
			Spec: koalav1.AddressPoolSpec{Addresses: []string{"198.51.100.0/24"}, Default: true,
				Description: "The local stack's Elastic IPs (simulated: nothing announces them)"},
		},
	} {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	for _, img := range shippedImages(opts.ImagesNamespace) {
		if err := c.Create(ctx, img); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating image %s: %w", img.Name, err)
		}
	}
	return nil
}

// localProviderNetwork names the provider network the local stack declares.
const localProviderNetwork = "local"

// localAddressPool names the pool of the local stack's Elastic IPs.
const localAddressPool = "local-public"

// localKeyName names the AccessKey whose credentials go into .koala/env.
const localKeyName = "local"

// waitForKey waits until the operator has made the local key's Secret and returns it.
func waitForKey(ctx context.Context, c client.Client) (*corev1.Secret, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		key := &koalav1.AccessKey{}
		err := c.Get(ctx, client.ObjectKey{Name: localKeyName}, key)
		if err == nil && key.Status.SecretRef != nil {
			sec := &corev1.Secret{}
			err = c.Get(ctx, client.ObjectKey{Namespace: key.Status.SecretRef.Namespace, Name: key.Status.SecretRef.Name}, sec)
			if err == nil {
				return sec, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the operator did not make the access key's Secret: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// shippedImages are the public images the local stack offers, so that the first
// RunInstances works without preparation. The simulator does not download them.
func shippedImages(namespace string) []*koalav1.Image {
	return []*koalav1.Image{{
		ObjectMeta: metav1.ObjectMeta{Name: "ubuntu-24.04", Namespace: namespace},
		Spec: koalav1.ImageSpec{
			Name:         "ubuntu-24.04-server-amd64",
			Description:  "Ubuntu 24.04 LTS (Noble Numbat) server cloud image",
			Architecture: koalav1.ArchitectureX8664,
			Source: koalav1.ImageSource{HTTP: &koalav1.HTTPImageSource{
				URL: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
			}},
			RootDeviceName: "/dev/xvda",
			RootVolumeSize: 8,
			Public:         true,
		},
	}}
}

// waitForDefaultVPC waits until the account's default VPC has its default subnets
// available, so that the first run-instances lands on one, as in EC2.
func waitForDefaultVPC(ctx context.Context, c client.Client, account string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		acct := &koalav1.Account{}
		err := c.Get(ctx, client.ObjectKey{Name: account}, acct)
		if err == nil && acct.Status.Namespace != "" {
			var subnets koalav1.SubnetList
			if err = c.List(ctx, &subnets, client.InNamespace(acct.Status.Namespace)); err == nil {
				for i := range subnets.Items {
					if subnets.Items[i].Spec.DefaultForAZ && subnets.Items[i].Status.State == koalav1.NetworkStateAvailable {
						return nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the account's default VPC did not get an available subnet (%v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitForImages waits until every image the stack ships is available.
func waitForImages(ctx context.Context, c client.Client, namespace string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for _, want := range shippedImages(namespace) {
		for {
			img := &koalav1.Image{}
			err := c.Get(ctx, client.ObjectKeyFromObject(want), img)
			if err == nil && img.Status.State == koalav1.ImageStateAvailable {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("image %s did not become available (state %q, error %v)", want.Name, img.Status.State, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// lock takes an exclusive lock on the data directory, so that two stacks never share
// one etcd.
func lock(dataDir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dataDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another Koala local stack is running with %s (stop it first)", dataDir)
	}
	return func() { f.Close() }, nil
}

// stopStrays stops etcd, kube-apiserver and kube-controller-manager processes that an
// earlier run left behind (it was killed without a chance to stop them): they hold the
// data directory.
func stopStrays(dataDir string, log logr.Logger) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(raw), "\x00", " ")
		if !strings.Contains(cmdline, dataDir+string(filepath.Separator)) ||
			!(strings.Contains(cmdline, "etcd") || strings.Contains(cmdline, "kube-apiserver") || strings.Contains(cmdline, "kube-controller-manager")) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		log.Info("stopping a process left by an earlier run", "pid", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 50; i++ {
			if syscall.Kill(pid, 0) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
