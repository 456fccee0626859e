package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/netobjects"
)

// AddressReconciler settles each Elastic IP: its allocation ID, its address held from
// a pool, and, while it is associated with an instance, the Service of type
// LoadBalancer that carries it to the instance's pod on the ports its security groups
// open. Disassociating or releasing removes the Service; associating elsewhere moves
// it (the Service's selector follows spec.instanceId).
type AddressReconciler struct {
	Client client.Client
	NetworkConfig
}

// SetupWithManager registers the reconciler and what it watches.
func (r *AddressReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Address{}).
		Owns(&corev1.Service{}).
		// The instance's groups (their ports), its ID and its life decide the Service.
		Watches(&koalav1.Instance{}, handler.EnqueueRequestsFromMapFunc(r.addressesOfInstance)).
		Watches(&koalav1.SecurityGroup{}, handler.EnqueueRequestsFromMapFunc(r.addressesOfMembers)).
		Watches(&koalav1.AddressPool{}, handler.EnqueueRequestsFromMapFunc(r.unallocated)).
		Named("address").
		Complete(r)
}

func (r *AddressReconciler) addressesOfInstance(ctx context.Context, obj client.Object) []reconcile.Request {
	inst := obj.(*koalav1.Instance)
	if inst.EC2ID() == "" {
		return nil
	}
	var list koalav1.AddressList
	if err := r.Client.List(ctx, &list, client.InNamespace(inst.Namespace), client.MatchingFields{index.AddressInstanceID: inst.EC2ID()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the addresses of an instance", "instance", inst.EC2ID())
		return nil
	}
	return requestsOf(list.Items)
}

// addressesOfMembers maps a security group to the Elastic IPs of its members: its
// rules are the ports their Services forward.
func (r *AddressReconciler) addressesOfMembers(ctx context.Context, obj client.Object) []reconcile.Request {
	g := obj.(*koalav1.SecurityGroup)
	if g.EC2ID() == "" {
		return nil
	}
	var insts koalav1.InstanceList
	if err := r.Client.List(ctx, &insts, client.InNamespace(g.Namespace), client.MatchingFields{index.InstanceGroupID: g.EC2ID()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the members of a security group", "group", g.EC2ID())
		return nil
	}
	var out []reconcile.Request
	for i := range insts.Items {
		out = append(out, r.addressesOfInstance(ctx, &insts.Items[i])...)
	}
	return out
}

func (r *AddressReconciler) unallocated(ctx context.Context, _ client.Object) []reconcile.Request {
	var list koalav1.AddressList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing addresses")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].IP() == "" || list.Items[i].Status.PublicIP == "" {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=addresses,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=addresses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=addresses/finalizers,verbs=update
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=addresspools,verbs=get;list;watch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networkclaims,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete

// Reconcile settles one Elastic IP.
func (r *AddressReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	addr := &koalav1.Address{}
	if err := r.Client.Get(ctx, req.NamespacedName, addr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := ensureFinalizer(ctx, r.Client, addr, AddressFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	id := addr.Status.AllocationID
	if id == "" {
		var err error
		if id, err = chooseID(ctx, r.Client, &koalav1.AddressList{}, addr, ids.Allocation, addr.Annotations[koalav1.IDAnnotation]); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !addr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, addr, id)
	}
	base := addr.DeepCopy()
	cond := condition(true, koalav1.AddressReasonAllocated, "The address is allocated")
	defer func() {
		addr.Status.AllocationID = id
		meta.SetStatusCondition(&addr.Status.Conditions, cond)
		if retErr == nil {
			addr.Status.ObservedGeneration = addr.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, addr.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, addr, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	pool, blocked, err := r.pool(ctx, addr)
	if err != nil || blocked != nil {
		if blocked != nil {
			cond = *blocked
		}
		return ctrl.Result{}, err
	}
	ip, blocked, err := r.reconcileIP(ctx, addr, id, pool)
	if err != nil || blocked != nil {
		if blocked != nil {
			cond = *blocked
		}
		return ctrl.Result{RequeueAfter: time.Minute}, err
	}
	addr.Status.PublicIP, addr.Status.Pool = ip, pool.Name

	svc, blocked, err := r.desiredService(ctx, addr, id, ip, pool)
	if err != nil {
		return ctrl.Result{}, err
	}
	if blocked != nil {
		cond = *blocked
	} else if svc != nil {
		cond = condition(true, koalav1.AddressReasonAssociated, "The address forwards %d ports to the instance %s", len(svc.Spec.Ports), addr.Spec.InstanceID)
	}
	if err := r.applyService(ctx, addr, id, svc); err != nil {
		return ctrl.Result{}, err
	}
	addr.Status.ServiceName = ""
	if svc != nil {
		addr.Status.ServiceName = svc.Name
	}
	return ctrl.Result{}, nil
}

// pool is the address's pool: the recorded one, spec's, or the cluster's default.
func (r *AddressReconciler) pool(ctx context.Context, addr *koalav1.Address) (*koalav1.AddressPool, *metav1.Condition, error) {
	if name := addr.PoolName(); name != "" {
		pool := &koalav1.AddressPool{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, pool); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, ptrTo(condition(false, koalav1.AddressReasonNoPool, "The address pool %s does not exist", name)), nil
			}
			return nil, nil, fmt.Errorf("getting address pool %s: %w", name, err)
		}
		return pool, nil, nil
	}
	var all koalav1.AddressPoolList
	if err := r.Client.List(ctx, &all); err != nil {
		return nil, nil, fmt.Errorf("listing address pools: %w", err)
	}
	pool := koalav1.DefaultAddressPool(all.Items)
	if pool == nil {
		return nil, ptrTo(condition(false, koalav1.AddressReasonNoPool, "The cluster has no default address pool")), nil
	}
	return pool, nil, nil
}

func addressHolder(addr *koalav1.Address, id string) koalav1.ClaimHolder {
	return koalav1.ClaimHolder{Namespace: addr.Namespace, Name: addr.Name, ID: id}
}

// reconcileIP holds the address: spec's or the recorded one (its claim made again if
// it went missing), else a free one of the pool.
func (r *AddressReconciler) reconcileIP(ctx context.Context, addr *koalav1.Address, id string, pool *koalav1.AddressPool) (string, *metav1.Condition, error) {
	space, err := ipam.ParsePool(pool.Spec.Addresses)
	if err != nil {
		return "", ptrTo(condition(false, koalav1.AddressReasonNoPool, "The address pool %s is invalid: %v", pool.Name, err)), nil
	}
	req := ipam.Request{Type: koalav1.ClaimPublicAddress, Scope: pool.Name, Space: space, Holder: addressHolder(addr, id), Value: addr.IP()}
	if req.Value != "" {
		if h, err := r.Allocator.Holder(ctx, req.Type, req.Scope, req.Value); err == nil && h != nil && *h == req.Holder {
			return req.Value, nil, nil
		}
	}
	value, err := r.Allocator.Allocate(ctx, req)
	var inUse *ipam.InUseError
	switch {
	case err == nil:
		return value, nil, nil
	case errors.Is(err, ipam.ErrExhausted):
		return "", ptrTo(condition(false, koalav1.AddressReasonPoolExhausted, "Every address of the pool %s is allocated", pool.Name)), nil
	case errors.As(err, &inUse), errors.Is(err, ipam.ErrOutOfRange):
		return "", ptrTo(condition(false, koalav1.AddressReasonAddressTaken, "The address %s is taken or not in the pool %s", req.Value, pool.Name)), nil
	}
	return "", nil, fmt.Errorf("allocating an address: %w", err)
}

// desiredService is the Service of an associated address, nil when there is none to
// have: not associated, the instance gone or terminated, or no port opened.
func (r *AddressReconciler) desiredService(ctx context.Context, addr *koalav1.Address, id, ip string, pool *koalav1.AddressPool) (*corev1.Service, *metav1.Condition, error) {
	instID := addr.Spec.InstanceID
	if instID == "" {
		return nil, nil, nil
	}
	var insts koalav1.InstanceList
	if err := r.Client.List(ctx, &insts, client.InNamespace(addr.Namespace), client.MatchingFields{index.EC2ID: instID}); err != nil {
		return nil, nil, fmt.Errorf("looking up instance %s: %w", instID, err)
	}
	if len(insts.Items) == 0 || insts.Items[0].Spec.State == koalav1.DesiredStateTerminated || !insts.Items[0].DeletionTimestamp.IsZero() {
		return nil, ptrTo(condition(false, koalav1.AddressReasonInstanceNotFound, "The instance %s does not exist or is terminated", instID)), nil
	}
	inst := &insts.Items[0]
	groupIDs := inst.Status.SecurityGroupIDs
	if len(inst.Spec.SecurityGroupIDs) > 0 {
		groupIDs = inst.Spec.SecurityGroupIDs
	}
	var groups []*koalav1.SecurityGroup
	for _, gid := range groupIDs {
		g, err := groupByID(ctx, r.Client, addr.Namespace, gid)
		if err != nil {
			return nil, nil, err
		}
		if g != nil {
			groups = append(groups, g)
		}
	}
	ports, truncated := netobjects.ForwardedPorts(groups)
	if len(ports) == 0 {
		return nil, ptrTo(condition(true, koalav1.AddressReasonAssociated,
			"The address is associated with %s, whose security groups open no port to addresses outside: nothing is forwarded", instID)), nil
	}
	svc := netobjects.LoadBalancerService(addr, ip, inst.Name, ports, pool.Spec.MetalLBAddressPool)
	svc.Name = netobjects.ServiceName(id)
	// The field of the Service API that asks for the address, besides MetalLB's
	// annotation (deprecated in Kubernetes, still read by most load balancers).
	svc.Spec.LoadBalancerIP = ip
	if truncated {
		return svc, ptrTo(condition(true, koalav1.AddressReasonAssociated,
			"The address forwards the first %d ports its instance's groups open; the others are not forwarded", len(ports))), nil
	}
	return svc, nil, nil
}

// applyService creates, updates or (want nil) deletes the address's Service.
func (r *AddressReconciler) applyService(ctx context.Context, addr *koalav1.Address, id string, want *corev1.Service) error {
	have := &corev1.Service{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: addr.Namespace, Name: netobjects.ServiceName(id)}, have)
	switch {
	case apierrors.IsNotFound(err):
		if want == nil {
			return nil
		}
		if err := controllerutil.SetControllerReference(addr, want, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Service: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("getting Service: %w", err)
	case !metav1.IsControlledBy(have, addr):
		return fmt.Errorf("a Service named %s that the address does not own exists", have.Name)
	case want == nil:
		if err := r.Client.Delete(ctx, have, client.Preconditions{UID: &have.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Service: %w", err)
		}
		return nil
	}
	if equality.Semantic.DeepEqual(have.Spec.Selector, want.Spec.Selector) && equality.Semantic.DeepEqual(have.Spec.Ports, want.Spec.Ports) &&
		have.Spec.LoadBalancerIP == want.Spec.LoadBalancerIP && equality.Semantic.DeepEqual(have.Annotations, want.Annotations) {
		return nil
	}
	base := have.DeepCopy()
	have.Spec.Selector, have.Spec.Ports, have.Spec.LoadBalancerIP = want.Spec.Selector, want.Spec.Ports, want.Spec.LoadBalancerIP
	have.Annotations, have.Labels = want.Annotations, want.Labels
	if err := r.Client.Patch(ctx, have, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("updating Service: %w", err)
	}
	return nil
}

// reconcileDelete removes the Service, gives the address back to its pool and lets
// the Address go.
func (r *AddressReconciler) reconcileDelete(ctx context.Context, addr *koalav1.Address, id string) error {
	if err := r.applyService(ctx, addr, id, nil); err != nil {
		return err
	}
	// The pool is spec's when the address goes before the operator recorded it.
	if ip, pool := addr.IP(), addr.PoolName(); ip != "" && pool != "" {
		if err := r.Allocator.Release(ctx, koalav1.ClaimPublicAddress, pool, ip, addressHolder(addr, id)); err != nil {
			return err
		}
	}
	return dropFinalizer(ctx, r.Client, addr, AddressFinalizer)
}
