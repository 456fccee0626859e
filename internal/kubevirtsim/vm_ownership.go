package kubevirtsim

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// reconcileVMDelete stops the VMI, deletes the DataVolumes the VM owns (playing the
// garbage collector) and lets the VM go once they are gone.
func (s *simulator) reconcileVMDelete(ctx context.Context, sc *vmScope) error {
	vm := sc.vm
	if !slices.Contains(vm.Finalizers, virtv1.VirtualMachineControllerFinalizer) &&
		!slices.Contains(vm.Finalizers, foregroundDeletionFinalizer) &&
		!slices.Contains(vm.Finalizers, orphanFinalizer) {
		return nil // not waiting for the simulator
	}
	var owned cdiv1.DataVolumeList
	if err := s.client.List(ctx, &owned, client.InNamespace(vm.Namespace)); err != nil {
		return err
	}
	dvs := slices.DeleteFunc(owned.Items, func(dv cdiv1.DataVolume) bool { return !isControlledBy(&dv, vm) })

	if slices.Contains(vm.Finalizers, orphanFinalizer) {
		// Orphan deletion: dependents stay, without their owner reference.
		deps := []client.Object{}
		if sc.vmi != nil {
			deps = append(deps, sc.vmi)
		}
		for i := range dvs {
			deps = append(deps, &dvs[i])
		}
		for _, d := range deps {
			if err := s.dropOwnerRef(ctx, d, vm.UID); err != nil {
				return err
			}
		}
		return s.removeFinalizers(ctx, vm, orphanFinalizer, virtv1.VirtualMachineControllerFinalizer)
	}

	if err := s.stopVMI(ctx, sc); err != nil {
		return err
	}
	for i := range dvs {
		if err := s.deleteIgnoringNotFound(ctx, &dvs[i]); err != nil {
			return fmt.Errorf("deleting DataVolume %s: %w", dvs[i].Name, err)
		}
	}
	if sc.vmi != nil || len(dvs) > 0 {
		// Waiting for them to go; their deletion events bring the VM back here.
		return s.writeVMStatus(ctx, sc)
	}
	return s.removeFinalizers(ctx, vm, virtv1.VirtualMachineControllerFinalizer, foregroundDeletionFinalizer)
}

// adopt makes vm the controller of obj.
func (s *simulator) adopt(ctx context.Context, obj client.Object, vm *virtv1.VirtualMachine) error {
	base := obj.DeepCopyObject().(client.Object)
	obj.SetOwnerReferences(append(obj.GetOwnerReferences(), *metav1.NewControllerRef(vm, virtv1.VirtualMachineGroupVersionKind)))
	if err := s.client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adopting %s: %w", obj.GetName(), err)
	}
	return nil
}

func isControlledBy(obj metav1.Object, owner metav1.Object) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == owner.GetUID()
}

// dropOwnerRef removes the owner reference to uid from obj.
func (s *simulator) dropOwnerRef(ctx context.Context, obj client.Object, uid types.UID) error {
	refs := obj.GetOwnerReferences()
	kept := slices.DeleteFunc(slices.Clone(refs), func(r metav1.OwnerReference) bool { return r.UID == uid })
	if len(kept) == len(refs) {
		return nil
	}
	base := obj.DeepCopyObject().(client.Object)
	obj.SetOwnerReferences(kept)
	return client.IgnoreNotFound(s.client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}
