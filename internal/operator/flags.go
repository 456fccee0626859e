package operator

import (
	"flag"
	"time"
)

// BindFlags defines cmd/koala-operator's flags on fs, setting opts. The chart's
// Deployment passes exactly these; its tests parse the rendered arguments with them.
func BindFlags(fs *flag.FlagSet, opts *RunOptions) {
	fs.StringVar(&opts.Region, "region", "koala-1", "The region this cluster is; zones default to <region>a when nodes have no zone label.")
	fs.DurationVar(&opts.TerminatedRetention, "terminated-retention", time.Hour, "How long a terminated instance stays visible before it is removed.")
	fs.IntVar(&opts.InstanceWorkers, "instance-workers", 8, "Instances reconciled in parallel.")
	fs.IntVar(&opts.VolumeWorkers, "volume-workers", 8, "Volumes reconciled in parallel.")
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	fs.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the liveness and readiness probes; 0 disables them.")
	fs.StringVar(&opts.PprofAddr, "pprof-bind-address", "", "Address to serve Go's profiles (/debug/pprof/) on, for profiling; empty disables it.")
	fs.BoolVar(&opts.LeaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	fs.StringVar(&opts.Namespace, "namespace", "", "The operator's own namespace, holding its Lease and status ConfigMap (default: the pod's).")
	fs.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (default: -namespace).")
	fs.StringVar(&opts.StatusConfigMap, "status-configmap", DefaultStatusConfigMap, "ConfigMap in -namespace that the operator reports its conditions in; empty: logs only.")
	fs.DurationVar(&opts.PrerequisitesInterval, "prerequisites-interval", DefaultPrerequisitesInterval, "How often to check again for missing KubeVirt, CDI, snapshot and Multus CRDs.")
	opts.Storage.BindFlags(fs)
}
