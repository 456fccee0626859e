// Command koala-operator runs Koala's reconcilers: Instances become KubeVirt
// VirtualMachines, Images become CDI DataSources, KeyPairs get their IDs.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/koala-dev/koala/internal/operator"
	"github.com/koala-dev/koala/internal/scheme"
)

func main() {
	var (
		cfg           operator.Config
		metricsAddr   string
		probeAddr     string
		leaderElect   bool
		leaderElectNS string
	)
	flag.StringVar(&cfg.Region, "region", "koala-1", "The region this cluster is; zones default to <region>a when nodes have no zone label.")
	flag.DurationVar(&cfg.TerminatedRetention, "terminated-retention", time.Hour, "How long a terminated instance stays visible before it is removed.")
	flag.IntVar(&cfg.InstanceWorkers, "instance-workers", 8, "Instances reconciled in parallel.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the liveness and readiness probes.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	flag.StringVar(&leaderElectNS, "leader-election-namespace", "", "Namespace of the leader election lease (default: the pod's).")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "koala-operator.cloud.koala.dev",
		LeaderElectionNamespace: leaderElectNS,
	})
	if err != nil {
		fail(log.Error, err, "creating manager")
	}
	ctx := ctrl.SetupSignalHandler()
	if err := operator.Setup(ctx, mgr, cfg); err != nil {
		fail(log.Error, err, "setting up reconcilers")
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		fail(log.Error, err, "adding health check")
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		fail(log.Error, err, "adding ready check")
	}
	log.Info("starting operator", "region", cfg.Region)
	if err := mgr.Start(ctx); err != nil {
		fail(log.Error, err, "running manager")
	}
}

func fail(logError func(error, string, ...any), err error, msg string) {
	logError(err, msg)
	fmt.Fprintln(os.Stderr, msg+":", err)
	os.Exit(1)
}
