// Package operator wires Koala's reconcilers into a controller-runtime manager: the
// one place that lists them, used by cmd/koala-operator and the local stack.
package operator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/controllers"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/intern"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/metrics"
)

// Config is the operator's configuration.
type Config struct {
	// Region is the region's name; zones default to "<region>a".
	Region string
	// TerminatedRetention is how long terminated instances stay visible.
	TerminatedRetention time.Duration
	// InstanceWorkers bounds concurrent instance reconciles.
	InstanceWorkers int
	// VolumeWorkers bounds concurrent volume reconciles (0: one at a time).
	VolumeWorkers int
	// Storage maps EBS volume types to StorageClasses and names the VolumeSnapshotClass
	// of snapshots; its zero value uses the cluster's default classes.
	Storage controllers.StorageConfig
	// Clock is the instance reconciler's clock (launch and termination times, the
	// retention of terminated instances); nil is the real one. Tests set it to play a
	// slow cluster without waiting.
	Clock clock.PassiveClock
}

// CacheOptions are the cache settings the operator's manager needs: of all Secrets it
// reads only those holding access keys, so it neither holds nor may list the others,
// and of all Services only those of Elastic IPs.
func CacheOptions() cache.Options {
	hasKey, err := labels.NewRequirement(koalav1.AccessKeyLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key; cannot fail
	}
	eip, err := labels.NewRequirement(koalav1.AddressNameLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key; cannot fail
	}
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*hasKey)},
			// Of all Services, only those of Elastic IPs.
			&corev1.Service{}: {Label: labels.NewSelector().Add(*eip)},
		},
		DefaultTransform: intern.CacheTransform(),
	}
}

// OperatorCacheOptions are CacheOptions with what only the operator may drop: of
// VirtualMachineInstances it keeps what the reconcilers read (the guest's phase, node,
// addresses and volumes), of VirtualMachines what it reads or patches (see slimVM),
// of DataVolumes and PersistentVolumeClaims their progress and size. A VMI's
// domain spec and conditions are most of its size; at 10,000 instances they, and the
// four objects per instance kept whole, would be most of the operator's memory. (The KubeVirt simulator, which shares
// CacheOptions in tests and the local stack, needs them whole.)
func OperatorCacheOptions() cache.Options {
	o := CacheOptions()
	// Each slimmed object's strings are interned too, as CacheOptions' default does.
	o.ByObject[&kubevirtv1.VirtualMachine{}] = cache.ByObject{Transform: intern.After(slimVM)}
	o.ByObject[&kubevirtv1.VirtualMachineInstance{}] = cache.ByObject{Transform: intern.After(slimVMI)}
	o.ByObject[&cdiv1beta1.DataVolume{}] = cache.ByObject{Transform: intern.After(slimDataVolume)}
	o.ByObject[&corev1.PersistentVolumeClaim{}] = cache.ByObject{Transform: intern.After(slimPVC)}
	return o
}

// slimDataVolume keeps of a DataVolume its metadata (without managed fields, and of
// its labels and annotations only Koala's) and its progress, with its conditions only
// once it failed (they say why): the operator creates DataVolumes whole, reads only how
// far they got, and patches only their owners.
func slimDataVolume(obj any) (any, error) {
	dv, ok := obj.(*cdiv1beta1.DataVolume)
	if !ok {
		return obj, nil
	}
	keepKoalaMeta(&dv.ObjectMeta)
	dv.Spec = cdiv1beta1.DataVolumeSpec{}
	status := cdiv1beta1.DataVolumeStatus{Phase: dv.Status.Phase, Progress: dv.Status.Progress}
	if dv.Status.Phase == cdiv1beta1.Failed {
		status.Conditions = dv.Status.Conditions
	}
	dv.Status = status
	return dv, nil
}

// slimPVC keeps of a PersistentVolumeClaim its metadata (without managed fields, owner
// references and finalizers, and of its labels and annotations only Koala's: the
// volume reconciler finds a claim by its name), its storage class and requests, and its
// phase and capacity: what the volume reconciler reads, and the request it grows with
// a merge patch. Requests equal to the capacity are dropped: a resource list with one
// entry costs some 900 bytes, and a claim that is not growing asks for what it has
// (the volume reconciler reads its capacity as its request then). Claims of one
// capacity share one list of it (sharedCapacities).
func slimPVC(obj any) (any, error) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return obj, nil
	}
	keepKoalaMeta(&pvc.ObjectMeta)
	if pvc.OwnerReferences != nil {
		pvc.OwnerReferences = nil
	}
	requests := pvc.Spec.Resources.Requests
	if equality.Semantic.DeepEqual(requests, pvc.Status.Capacity) {
		requests = nil
	}
	pvc.Spec = corev1.PersistentVolumeClaimSpec{
		StorageClassName: pvc.Spec.StorageClassName,
		Resources:        corev1.VolumeResourceRequirements{Requests: requests},
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: pvc.Status.Phase, Capacity: sharedCapacities.shared(pvc.Status.Capacity)}
	return pvc, nil
}

// slimVM keeps of a VirtualMachine what the reconcilers read or change: its metadata
// (without managed fields, and of its labels and annotations only Koala's), run
// strategy, instance type, and of its template the labels, volumes (a cloud-init disk
// without its contents) and disks. What the operator changes it patches with a JSON merge patch
// computed from the cached copy, which holds only the fields that differ: lists it
// changes (volumes, disks) are kept whole, the rest (networks, interfaces, the node
// selector, data volume templates, status) it sets only when it creates the VM.
func slimVM(obj any) (any, error) {
	vm, ok := obj.(*kubevirtv1.VirtualMachine)
	if !ok {
		return obj, nil
	}
	keepKoalaMeta(&vm.ObjectMeta)
	spec := kubevirtv1.VirtualMachineSpec{
		// Running is deprecated, but VirtualMachine.RunStrategy() still reads it.
		RunStrategy: vm.Spec.RunStrategy, Running: vm.Spec.Running,
		Instancetype: vm.Spec.Instancetype, Preference: vm.Spec.Preference,
	}
	if t := vm.Spec.Template; t != nil {
		spec.Template = &kubevirtv1.VirtualMachineInstanceTemplateSpec{ObjectMeta: t.ObjectMeta}
		spec.Template.Spec.Volumes = withoutCloudInitContents(t.Spec.Volumes)
		spec.Template.Spec.Domain.Devices.Disks = t.Spec.Domain.Devices.Disks
	}
	vm.Spec = spec
	vm.Status = kubevirtv1.VirtualMachineStatus{}
	return vm, nil
}

// withoutCloudInitContents is vols with its cloud-init disks' user and network data
// dropped: per instance the largest strings of a VM, the user data already held in the
// Instance. The instance reconciler reads the VM from the API server before it patches
// its volumes. vols itself is left as it is.
func withoutCloudInitContents(vols []kubevirtv1.Volume) []kubevirtv1.Volume {
	full := func(v kubevirtv1.Volume) bool {
		return v.CloudInitNoCloud != nil && *v.CloudInitNoCloud != (kubevirtv1.CloudInitNoCloudSource{})
	}
	if !slices.ContainsFunc(vols, full) {
		return vols
	}
	out := slices.Clone(vols)
	for i := range out {
		if full(out[i]) {
			out[i].CloudInitNoCloud = &kubevirtv1.CloudInitNoCloudSource{}
		}
	}
	return out
}

// slimVMI keeps of a VirtualMachineInstance its metadata (without managed fields, and
// of its labels and annotations only Koala's: the operator patches its labels only
// with a merge patch, which leaves the others as they are), the
// names of the claims its volumes use, and its phase, node, the names and IP addresses
// of its interfaces and which of its volumes are ready: all that the instance and volume
// reconcilers read.
func slimVMI(obj any) (any, error) {
	vmi, ok := obj.(*kubevirtv1.VirtualMachineInstance)
	if !ok {
		return obj, nil
	}
	keepKoalaMeta(&vmi.ObjectMeta)
	vols := make([]kubevirtv1.Volume, 0, len(vmi.Spec.Volumes))
	for _, v := range vmi.Spec.Volumes {
		slim := kubevirtv1.Volume{Name: v.Name}
		slim.DataVolume, slim.PersistentVolumeClaim = v.DataVolume, v.PersistentVolumeClaim
		vols = append(vols, slim)
	}
	vmi.Spec = kubevirtv1.VirtualMachineInstanceSpec{Volumes: vols}
	ifaces := make([]kubevirtv1.VirtualMachineInstanceNetworkInterface, 0, len(vmi.Status.Interfaces))
	for _, i := range vmi.Status.Interfaces {
		ifaces = append(ifaces, kubevirtv1.VirtualMachineInstanceNetworkInterface{Name: i.Name, IP: i.IP})
	}
	disks := make([]kubevirtv1.VolumeStatus, 0, len(vmi.Status.VolumeStatus))
	for _, d := range vmi.Status.VolumeStatus {
		disks = append(disks, kubevirtv1.VolumeStatus{Name: d.Name, Phase: d.Phase})
	}
	vmi.Status = kubevirtv1.VirtualMachineInstanceStatus{
		Phase:        vmi.Status.Phase,
		NodeName:     vmi.Status.NodeName,
		Interfaces:   ifaces,
		VolumeStatus: disks,
	}
	return vmi, nil
}

// Setup registers the indexes and reconcilers with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	if err := index.Setup(ctx, mgr.GetCache(), index.Operator); err != nil {
		return err
	}
	// Some of the operator's indexes hold values only across namespaces.
	c := index.ClusterWideLookups(mgr.GetClient())
	// One allocator for every reconciler that takes addresses or VLANs: what it
	// remembers of numbers taken lately saves probes while its cache catches up. Its
	// live reader sees a claim that the cache has not heard of yet.
	alloc := &ipam.Allocator{Cache: c, Client: c, Live: mgr.GetAPIReader()}
	netCfg := controllers.NetworkConfig{Region: cfg.Region, Allocator: alloc}
	instanceClock := cfg.Clock
	if instanceClock == nil {
		instanceClock = clock.RealClock{}
	}
	reconcilers := []interface{ SetupWithManager(ctrl.Manager) error }{
		&controllers.InstanceReconciler{
			Client:                  c,
			Recorder:                mgr.GetEventRecorder("koala-operator"),
			Clock:                   instanceClock,
			Region:                  cfg.Region,
			TerminatedRetention:     cfg.TerminatedRetention,
			MaxConcurrentReconciles: cfg.InstanceWorkers,
			Storage:                 cfg.Storage,
			Network:                 netCfg,
			APIReader:               mgr.GetAPIReader(),
		},
		&controllers.VolumeReconciler{Client: c, Recorder: mgr.GetEventRecorder("koala-operator"), Clock: clock.RealClock{}, Storage: cfg.Storage,
			MaxConcurrentReconciles: cfg.VolumeWorkers},
		&controllers.SnapshotReconciler{Client: c, Recorder: mgr.GetEventRecorder("koala-operator"), Clock: clock.RealClock{}, Storage: cfg.Storage},
		&controllers.ImageReconciler{Client: c},
		&controllers.KeyPairReconciler{Client: c},
		&controllers.AccountReconciler{Client: c},
		&controllers.AccessKeyReconciler{Client: c, Clock: clock.RealClock{}},
		&controllers.NetworkReconciler{Client: c, APIReader: mgr.GetAPIReader(), NetworkConfig: netCfg},
		&controllers.SubnetReconciler{Client: c, NetworkConfig: netCfg},
		&controllers.SecurityGroupReconciler{Client: c},
		&controllers.DefaultVPCReconciler{Client: c},
		&controllers.ProviderNetworkReconciler{Client: c},
		&controllers.AddressReconciler{Client: c, NetworkConfig: netCfg},
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up %T: %w", r, err)
		}
	}
	// Resources by state, on the manager's metrics endpoint. The registry is
	// process-wide: a second operator in one process (tests) keeps the first's.
	if err := ctrlmetrics.Registry.Register(metrics.NewCollector(mgr.GetCache())); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}
