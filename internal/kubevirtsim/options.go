package kubevirtsim

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Node is a simulated node: VMIs are scheduled onto these.
type Node struct {
	// Name is the node's name (also its kubernetes.io/hostname label).
	Name string
	// Zone is the node's topology.kubernetes.io/zone label; empty leaves it out.
	Zone string
}

// Options configure the simulator. The zero value is valid: every field has a default.
type Options struct {
	// StartDelay is how long a new VMI takes to reach Running (default 2s), spread
	// evenly over Pending -> Scheduling -> Scheduled -> Running.
	StartDelay time.Duration
	// StopDelay is how long a simulated guest takes to shut down once its VMI is
	// deleted (default 1s).
	StopDelay time.Duration
	// DataVolumeDelay is how long a DataVolume import or clone takes to succeed once it
	// can start (default 2s).
	DataVolumeDelay time.Duration
	// PodCIDR is the simulated pod network; VMI addresses come from it, unique among
	// live VMIs (default "10.244.0.0/16"). IPv4 only.
	PodCIDR string
	// Nodes are the simulated nodes (default one node "koala-sim-node-1" with no zone).
	// Their Node objects are created when the manager starts.
	Nodes []Node
	// MaxConcurrentReconciles is each simulated controller's number of workers
	// (default 4).
	MaxConcurrentReconciles int
	// SnapshotDelay is how long a VolumeSnapshot takes to become readyToUse once its
	// source PVC is bound (default 1s).
	SnapshotDelay time.Duration
	// StorageClassName names the simulated CSI driver's StorageClass, created when the
	// manager starts as the cluster's default class, with volume expansion allowed
	// (default "kubevirt-simulator"). Its VolumeSnapshotClass, the default one, has the
	// same name.
	StorageClassName string
}

// Defaults.
const (
	DefaultStartDelay      = 2 * time.Second
	DefaultStopDelay       = 1 * time.Second
	DefaultDataVolumeDelay = 2 * time.Second
	DefaultPodCIDR         = "10.244.0.0/16"
	DefaultNodeName        = "koala-sim-node-1"
	DefaultConcurrency     = 4
	DefaultSnapshotDelay   = 1 * time.Second
	DefaultStorageClass    = "kubevirt-simulator"
)

// withDefaults returns o with every unset field set to its default.
func (o Options) withDefaults() Options {
	if o.StartDelay <= 0 {
		o.StartDelay = DefaultStartDelay
	}
	if o.StopDelay <= 0 {
		o.StopDelay = DefaultStopDelay
	}
	if o.DataVolumeDelay <= 0 {
		o.DataVolumeDelay = DefaultDataVolumeDelay
	}
	if o.PodCIDR == "" {
		o.PodCIDR = DefaultPodCIDR
	}
	if len(o.Nodes) == 0 {
		o.Nodes = []Node{{Name: DefaultNodeName}}
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultConcurrency
	}
	if o.SnapshotDelay <= 0 {
		o.SnapshotDelay = DefaultSnapshotDelay
	}
	if o.StorageClassName == "" {
		o.StorageClassName = DefaultStorageClass
	}
	return o
}

func (o Options) validate() error {
	seen := map[string]bool{}
	for _, n := range o.Nodes {
		if n.Name == "" {
			return errors.New("a simulated node has no name")
		}
		if seen[n.Name] {
			return fmt.Errorf("simulated node %q is listed twice", n.Name)
		}
		seen[n.Name] = true
	}
	return nil
}

// SetupWithManager registers the simulator's controllers with mgr, and a runnable that
// creates the simulated Node objects (and the simulated StorageClass and
// VolumeSnapshotClass) when mgr starts. mgr's scheme must hold Kubernetes', KubeVirt's
// (core and instancetype), CDI's and the CSI snapshot API's types.
func (o Options) SetupWithManager(mgr ctrl.Manager) error {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return fmt.Errorf("kubevirt simulator options: %w", err)
	}
	prefix, err := netip.ParsePrefix(o.PodCIDR)
	if err != nil {
		return fmt.Errorf("kubevirt simulator pod CIDR: %w", err)
	}
	ipam, err := newIPAllocator(prefix)
	if err != nil {
		return fmt.Errorf("kubevirt simulator pod CIDR: %w", err)
	}
	s := &simulator{
		opts:     o,
		client:   mgr.GetClient(),
		reader:   mgr.GetAPIReader(),
		recorder: mgr.GetEventRecorder(componentName),
		clock:    newPhaseClock(time.Now),
		ipam:     ipam,
		nodes:    newScheduler(o.Nodes),
	}
	if err := addIndexes(mgr); err != nil {
		return err
	}
	if err := mgr.Add(&nodeRunnable{sim: s}); err != nil {
		return fmt.Errorf("adding the simulated nodes: %w", err)
	}
	if err := mgr.Add(&storageClassRunnable{sim: s}); err != nil {
		return fmt.Errorf("adding the simulated storage classes: %w", err)
	}
	for _, setup := range []func(ctrl.Manager) error{
		s.setupVMController,
		s.setupVMIController,
		s.setupDataVolumeController,
		s.setupPVCController,
		s.setupDataSourceController,
		s.setupVolumeSnapshotController,
	} {
		if err := setup(mgr); err != nil {
			return err
		}
	}
	return nil
}
