package kubevirtsim

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The PVC controller plays what kube-controller-manager and a CSI driver do for PVCs:
// it binds pending claims at once (a dynamic provisioner with immediate binding), removes
// the kubernetes.io/pvc-protection finalizer of a deleted claim once no running VMI uses
// it, and deletes the PVCs of DataVolumes that are gone (the garbage collector).
func (s *simulator) setupPVCController(mgr ctrl.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named("kubevirtsim-persistentvolumeclaim").
		For(&corev1.PersistentVolumeClaim{}).
		Watches(&virtv1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(claimsOfVMI)).
		WithOptions(s.controllerOptions()).
		Complete(reconcile.Func(s.reconcilePVC))
	if err != nil {
		return fmt.Errorf("setting up the simulated PVC controller: %w", err)
	}
	return nil
}

// claimsOfVMI maps a VMI to the PVCs its volumes use.
func claimsOfVMI(_ context.Context, o client.Object) []reconcile.Request {
	vmi := o.(*virtv1.VirtualMachineInstance)
	var reqs []reconcile.Request
	for _, v := range vmi.Spec.Volumes {
		if claim := claimName(v); claim != "" {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: vmi.Namespace, Name: claim}})
		}
	}
	return reqs
}

func (s *simulator) reconcilePVC(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := s.client.Get(ctx, req.NamespacedName, pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if pvc.DeletionTimestamp != nil {
		return done(reconcile.Result{}, s.releasePVC(ctx, pvc))
	}
	if gone, err := s.ownerGone(ctx, pvc, kindDV, &cdiv1.DataVolume{}); err != nil || gone {
		if err == nil {
			err = s.deleteIgnoringNotFound(ctx, pvc)
		}
		return done(reconcile.Result{}, err)
	}
	return done(reconcile.Result{}, s.bindPVC(ctx, pvc))
}

// bindPVC binds a pending claim with the capacity it requests, and expands a bound one
// whose request has grown (the external-resizer and the kubelet's file system resize,
// in one step).
func (s *simulator) bindPVC(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Status.Phase == corev1.ClaimBound {
		return s.expandPVC(ctx, pvc)
	}
	if pvc.Status.Phase == corev1.ClaimLost {
		return nil
	}
	if _, err := s.markAndFinalize(ctx, pvc, ""); err != nil {
		return err
	}
	st := corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: slices.Clone(pvc.Spec.AccessModes),
		Capacity:    corev1.ResourceList{},
	}
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		st.Capacity[corev1.ResourceStorage] = q
	}
	if equality.Semantic.DeepEqual(st, pvc.Status) {
		return nil
	}
	pvc.Status = st
	return s.client.Status().Update(ctx, pvc)
}

// releasePVC lets a deleted claim go once no live VMI uses it.
func (s *simulator) releasePVC(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if !slices.Contains(pvc.Finalizers, pvcProtectionFinalizer) {
		return nil
	}
	var vmis virtv1.VirtualMachineInstanceList
	if err := s.client.List(ctx, &vmis, client.MatchingFields{indexVMIByClaim: nsName(pvc.Namespace, pvc.Name)}); err != nil {
		return err
	}
	for _, vmi := range vmis.Items {
		if !vmi.IsFinal() {
			return nil // in use; the VMI's end brings the claim back here
		}
	}
	return s.removeFinalizers(ctx, pvc, pvcProtectionFinalizer)
}

// expandPVC gives a bound claim the capacity it requests when that is more than it has.
func (s *simulator) expandPVC(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	want, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pvc.Status.Capacity[corev1.ResourceStorage]
	if !ok || want.Cmp(have) <= 0 {
		return nil
	}
	if _, err := s.markAndFinalize(ctx, pvc, ""); err != nil {
		return err
	}
	base := pvc.DeepCopy()
	if pvc.Status.Capacity == nil {
		pvc.Status.Capacity = corev1.ResourceList{}
	}
	pvc.Status.Capacity[corev1.ResourceStorage] = want.DeepCopy()
	pvc.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want.DeepCopy()}
	if err := s.client.Status().Patch(ctx, pvc, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("expanding PVC %s: %w", pvc.Name, err)
	}
	s.event(pvc, corev1.EventTypeNormal, "VolumeResizeSuccessful", "ResizeVolume", "resize volume %q by resizer %q finished successfully (to %s)", pvc.Name, csiDriver, want.String())
	return nil
}
