package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/netobjects"
	"github.com/koala-dev/koala/internal/zones"
)

// SubnetReconciler settles each subnet: its ID and zone, its place in the VPC, its
// Multus NetworkAttachmentDefinition on the VPC's provider network, and how many of its
// addresses are free.
type SubnetReconciler struct {
	Client client.Client
	NetworkConfig
	// CountDelay is how long a change of the subnet's claims waits before the free
	// address count is written again, so that a burst of launches costs one write
	// (default 5s).
	CountDelay time.Duration
}

// subnetScope is what one reconcile of one subnet reads and decides.
type subnetScope struct {
	subnet    *koalav1.Subnet
	id        string
	vpc       *koalav1.Network
	zone      string
	nad       string
	available int64
	counted   bool
	blocked   *metav1.Condition
}

type subnetPhase func(ctx context.Context, s *subnetScope) (ctrl.Result, error)

// SetupWithManager registers the reconciler and what it watches.
func (r *SubnetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	delay := r.CountDelay
	if delay <= 0 {
		delay = 5 * time.Second
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Subnet{}).
		Owns(&nadv1.NetworkAttachmentDefinition{}).
		Watches(&koalav1.Network{}, handler.EnqueueRequestsFromMapFunc(r.subnetsOfVPC)).
		Watches(&koalav1.NetworkClaim{}, &delayedClaimHandler{delay: delay, mapFn: r.subnetOfClaim}).
		Named("subnet").
		Complete(r)
}

func (r *SubnetReconciler) subnetsOfVPC(ctx context.Context, obj client.Object) []reconcile.Request {
	vpc := obj.(*koalav1.Network)
	if vpc.EC2ID() == "" {
		return nil
	}
	var list koalav1.SubnetList
	if err := r.Client.List(ctx, &list, client.InNamespace(vpc.Namespace), client.MatchingFields{index.VPCID: vpc.EC2ID()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the subnets of a VPC", "vpc", vpc.EC2ID())
		return nil
	}
	return requestsOf(list.Items)
}

func (r *SubnetReconciler) subnetOfClaim(ctx context.Context, obj client.Object) []reconcile.Request {
	c := obj.(*koalav1.NetworkClaim)
	if c.Spec.Type != koalav1.ClaimPrivateAddress {
		return nil
	}
	sub, err := subnetByID(ctx, r.Client, c.Spec.Holder.Namespace, c.Spec.Scope)
	if err != nil || sub == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(sub)}}
}

// delayedClaimHandler enqueues what a claim maps to after a delay: the work queue keeps
// one entry per object, so every claim of a burst lands in the same reconcile.
type delayedClaimHandler struct {
	delay time.Duration
	mapFn func(context.Context, client.Object) []reconcile.Request
}

func (h *delayedClaimHandler) add(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for _, req := range h.mapFn(ctx, obj) {
		q.AddAfter(req, h.delay)
	}
}

func (h *delayedClaimHandler) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(ctx, e.Object, q)
}

func (h *delayedClaimHandler) Update(context.Context, event.UpdateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	// Claims do not change.
}

func (h *delayedClaimHandler) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(ctx, e.Object, q)
}

func (h *delayedClaimHandler) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.add(ctx, e.Object, q)
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=subnets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=subnets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=subnets/finalizers,verbs=update
// +kubebuilder:rbac:groups=k8s.cni.cncf.io,resources=network-attachment-definitions,verbs=get;list;watch;create;update;patch;delete

// Reconcile settles one subnet.
func (r *SubnetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	sub := &koalav1.Subnet{}
	if err := r.Client.Get(ctx, req.NamespacedName, sub); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := ensureFinalizer(ctx, r.Client, sub, SubnetFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	s := &subnetScope{subnet: sub}
	base := sub.DeepCopy()
	defer func() {
		if s.id == "" || (!sub.DeletionTimestamp.IsZero() && s.blocked == nil) {
			return
		}
		setSubnetStatus(&sub.Status, subnetObservation{
			id: s.id, zone: s.zone, nad: s.nad, available: s.available, counted: s.counted,
			blocked: s.blocked, deleting: !sub.DeletionTimestamp.IsZero(),
		})
		if retErr == nil {
			sub.Status.ObservedGeneration = sub.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, sub.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, sub, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	phases := []subnetPhase{r.reconcileIdentity, r.count, r.reconcileVPC, r.reconcileRange, r.reconcileZone, r.reconcileNAD}
	if !sub.DeletionTimestamp.IsZero() {
		phases = []subnetPhase{r.reconcileIdentity, r.count, r.reconcileDelete}
	}
	for _, phase := range phases {
		if res, err := phase(ctx, s); err != nil || !res.IsZero() || s.blocked != nil {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

func (r *SubnetReconciler) reconcileIdentity(ctx context.Context, s *subnetScope) (ctrl.Result, error) {
	if s.subnet.Status.SubnetID != "" {
		s.id = s.subnet.Status.SubnetID
		return ctrl.Result{}, nil
	}
	id, err := chooseID(ctx, r.Client, &koalav1.SubnetList{}, s.subnet, ids.Subnet, s.subnet.Annotations[koalav1.IDAnnotation])
	if err != nil {
		return ctrl.Result{}, err
	}
	s.id = id
	return ctrl.Result{}, nil
}

// count is how many of the subnet's addresses no claim holds.
func (r *SubnetReconciler) count(ctx context.Context, s *subnetScope) (ctrl.Result, error) {
	space, err := ipam.ParseSubnet(s.subnet.Spec.CIDRBlock)
	if err != nil {
		return ctrl.Result{}, nil // the API server checks the CIDR; nothing to count
	}
	var claims koalav1.NetworkClaimList
	if err := r.Client.List(ctx, &claims, client.MatchingFields{index.ClaimScope: s.id}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the subnet's claims: %w", err)
	}
	s.available, s.counted = int64(space.Size())-int64(len(claims.Items)), true
	if s.available < 0 {
		s.available = 0
	}
	return ctrl.Result{}, nil
}

func (r *SubnetReconciler) reconcileVPC(ctx context.Context, s *subnetScope) (ctrl.Result, error) {
	vpc, err := vpcByID(ctx, r.Client, s.subnet.Namespace, s.subnet.Spec.VPCID)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case vpc == nil:
		s.blocked = ptrTo(condition(false, koalav1.SubnetReasonVPCNotFound, "The VPC %s does not exist", s.subnet.Spec.VPCID))
	case vpc.Status.State != koalav1.NetworkStateAvailable:
		s.blocked = ptrTo(condition(false, koalav1.SubnetReasonVPCNotAvailable, "The VPC %s is not available", s.subnet.Spec.VPCID))
	}
	s.vpc = vpc
	return ctrl.Result{}, nil
}

// reconcileRange checks the subnet's range against its VPC's and its siblings': of two
// overlapping subnets, the older one is the VPC's (kubectl users can make both; the EC2
// endpoint refuses the second).
func (r *SubnetReconciler) reconcileRange(ctx context.Context, s *subnetScope) (ctrl.Result, error) {
	sub := s.subnet
	if !ipam.Contains(s.vpc.Spec.CIDRBlock, sub.Spec.CIDRBlock) {
		s.blocked = ptrTo(condition(false, koalav1.SubnetReasonOutOfRange, "The CIDR %s is not inside the VPC's %s", sub.Spec.CIDRBlock, s.vpc.Spec.CIDRBlock))
		return ctrl.Result{}, nil
	}
	var siblings koalav1.SubnetList
	if err := r.Client.List(ctx, &siblings, client.InNamespace(sub.Namespace), client.MatchingFields{index.VPCID: sub.Spec.VPCID}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the VPC's subnets: %w", err)
	}
	for i := range siblings.Items {
		o := &siblings.Items[i]
		if o.UID == sub.UID || !ipam.Overlaps(o.Spec.CIDRBlock, sub.Spec.CIDRBlock) {
			continue
		}
		if o.CreationTimestamp.Before(&sub.CreationTimestamp) || (o.CreationTimestamp.Equal(&sub.CreationTimestamp) && o.Name < sub.Name) {
			s.blocked = ptrTo(condition(false, koalav1.SubnetReasonConflict, "The CIDR %s overlaps the subnet %s (%s)", sub.Spec.CIDRBlock, o.EC2ID(), o.Spec.CIDRBlock))
			return ctrl.Result{}, nil
		}
	}
	return ctrl.Result{}, nil
}

// reconcileZone settles the zone: spec's, the recorded one, or one chosen from the
// nodes' zones.
func (r *SubnetReconciler) reconcileZone(ctx context.Context, s *subnetScope) (ctrl.Result, error) {
	if s.zone = s.subnet.Zone(); s.zone != "" {
		return ctrl.Result{}, nil
	}
	labels, err := nodeLabelSets(ctx, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.zone, _ = zones.Assign(r.Region, labels, s.id)
	return ctrl.Result{}, nil
}

// reconcileNAD makes the subnet's NetworkAttachmentDefinition, or brings it back to
// what it must be.
func (r *SubnetReconciler) reconcileNAD(ctx context.Context, s *subnetScope) (ctrl.Result, error) {
	pn := &koalav1.ProviderNetwork{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: s.vpc.Status.ProviderNetwork}, pn); err != nil {
		if apierrors.IsNotFound(err) {
			s.blocked = ptrTo(condition(false, koalav1.SubnetReasonVPCNotAvailable, "The VPC's provider network %s does not exist", s.vpc.Status.ProviderNetwork))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting provider network: %w", err)
	}
	sub := s.subnet.DeepCopy()
	sub.Status.SubnetID = s.id
	want := netobjects.NetworkAttachmentDefinition(sub, pn, s.vpc.Status.VLAN)
	if err := controllerutil.SetControllerReference(s.subnet, want, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	have := &nadv1.NetworkAttachmentDefinition{}
	switch err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have); {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("creating NetworkAttachmentDefinition: %w", err)
		}
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting NetworkAttachmentDefinition: %w", err)
	case !metav1.IsControlledBy(have, s.subnet):
		s.blocked = ptrTo(condition(false, koalav1.SubnetReasonVPCNotAvailable, "A NetworkAttachmentDefinition named %s that this subnet does not own exists", want.Name))
		return ctrl.Result{}, nil
	case have.Spec.Config != want.Spec.Config || !equality.Semantic.DeepEqual(have.Labels, want.Labels):
		base := have.DeepCopy()
		have.Spec, have.Labels = want.Spec, want.Labels
		if err := r.Client.Patch(ctx, have, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, fmt.Errorf("updating NetworkAttachmentDefinition: %w", err)
		}
	}
	s.nad = want.Name
	return ctrl.Result{}, nil
}

// reconcileDelete lets a subnet go once no interface holds one of its addresses (EC2
// refuses DeleteSubnet while instances are in it), after its attachment definition.
func (r *SubnetReconciler) reconcileDelete(ctx context.Context, s *subnetScope) (ctrl.Result, error) {
	space, _ := ipam.ParseSubnet(s.subnet.Spec.CIDRBlock)
	if held := int64(space.Size()) - s.available; s.counted && held > 0 {
		s.blocked = ptrTo(condition(false, koalav1.SubnetReasonDeleting, "The subnet waits for its %d instances to be terminated", held))
		return ctrl.Result{}, nil // the claims' release requeues us
	}
	nad := &nadv1.NetworkAttachmentDefinition{}
	switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.subnet.Namespace, Name: netobjects.NADName(s.id)}, nad); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting NetworkAttachmentDefinition: %w", err)
	case metav1.IsControlledBy(nad, s.subnet):
		if err := r.Client.Delete(ctx, nad, client.Preconditions{UID: &nad.UID}); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting NetworkAttachmentDefinition: %w", err)
		}
	}
	return ctrl.Result{}, dropFinalizer(ctx, r.Client, s.subnet, SubnetFinalizer)
}
