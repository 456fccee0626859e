package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/ipam"
)

// ProviderNetworkReconciler reports how provider networks and address pools are used:
// how many VPCs a network carries and VLANs it has left, how many addresses a pool has
// handed out. Both are the platform team's configuration; the operator only reads them.
type ProviderNetworkReconciler struct {
	Client client.Client
}

// SetupWithManager registers the reconcilers of both kinds.
func (r *ProviderNetworkReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.ProviderNetwork{}).
		Watches(&koalav1.Network{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if pn := o.(*koalav1.Network).Status.ProviderNetwork; pn != "" {
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: pn}}}
			}
			return nil
		})).
		Watches(&koalav1.NetworkClaim{}, handler.EnqueueRequestsFromMapFunc(claimScopeOf(koalav1.ClaimVLAN))).
		Named("providernetwork").
		Complete(reconcile.Func(r.reconcileProviderNetwork)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.AddressPool{}).
		Watches(&koalav1.NetworkClaim{}, handler.EnqueueRequestsFromMapFunc(claimScopeOf(koalav1.ClaimPublicAddress))).
		Named("addresspool").
		Complete(reconcile.Func(r.reconcileAddressPool))
}

// claimScopeOf maps claims of a type to the cluster-scoped object named by their scope.
func claimScopeOf(t koalav1.NetworkClaimType) handler.MapFunc {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		c := o.(*koalav1.NetworkClaim)
		if c.Spec.Type != t {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: c.Spec.Scope}}}
	}
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=providernetworks;addresspools,verbs=get;list;watch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=providernetworks/status;addresspools/status,verbs=get;update;patch

func (r *ProviderNetworkReconciler) reconcileProviderNetwork(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pn := &koalav1.ProviderNetwork{}
	if err := r.Client.Get(ctx, req.NamespacedName, pn); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := pn.DeepCopy()
	var vpcs koalav1.NetworkList
	if err := r.Client.List(ctx, &vpcs, client.MatchingFields{index.ProviderNetwork: pn.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the network's VPCs: %w", err)
	}
	pn.Status.VPCs = int32(len(vpcs.Items))
	pn.Status.AvailableVLANs = 0
	cond := condition(true, koalav1.ProviderNetworkReasonReady, "VPCs can use the network")
	if pn.Spec.Type == koalav1.ProviderNetworkVLAN && pn.Spec.VLANRange != nil {
		var claims koalav1.NetworkClaimList
		if err := r.Client.List(ctx, &claims, client.MatchingFields{index.ClaimScope: pn.Name}, client.UnsafeDisableDeepCopy); err != nil {
			return ctrl.Result{}, fmt.Errorf("listing the network's VLAN claims: %w", err)
		}
		held := 0
		for i := range claims.Items {
			if claims.Items[i].Spec.Type == koalav1.ClaimVLAN {
				held++
			}
		}
		pn.Status.AvailableVLANs = max(pn.Spec.VLANRange.Size()-int32(held), 0)
		if pn.Status.AvailableVLANs == 0 {
			cond = condition(false, koalav1.ProviderNetworkReasonVLANsExhausted, "Every VLAN of %d-%d is held by a VPC", pn.Spec.VLANRange.Min, pn.Spec.VLANRange.Max)
		}
	}
	meta.SetStatusCondition(&pn.Status.Conditions, cond)
	pn.Status.ObservedGeneration = pn.Generation
	if equality.Semantic.DeepEqual(base.Status, pn.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Status().Patch(ctx, pn, client.MergeFrom(base)))
}

func (r *ProviderNetworkReconciler) reconcileAddressPool(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pool := &koalav1.AddressPool{}
	if err := r.Client.Get(ctx, req.NamespacedName, pool); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := pool.DeepCopy()
	cond := condition(true, koalav1.AddressPoolReasonReady, "Elastic IPs can be allocated from the pool")
	space, err := ipam.ParsePool(pool.Spec.Addresses)
	if err != nil {
		cond = condition(false, koalav1.AddressPoolReasonInvalid, "%v", err)
	}
	var claims koalav1.NetworkClaimList
	if err := r.Client.List(ctx, &claims, client.MatchingFields{index.ClaimScope: pool.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the pool's claims: %w", err)
	}
	held := 0
	for i := range claims.Items {
		if claims.Items[i].Spec.Type == koalav1.ClaimPublicAddress {
			held++
		}
	}
	pool.Status.Total, pool.Status.Allocated = int64(space.Size()), int64(held)
	meta.SetStatusCondition(&pool.Status.Conditions, cond)
	pool.Status.ObservedGeneration = pool.Generation
	if equality.Semantic.DeepEqual(base.Status, pool.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Status().Patch(ctx, pool, client.MergeFrom(base)))
}
