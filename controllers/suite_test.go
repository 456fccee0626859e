package controllers_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/controllers"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/kubevirtsim"
	"github.com/koala-dev/koala/internal/operator"
	"github.com/koala-dev/koala/internal/testenv"
	"github.com/koala-dev/koala/internal/testgen"
)

// The suite runs the operator and the KubeVirt simulator against a real API server.
var (
	env *testenv.Environment
	// k8s is a direct client, for assertions: it reads what the API server holds.
	k8s client.WithWatch
	// retention of terminated instances in this suite.
	retention = 3 * time.Second
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
	defer env.Stop()
	k8s, err = client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range catalog.Default() {
		it := catalog.Default()[i]
		if err := k8s.Create(ctx, &it); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// The platform team's provider network: with it, every Account gets a default VPC.
	if err := k8s.Create(ctx, testgen.ProviderNetwork("physnet")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sim := kubevirtsim.Options{
		StartDelay: 300 * time.Millisecond, StopDelay: 200 * time.Millisecond, DataVolumeDelay: 200 * time.Millisecond,
		Nodes: []kubevirtsim.Node{{Name: "node-a", Zone: "zone-a"}, {Name: "node-b", Zone: "zone-b"}},
	}
	if err := startManager(ctx, env.Config, "simulator", sim.SetupWithManager); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stopOperator, err = startOperator(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// stopOperator stops the running operator; tests that restart it replace it.
var stopOperator context.CancelFunc

func startOperator(parent context.Context) (context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(parent)
	// The operator's own requests go through operatorWrites, so that a test can count
	// the writes it makes (the simulator shares the API server and the user agent).
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(operatorWrites.wrap)
	err := startManager(ctx, cfg, "operator", func(mgr ctrl.Manager) error {
		return operator.Setup(ctx, mgr, operator.Config{Region: "test-1", TerminatedRetention: retention, InstanceWorkers: 4, Clock: operatorClock,
			Storage: controllers.StorageConfig{SnapshotClasses: map[koalav1.VolumeType]string{koalav1.VolumeTypeIO1: io1SnapshotClass}}})
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return cancel, nil
}

// startManager runs a manager with the given setup until ctx ends.
func startManager(ctx context.Context, cfg *rest.Config, name string, setup func(ctrl.Manager) error) error {
	cacheOpts := operator.CacheOptions()
	if name == "operator" {
		cacheOpts = operator.OperatorCacheOptions() // as the operator runs
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Cache:      cacheOpts,
		Scheme:     env.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     logr.Discard(),
		Controller: ctrlConfig(),
	})
	if err != nil {
		return fmt.Errorf("creating %s manager: %w", name, err)
	}
	if err := setup(mgr); err != nil {
		return fmt.Errorf("setting up %s: %w", name, err)
	}
	go func() { _ = mgr.Start(ctx) }()
	return nil
}

// namespace creates a namespace of its own for one test (envtest has no namespace
// controller, so namespaces are never removed; each test gets a fresh one).
func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// ctrlConfig lets operators run one after the other in one process (their controllers'
// names would collide in controller-runtime's registry) and lets a panic in a
// reconciler fail the suite instead of being logged and retried.
func ctrlConfig() config.Controller {
	skip, recoverPanic := true, false
	return config.Controller{SkipNameValidation: &skip, RecoverPanic: &recoverPanic}
}
