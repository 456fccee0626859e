package operator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/koala-dev/koala/internal/scheme"
)

// LeaderElectionID names the Lease that operator replicas elect their leader with.
const LeaderElectionID = "koala-operator.cloud.koala.dev"

// DefaultPrerequisitesInterval is how often a waiting operator checks again.
const DefaultPrerequisitesInterval = 30 * time.Second

// RunOptions configure Run: what cmd/koala-operator's flags set.
type RunOptions struct {
	Config
	// MetricsAddr and ProbeAddr are the metrics and the liveness/readiness endpoints'
	// addresses; "0" disables one.
	MetricsAddr, ProbeAddr string
	// PprofAddr serves Go's profiles (net/http/pprof) when set; "" or "0" disables it.
	PprofAddr string
	// LeaderElect makes replicas elect one leader that reconciles.
	LeaderElect bool
	// Namespace is the operator's own: its Lease and its status ConfigMap are there.
	// Empty means the pod's namespace, when running in a pod.
	Namespace string
	// LeaderElectionNamespace overrides Namespace for the Lease.
	LeaderElectionNamespace string
	// StatusConfigMap names the ConfigMap the operator reports its conditions in;
	// empty reports in logs only.
	StatusConfigMap string
	// Prerequisites are the resources that must be served before the reconcilers
	// start (default DefaultPrerequisites), checked every PrerequisitesInterval
	// (default DefaultPrerequisitesInterval).
	Prerequisites         []Prerequisite
	PrerequisitesInterval time.Duration
	// Controller tunes every controller (tests run several operators in one process).
	Controller config.Controller
	Log        logr.Logger
}

// Run is the operator: it waits until the CRDs it builds on are served (reporting what
// is missing in its status ConfigMap and as events, while answering liveness probes and
// failing readiness), then runs the reconcilers until ctx ends. A missing KubeVirt is
// something to install, not a reason to crash-loop.
func Run(ctx context.Context, restCfg *rest.Config, opts RunOptions) error {
	log := opts.Log
	if opts.Namespace == "" {
		opts.Namespace = podNamespace()
	}
	if opts.LeaderElectionNamespace == "" {
		opts.LeaderElectionNamespace = opts.Namespace
	}
	if opts.Prerequisites == nil {
		opts.Prerequisites = DefaultPrerequisites()
	}
	if opts.PrerequisitesInterval <= 0 {
		opts.PrerequisitesInterval = DefaultPrerequisitesInterval
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("building the Kubernetes client: %w", err)
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("starting the event recorder: %w", err)
	}
	defer broadcaster.Shutdown()
	status := &statusReporter{
		client:   cs,
		key:      types.NamespacedName{Namespace: opts.Namespace, Name: opts.StatusConfigMap},
		recorder: broadcaster.NewRecorder(clientgoscheme.Scheme, "koala-operator"),
		log:      log.WithName("preflight"),
	}

	if err := waitForPrerequisites(ctx, cs, status, opts); err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while waiting: not a failure
		}
		return err
	}

	// How long the API server takes to answer the operator, by verb: a reconcile that
	// writes waits for it, so this tells a slow API server from a slow operator.
	// Process-wide (client-go's own hook), so registered here, where the process is the
	// operator alone, and not in Setup, which shares a process with others in tests
	// and in the local stack.
	ctrlmetrics.RegisterRESTClientMetricsWithOptions(ctrlmetrics.RESTClientMetricsOptions{DurationBuckets: apiLatencyBuckets},
		ctrlmetrics.MetricRequestLatency)

	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Cache:                         OperatorCacheOptions(),
		Logger:                        log,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:        opts.ProbeAddr,
		PprofBindAddress:              opts.PprofAddr,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    opts.Controller,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := Setup(ctx, mgr, opts.Config); err != nil {
		return fmt.Errorf("setting up the reconcilers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the ready check: %w", err)
	}
	log.Info("starting the reconcilers", "region", opts.Region, "leaderElection", opts.LeaderElect)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// apiLatencyBuckets start at 1 ms and are finer than client-go's up to 250 ms (around
// the 100 ms a reconcile should stay under), then follow them: a write the operator
// waits for takes a few milliseconds on a quiet API server, and client-go's buckets
// start at 5 ms.
var apiLatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60}

// waitForPrerequisites checks the prerequisites now and every interval until they are
// all served, reporting each change. Meanwhile it serves the probes itself: alive, not
// ready, with what is missing as the readiness answer.
func waitForPrerequisites(ctx context.Context, cs kubernetes.Interface, status *statusReporter, opts RunOptions) error {
	probes := &waitingProbes{}
	probes.set("checking prerequisites")
	stop, err := probes.serve(opts.ProbeAddr)
	if err != nil {
		return err
	}
	defer stop()

	tick := time.NewTicker(opts.PrerequisitesInterval)
	defer tick.Stop()
	for {
		missing, err := MissingPrerequisites(cs.Discovery(), opts.Prerequisites)
		cond := metav1.Condition{Type: PrerequisitesCondition}
		switch {
		case err != nil:
			cond.Status, cond.Reason = metav1.ConditionUnknown, ReasonDiscoveryFailed
			cond.Message = fmt.Sprintf("cannot read the API server's discovery (checking again every %s): %v", opts.PrerequisitesInterval, err)
		case len(missing) > 0:
			cond.Status, cond.Reason = metav1.ConditionFalse, ReasonPrerequisitesMissing
			cond.Message = fmt.Sprintf("the API server does not serve what Koala builds on; install %s (see docs/install.md). Checking again every %s.",
				describeMissing(missing), opts.PrerequisitesInterval)
		default:
			cond.Status, cond.Reason = metav1.ConditionTrue, ReasonPrerequisitesFound
			cond.Message = "every API resource Koala builds on is served; the reconcilers are starting"
		}
		status.report(ctx, cond)
		if cond.Status == metav1.ConditionTrue {
			return nil
		}
		probes.set(cond.Message)
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for prerequisites: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// waitingProbes answer the kubelet while the operator waits for its prerequisites: the
// process is alive (no restart would help), and not ready.
type waitingProbes struct {
	mu     sync.Mutex
	reason string
}

func (p *waitingProbes) set(reason string) {
	p.mu.Lock()
	p.reason = reason
	p.mu.Unlock()
}

// serve listens on addr ("0" or empty: not at all) until the returned stop is called,
// which frees the address for the manager's own probes.
func (p *waitingProbes) serve(addr string) (stop func(), err error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		reason := p.reason
		p.mu.Unlock()
		http.Error(w, "waiting: "+reason, http.StatusServiceUnavailable)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for probes on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ctrl.Log.WithName("preflight").Error(err, "serving probes")
		}
	}()
	return func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		<-done
	}, nil
}

// podNamespace is the namespace of the pod the operator runs in, from its service
// account's mount; empty outside a pod.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	raw, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}
