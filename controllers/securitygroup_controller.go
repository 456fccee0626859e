package controllers

import (
	"context"
	"errors"
	"fmt"

	multinetpolv1beta1 "github.com/k8snetworkplumbingwg/multi-networkpolicy/pkg/apis/k8s.cni.cncf.io/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/netobjects"
)

// SecurityGroupReconciler keeps each security group's NetworkPolicy (pod network) and
// MultiNetworkPolicy (the VPC's subnets) equal to its rules. Membership is a label on
// the members' VM templates, so a launch changes no policy.
type SecurityGroupReconciler struct {
	Client client.Client
}

// SetupWithManager registers the reconciler and what it watches.
func (r *SecurityGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.SecurityGroup{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&multinetpolv1beta1.MultiNetworkPolicy{}).
		// The MultiNetworkPolicy lists the VPC's subnets; a group's name decides among
		// namesakes.
		Watches(&koalav1.Subnet{}, handler.EnqueueRequestsFromMapFunc(r.groupsOfVPC)).
		Watches(&koalav1.SecurityGroup{}, handler.EnqueueRequestsFromMapFunc(r.namesakes)).
		Watches(&koalav1.Network{}, handler.EnqueueRequestsFromMapFunc(r.groupsOfVPC)).
		Named("securitygroup").
		Complete(r)
}

func (r *SecurityGroupReconciler) groupsOfVPC(ctx context.Context, obj client.Object) []reconcile.Request {
	var vpcID string
	switch o := obj.(type) {
	case *koalav1.Subnet:
		vpcID = o.Spec.VPCID
	case *koalav1.Network:
		vpcID = o.EC2ID()
	}
	if vpcID == "" {
		return nil
	}
	var list koalav1.SecurityGroupList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.VPCID: vpcID}); err != nil {
		log.FromContext(ctx).Error(err, "listing the security groups of a VPC", "vpc", vpcID)
		return nil
	}
	return requestsOf(list.Items)
}

func (r *SecurityGroupReconciler) namesakes(ctx context.Context, obj client.Object) []reconcile.Request {
	g := obj.(*koalav1.SecurityGroup)
	var list koalav1.SecurityGroupList
	if err := r.Client.List(ctx, &list, client.InNamespace(g.Namespace), client.MatchingFields{index.GroupName: index.GroupNameValue(g.Spec.VPCID, g.Spec.GroupName)}); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].UID != g.UID {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=securitygroups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=securitygroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=securitygroups/finalizers,verbs=update
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=k8s.cni.cncf.io,resources=multi-networkpolicies,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one group's policies in line with its rules.
func (r *SecurityGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	g := &koalav1.SecurityGroup{}
	if err := r.Client.Get(ctx, req.NamespacedName, g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := ensureFinalizer(ctx, r.Client, g, SecurityGroupFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	if g.Status.GroupID == "" {
		id, err := chooseID(ctx, r.Client, &koalav1.SecurityGroupList{}, g, ids.SecurityGroup, g.Annotations[koalav1.IDAnnotation])
		if err != nil {
			return ctrl.Result{}, err
		}
		base := g.DeepCopy()
		g.Status.GroupID = id
		// The ID names the policies: record it first, so that no policy is ever made
		// under another name.
		if err := r.Client.Status().Patch(ctx, g, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !g.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, g)
	}
	base := g.DeepCopy()
	cond := condition(true, koalav1.SecurityGroupReasonEnforced, "The group's rules are enforced")
	defer func() {
		meta.SetStatusCondition(&g.Status.Conditions, cond)
		if retErr == nil {
			g.Status.ObservedGeneration = g.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, g.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, g, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	vpc, err := vpcByID(ctx, r.Client, g.Namespace, g.Spec.VPCID)
	if err != nil {
		return ctrl.Result{}, err
	}
	if vpc == nil {
		cond = condition(false, koalav1.SecurityGroupReasonVPCNotFound, "The VPC %s does not exist", g.Spec.VPCID)
		return ctrl.Result{}, nil
	}
	if other, err := r.olderNamesake(ctx, g); err != nil || other != nil {
		if other != nil {
			cond = condition(false, koalav1.SecurityGroupReasonDuplicate, "The security group %s (%s) of the VPC already has the name '%s'", other.Name, other.EC2ID(), g.Spec.GroupName)
		}
		return ctrl.Result{}, err
	}
	var subnets koalav1.SubnetList
	if err := r.Client.List(ctx, &subnets, client.InNamespace(g.Namespace), client.MatchingFields{index.VPCID: g.Spec.VPCID}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the VPC's subnets: %w", err)
	}
	var networks []string
	for i := range subnets.Items {
		if nad := subnets.Items[i].Status.NetworkAttachmentDefinition; nad != "" {
			networks = append(networks, g.Namespace+"/"+nad)
		}
	}
	np, mnp, unenforced := netobjects.Policies(g, networks)
	g.Status.UnenforcedRules = unenforced
	if len(unenforced) > 0 {
		cond.Message = fmt.Sprintf("The group's rules are enforced, except %d that network policies cannot express (ICMP, or a protocol other than TCP, UDP and SCTP): their traffic is dropped", len(unenforced))
	}
	if err := r.apply(ctx, g, np, &networkingv1.NetworkPolicy{}); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.apply(ctx, g, mnp, &multinetpolv1beta1.MultiNetworkPolicy{})
}

func (r *SecurityGroupReconciler) olderNamesake(ctx context.Context, g *koalav1.SecurityGroup) (*koalav1.SecurityGroup, error) {
	var list koalav1.SecurityGroupList
	if err := r.Client.List(ctx, &list, client.InNamespace(g.Namespace), client.MatchingFields{index.GroupName: index.GroupNameValue(g.Spec.VPCID, g.Spec.GroupName)}); err != nil {
		return nil, fmt.Errorf("looking up groups named %q: %w", g.Spec.GroupName, err)
	}
	for i := range list.Items {
		if o := &list.Items[i]; o.UID != g.UID && o.Precedes(g) {
			return o, nil
		}
	}
	return nil, nil
}

// apply creates want, or updates the existing object (of have's kind) when its
// labels, annotations or spec differ. An object of that name the group does not own is
// left alone.
func (r *SecurityGroupReconciler) apply(ctx context.Context, g *koalav1.SecurityGroup, want, have client.Object) error {
	if err := controllerutil.SetControllerReference(g, want, r.Client.Scheme()); err != nil {
		return err
	}
	switch err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have); {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T: %w", want, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("getting %T: %w", want, err)
	case !metav1.IsControlledBy(have, g):
		return fmt.Errorf("a %T named %s that the group does not own exists", have, want.GetName())
	}
	if policySpecEqual(want, have) && equality.Semantic.DeepEqual(want.GetLabels(), have.GetLabels()) &&
		equality.Semantic.DeepEqual(want.GetAnnotations(), have.GetAnnotations()) {
		return nil
	}
	want.SetResourceVersion(have.GetResourceVersion())
	if err := r.Client.Update(ctx, want); err != nil {
		return fmt.Errorf("updating %T: %w", want, err)
	}
	return nil
}

func policySpecEqual(want, have client.Object) bool {
	switch w := want.(type) {
	case *networkingv1.NetworkPolicy:
		return equality.Semantic.DeepEqual(w.Spec, have.(*networkingv1.NetworkPolicy).Spec)
	case *multinetpolv1beta1.MultiNetworkPolicy:
		return equality.Semantic.DeepEqual(w.Spec, have.(*multinetpolv1beta1.MultiNetworkPolicy).Spec)
	}
	return false
}

// reconcileDelete removes the group's policies (no garbage collector is relied on) and
// lets the group go. The EC2 endpoint refuses to delete a group that instances use or
// other groups reference.
func (r *SecurityGroupReconciler) reconcileDelete(ctx context.Context, g *koalav1.SecurityGroup) error {
	for _, obj := range []client.Object{&networkingv1.NetworkPolicy{}, &multinetpolv1beta1.MultiNetworkPolicy{}} {
		key := client.ObjectKey{Namespace: g.Namespace, Name: netobjects.PolicyName(g.Status.GroupID)}
		switch err := r.Client.Get(ctx, key, obj); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("getting %T: %w", obj, err)
		case metav1.IsControlledBy(obj, g):
			uid := obj.GetUID()
			if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting %T: %w", obj, err)
			}
		}
	}
	return dropFinalizer(ctx, r.Client, g, SecurityGroupFinalizer)
}
