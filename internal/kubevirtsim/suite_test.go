package kubevirtsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/koala-dev/koala/internal/testenv"
)

// The suite runs one simulator against a real API server for every test, with short
// delays; each test works in its own namespace and asserts through a direct client.
var (
	k8s        client.Client
	watcher    client.WithWatch // k8s, for the tests that watch
	cfg        *rest.Config
	testScheme *runtime.Scheme

	// stopSimulator stops the running simulator and waits for it to end.
	stopSimulator func()

	simOpts = Options{
		StartDelay:      300 * time.Millisecond,
		StopDelay:       300 * time.Millisecond,
		DataVolumeDelay: 250 * time.Millisecond,
		SnapshotDelay:   200 * time.Millisecond,
		PodCIDR:         "10.88.0.0/16",
		Nodes: []Node{
			{Name: "sim-a1", Zone: "zone-a"},
			{Name: "sim-a2", Zone: "zone-a"},
			{Name: "sim-b1", Zone: "zone-b"},
		},
	}
)

const (
	timeout = 20 * time.Second
	poll    = 25 * time.Millisecond
)

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	var logger logr.Logger = logr.Discard()
	if os.Getenv("KUBEVIRTSIM_TEST_LOG") != "" {
		logger = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1, LogTimestamp: true})
	}
	ctrl.SetLogger(logger)

	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the API server:", err)
		}
	}()
	cfg, testScheme = env.Config, env.Scheme
	if err := startSimulator(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { stopSimulator() }()
	watcher, err = client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	k8s = watcher
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the test client:", err)
		return 1
	}
	return m.Run()
}

// newNamespace creates a namespace of its own for a test.
func newNamespace(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sim-" + hex.EncodeToString(b)}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

func newG(t *testing.T) gomega.Gomega {
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(poll)
	g.SetDefaultConsistentlyPollingInterval(poll)
	return g
}

// startSimulator runs a simulator (a manager with only the simulator's controllers)
// until stopSimulator; it returns once the manager's cache has synced.
func startSimulator() error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := simOpts.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the simulator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	stopSimulator = func() {
		cancel()
		if err := <-stopped; err != nil {
			fmt.Fprintln(os.Stderr, "simulator:", err)
		}
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		stopSimulator()
		return fmt.Errorf("the simulator's cache did not sync")
	}
	return nil
}
