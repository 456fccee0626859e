package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
)

// DefaultVPCReconciler gives every account a default VPC, once, as EC2 does: the
// Network's reconciler then makes its default subnets and security group. It waits for
// the cluster to have a default provider network; until then, instances launched
// without a subnet stay on the pod network alone.
type DefaultVPCReconciler struct {
	Client client.Client
}

// DefaultVPCName is the object name (and ID) of the default VPC the operator makes for
// an account, derived from the Account so that it is made once.
func DefaultVPCName(acct *koalav1.Account) string {
	return ids.FromSeed(ids.VPC, string(acct.UID), "default")
}

// SetupWithManager registers the reconciler: accounts, and provider networks (the
// first one lets every account have its default VPC).
func (r *DefaultVPCReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Account{}).
		Watches(&koalav1.ProviderNetwork{}, handler.EnqueueRequestsFromMapFunc(r.accountsWithoutDefaultVPC)).
		Named("defaultvpc").
		Complete(r)
}

func (r *DefaultVPCReconciler) accountsWithoutDefaultVPC(ctx context.Context, _ client.Object) []reconcile.Request {
	var list koalav1.AccountList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing accounts")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Annotations[koalav1.DefaultVPCAnnotation] == "" {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accounts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networks,verbs=get;list;watch;create

// Reconcile makes an account's default VPC if it never had one.
func (r *DefaultVPCReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	acct := &koalav1.Account{}
	if err := r.Client.Get(ctx, req.NamespacedName, acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ns := acct.Status.Namespace
	if !acct.DeletionTimestamp.IsZero() || ns == "" || acct.Annotations[koalav1.DefaultVPCAnnotation] != "" {
		return ctrl.Result{}, nil
	}
	var pns koalav1.ProviderNetworkList
	if err := r.Client.List(ctx, &pns); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing provider networks: %w", err)
	}
	if koalav1.DefaultProviderNetwork(pns.Items) == nil {
		return ctrl.Result{}, nil // a provider network's arrival brings us back
	}
	// A default VPC made otherwise (CreateDefaultVpc) counts too.
	var vpcs koalav1.NetworkList
	if err := r.Client.List(ctx, &vpcs, client.InNamespace(ns)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the account's VPCs: %w", err)
	}
	id := ""
	for i := range vpcs.Items {
		if vpcs.Items[i].Spec.IsDefault {
			id = vpcs.Items[i].EC2ID()
		}
	}
	if id == "" {
		name := DefaultVPCName(acct)
		vpc := &koalav1.Network{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ns,
				Annotations: map[string]string{koalav1.IDAnnotation: name},
				Finalizers:  []string{NetworkFinalizer},
			},
			Spec: koalav1.NetworkSpec{CIDRBlock: DefaultVPCCIDR, IsDefault: true, EnableDNSHostnames: true},
		}
		if err := r.Client.Create(ctx, vpc); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("creating the default VPC: %w", err)
		}
		id = name
	}
	// Written after the VPC exists, so that a crash in between makes the same VPC
	// again (its name is fixed) rather than none.
	base := acct.DeepCopy()
	if acct.Annotations == nil {
		acct.Annotations = map[string]string{}
	}
	acct.Annotations[koalav1.DefaultVPCAnnotation] = id
	if err := r.Client.Patch(ctx, acct, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}
