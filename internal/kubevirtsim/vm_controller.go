package kubevirtsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	virtv1 "kubevirt.io/api/core/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// KubeVirt's event reasons for what its VM controller does.
const (
	reasonSuccessfulCreate           = "SuccessfulCreate"
	reasonFailedCreate               = "FailedCreate"
	reasonSuccessfulDelete           = "SuccessfulDelete"
	reasonSuccessfulDataVolumeCreate = "SuccessfulDataVolumeCreate"
)

const orphanFinalizer = "orphan"

// The VirtualMachine controller plays KubeVirt's virt-controller VM loop (and the
// garbage collector for what a VM owns).
func (s *simulator) setupVMController(mgr ctrl.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named("kubevirtsim-virtualmachine").
		For(&virtv1.VirtualMachine{}).
		Owns(&virtv1.VirtualMachineInstance{}).
		Watches(&cdiv1.DataVolume{}, handler.EnqueueRequestsFromMapFunc(s.vmsForDataVolume)).
		Watches(&instancetypev1beta1.VirtualMachineClusterInstancetype{}, handler.EnqueueRequestsFromMapFunc(s.vmsForInstancetype)).
		Watches(&instancetypev1beta1.VirtualMachineInstancetype{}, handler.EnqueueRequestsFromMapFunc(s.vmsForInstancetype)).
		WithOptions(s.controllerOptions()).
		Complete(reconcile.Func(s.reconcileVM))
	if err != nil {
		return fmt.Errorf("setting up the simulated VirtualMachine controller: %w", err)
	}
	return nil
}

// vmScope is what one VM reconcile works on.
type vmScope struct {
	vm *virtv1.VirtualMachine
	// origStatus is the VM's status as read, to tell whether it must be written.
	origStatus virtv1.VirtualMachineStatus
	vmi        *virtv1.VirtualMachineInstance // the VM's VMI, nil when there is none
	// vmiBlocked: a VMI with the VM's name exists but belongs to something else (an
	// earlier VM of the same name); no VMI can be created until it is gone.
	vmiBlocked bool
	// dataVolumes are the DataVolumes the VM's template volumes name, by name (nil
	// value: not found).
	dataVolumes map[string]*cdiv1.DataVolume
	// startWanted: the run strategy wants a VMI that does not exist (yet).
	startWanted bool
	syncErr     *syncError
}

func (s *simulator) reconcileVM(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	vm := &virtv1.VirtualMachine{}
	if err := s.client.Get(ctx, req.NamespacedName, vm); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	sc := &vmScope{vm: vm, origStatus: *vm.Status.DeepCopy()}
	if err := s.loadVMI(ctx, sc); err != nil {
		return done(reconcile.Result{}, err)
	}
	if vm.DeletionTimestamp != nil {
		return done(reconcile.Result{}, s.reconcileVMDelete(ctx, sc))
	}
	if patched, err := s.markAndFinalize(ctx, vm, virtv1.VirtualMachineControllerFinalizer); err != nil {
		return done(reconcile.Result{}, err)
	} else if patched {
		sc.origStatus = *vm.Status.DeepCopy() // as the API server has it now
	}
	for _, phase := range []func(context.Context, *vmScope) error{
		s.ensureDataVolumes,
		s.syncRunStrategy,
		s.syncHotplugVolumes,
		s.syncVMIGeneration,
	} {
		if err := phase(ctx, sc); err != nil {
			var se *syncError
			if !errors.As(err, &se) {
				return done(reconcile.Result{}, err)
			}
			sc.syncErr = se
			break
		}
	}
	return done(reconcile.Result{}, s.writeVMStatus(ctx, sc))
}

// loadVMI finds the VM's VMI in the cache.
func (s *simulator) loadVMI(ctx context.Context, sc *vmScope) error {
	vmi := &virtv1.VirtualMachineInstance{}
	err := s.client.Get(ctx, client.ObjectKeyFromObject(sc.vm), vmi)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	ref := metav1.GetControllerOf(vmi)
	switch {
	case ref != nil && ref.UID != sc.vm.UID:
		sc.vmiBlocked = true
		return nil
	case ref == nil && sc.vm.DeletionTimestamp != nil:
		sc.vmiBlocked = true // not adopted by a VM on its way out
		return nil
	case ref == nil:
		// An orphan of the VM's name is adopted, as KubeVirt does.
		if err := s.adopt(ctx, vmi, sc.vm); err != nil {
			return err
		}
	}
	sc.vmi = vmi
	return nil
}

// syncRunStrategy starts or stops the VMI as the VM's run strategy says, as KubeVirt's
// syncRunStrategy does.
func (s *simulator) syncRunStrategy(ctx context.Context, sc *vmScope) error {
	vm, vmi := sc.vm, sc.vmi
	strategy, err := vm.RunStrategy()
	if err != nil {
		return &syncError{reason: reasonFailedCreate, message: err.Error()}
	}
	switch strategy {
	case virtv1.RunStrategyAlways:
		if vmi != nil {
			if vmi.IsFinal() || hasStopRequestFor(vm, vmi) {
				return s.stopVMI(ctx, sc)
			}
			return nil
		}
		return s.startVMI(ctx, sc)
	case virtv1.RunStrategyRerunOnFailure:
		if vmi != nil {
			if vmi.DeletionTimestamp == nil && (vmi.IsFinal() || hasStopRequestFor(vm, vmi)) {
				failed := vmi.Status.Phase == virtv1.Failed
				if err := s.stopVMI(ctx, sc); err != nil {
					return err
				}
				if failed && !hasStartRequest(vm) {
					vm.Status.StateChangeRequests = append(vm.Status.StateChangeRequests, virtv1.VirtualMachineStateChangeRequest{Action: virtv1.StartRequest})
				}
			}
			return nil
		}
		// Coming from another run strategy (or a first start), or restarting after a
		// failure: start; after a success: stay stopped.
		if !hasStartRequest(vm) && vm.Status.RunStrategy == strategy {
			return nil
		}
		return s.startVMI(ctx, sc)
	case virtv1.RunStrategyManual:
		if vmi != nil {
			if hasStopRequestFor(vm, vmi) {
				return s.stopVMI(ctx, sc)
			}
			return nil
		}
		if hasStartRequest(vm) {
			return s.startVMI(ctx, sc)
		}
		return nil
	case virtv1.RunStrategyHalted:
		return s.stopVMI(ctx, sc)
	case virtv1.RunStrategyOnce:
		if vmi == nil {
			return s.startVMI(ctx, sc)
		}
		return nil
	default:
		return &syncError{reason: reasonFailedCreate, message: fmt.Sprintf("unknown runstrategy: %s", strategy)}
	}
}

func hasStartRequest(vm *virtv1.VirtualMachine) bool {
	return len(vm.Status.StateChangeRequests) > 0 && vm.Status.StateChangeRequests[0].Action == virtv1.StartRequest
}

func hasStopRequestFor(vm *virtv1.VirtualMachine, vmi *virtv1.VirtualMachineInstance) bool {
	if len(vm.Status.StateChangeRequests) == 0 {
		return false
	}
	r := vm.Status.StateChangeRequests[0]
	return r.Action == virtv1.StopRequest && r.UID != nil && *r.UID == vmi.UID
}

// stopVMI deletes the VM's VMI (the simulated guest then shuts down).
func (s *simulator) stopVMI(ctx context.Context, sc *vmScope) error {
	vmi := sc.vmi
	if vmi == nil || vmi.DeletionTimestamp != nil {
		return nil
	}
	if err := s.deleteIgnoringNotFound(ctx, vmi); err != nil {
		return fmt.Errorf("deleting VMI %s: %w", vmi.Name, err)
	}
	s.event(sc.vm, corev1.EventTypeNormal, reasonSuccessfulDelete, "DeleteVirtualMachineInstance", "Stopped the virtual machine by deleting the virtual machine instance %v", vmi.UID)
	now := metav1.Now()
	vmi.DeletionTimestamp = &now // for this reconcile's status
	return nil
}

// startVMI creates the VM's VMI once its DataVolumes are ready.
func (s *simulator) startVMI(ctx context.Context, sc *vmScope) error {
	vm := sc.vm
	sc.startWanted = true
	if sc.vmiBlocked || !dataVolumesReady(sc) {
		return nil
	}
	it, err := s.findInstancetype(ctx, vm)
	if err != nil {
		return err
	}
	vmi, err := vmiFromVM(vm, it)
	if err != nil {
		return &syncError{reason: reasonFailedCreate, message: err.Error()}
	}
	if err := s.client.Create(ctx, vmi); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil // the cache had not seen it yet
		}
		s.event(vm, corev1.EventTypeWarning, reasonFailedCreate, "CreateVirtualMachineInstance", "Error creating virtual machine instance: %v", err)
		return &syncError{reason: reasonFailedCreate, message: fmt.Sprintf("Failure while starting VMI: %v", err)}
	}
	s.event(vm, corev1.EventTypeNormal, reasonSuccessfulCreate, "CreateVirtualMachineInstance", "Started the virtual machine by creating the new virtual machine instance %v", vmi.Name)
	sc.vmi = vmi
	return nil
}

// vmiFromVM builds the VMI for vm, as KubeVirt's setupVMIFromVM and the instancetype
// expansion do.
func vmiFromVM(vm *virtv1.VirtualMachine, it *instancetypev1beta1.VirtualMachineInstancetypeSpec) (*virtv1.VirtualMachineInstance, error) {
	if vm.Spec.Template == nil {
		return nil, errors.New("the VirtualMachine has no template")
	}
	hash, err := templateHash(vm)
	if err != nil {
		return nil, err
	}
	t := vm.Spec.Template
	vmi := &virtv1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{
			Name:        vm.Name,
			Namespace:   vm.Namespace,
			Labels:      maps.Clone(t.ObjectMeta.Labels),
			Annotations: maps.Clone(t.ObjectMeta.Annotations),
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(vm, virtv1.VirtualMachineGroupVersionKind),
			},
		},
		Spec: *t.Spec.DeepCopy(),
	}
	if vmi.Annotations == nil {
		vmi.Annotations = map[string]string{}
	}
	vmi.Annotations[SimulatedAnnotation] = simulatedValue
	vmi.Annotations[virtv1.VirtualMachineGenerationAnnotation] = strconv.FormatInt(vm.Generation, 10)
	vmi.Annotations[templateHashAnnotation] = hash
	if vmi.Labels == nil {
		vmi.Labels = map[string]string{}
	}
	vmi.Labels[virtv1.VirtualMachineLabel] = vm.Name
	setDefaultVolumeDisks(&vmi.Spec)
	setDefaultNetworkInterface(&vmi.Spec)
	if it != nil {
		key := applyInstancetype(vm.Spec.Instancetype, it, &vmi.Spec)
		vmi.Annotations[key] = vm.Spec.Instancetype.Name
	}
	return vmi, nil
}

// setDefaultVolumeDisks gives every volume without a disk a disk of its own name, as
// KubeVirt does.
func setDefaultVolumeDisks(spec *virtv1.VirtualMachineInstanceSpec) {
	for _, v := range spec.Volumes {
		if slices.ContainsFunc(spec.Domain.Devices.Disks, func(d virtv1.Disk) bool { return d.Name == v.Name }) {
			continue
		}
		if isHotplug(v) {
			spec.Domain.Devices.Disks = append(spec.Domain.Devices.Disks, hotplugDisk(v.Name))
		} else {
			spec.Domain.Devices.Disks = append(spec.Domain.Devices.Disks, virtv1.Disk{Name: v.Name})
		}
	}
}

// setDefaultNetworkInterface adds KubeVirt's default pod network interface ("default",
// masquerade) to a spec that has neither interfaces nor networks, unless
// autoattachPodInterface is false.
func setDefaultNetworkInterface(spec *virtv1.VirtualMachineInstanceSpec) {
	d := &spec.Domain.Devices
	if len(d.Interfaces) > 0 || len(spec.Networks) > 0 {
		return
	}
	if d.AutoattachPodInterface != nil && !*d.AutoattachPodInterface {
		return
	}
	d.Interfaces = []virtv1.Interface{{Name: "default", InterfaceBindingMethod: virtv1.InterfaceBindingMethod{Masquerade: &virtv1.InterfaceMasquerade{}}}}
	spec.Networks = []virtv1.Network{{Name: "default", NetworkSource: virtv1.NetworkSource{Pod: &virtv1.PodNetwork{}}}}
}

// templateHash digests what a VMI is made from: the template and the instancetype
// reference. A VMI whose digest differs from its VM's needs a restart to pick up the
// change.
func templateHash(vm *virtv1.VirtualMachine) (string, error) {
	t := vm.Spec.Template.DeepCopy()
	if t != nil {
		// Hotplugged volumes are applied to a running VMI: they need no restart.
		t.Spec.Volumes, t.Spec.Domain.Devices.Disks = withoutHotplugVolumes(t.Spec.Volumes, t.Spec.Domain.Devices.Disks)
	}
	b, err := json.Marshal(struct {
		Template     *virtv1.VirtualMachineInstanceTemplateSpec `json:"template"`
		Instancetype *virtv1.InstancetypeMatcher                `json:"instancetype,omitempty"`
	}{t, vm.Spec.Instancetype})
	if err != nil {
		return "", fmt.Errorf("digesting the VM template: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// syncVMIGeneration moves the VMI's generation annotation up to the VM's generation
// when the change did not touch the template (a run strategy change, say), as KubeVirt
// does, so that status.observedGeneration follows.
func (s *simulator) syncVMIGeneration(ctx context.Context, sc *vmScope) error {
	vmi := sc.vmi
	if vmi == nil || vmi.DeletionTimestamp != nil || vmi.IsFinal() || vmi.CreationTimestamp.IsZero() {
		return nil
	}
	gen := strconv.FormatInt(sc.vm.Generation, 10)
	if vmi.Annotations[virtv1.VirtualMachineGenerationAnnotation] == gen {
		return nil
	}
	hash, err := templateHash(sc.vm)
	if err != nil || hash != vmi.Annotations[templateHashAnnotation] {
		return nil // a template change: RestartRequired
	}
	base := vmi.DeepCopy()
	vmi.Annotations[virtv1.VirtualMachineGenerationAnnotation] = gen
	return s.client.Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// writeVMStatus computes the VM's status and writes it when it changed.
func (s *simulator) writeVMStatus(ctx context.Context, sc *vmScope) error {
	vm := sc.vm
	if sc.dataVolumes == nil && vm.DeletionTimestamp != nil {
		// Deleting: the DataVolumes do not matter for the status.
		sc.dataVolumes = map[string]*cdiv1.DataVolume{}
	}
	restartRequired := false
	if sc.vmi != nil && !sc.vmi.IsFinal() && sc.vmi.DeletionTimestamp == nil {
		if hash, err := templateHash(vm); err == nil && sc.vmi.Annotations[templateHashAnnotation] != "" && hash != sc.vmi.Annotations[templateHashAnnotation] {
			restartRequired = true
		}
	}
	status := computeVMStatus(vm, vmStatusInput{
		vmi:             sc.vmi,
		dataVolumes:     sc.dataVolumes,
		startWanted:     sc.startWanted,
		syncErr:         sc.syncErr,
		restartRequired: restartRequired,
		now:             metav1.Now(),
	})
	if equality.Semantic.DeepEqual(status, sc.origStatus) {
		return nil
	}
	vm.Status = status
	return s.client.Status().Update(ctx, vm)
}
