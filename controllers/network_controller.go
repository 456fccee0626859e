package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/ipam"
)

// Default VPC layout, as in EC2: 172.31.0.0/16 with a /20 default subnet per zone.
const (
	DefaultVPCCIDR         = "172.31.0.0/16"
	defaultSubnetPrefixLen = 20
	// DefaultGroupName is the name of every VPC's default security group.
	DefaultGroupName        = "default"
	defaultGroupDescription = "default VPC security group"
)

// DefaultGroupObjectName is the object name (and ID) of a VPC's default security
// group, derived from the VPC so that the operator makes it once.
func DefaultGroupObjectName(vpcID string) string {
	return ids.FromSeed(ids.SecurityGroup, vpcID, DefaultGroupName)
}

// DefaultSubnetObjectName is the object name (and ID) of a default VPC's default subnet
// of a zone.
func DefaultSubnetObjectName(vpcID, zone string) string {
	return ids.FromSeed(ids.Subnet, vpcID, zone)
}

// NetworkReconciler settles each VPC: its ID, its provider network and VLAN, its
// default security group and, for a default VPC, its default subnets.
type NetworkReconciler struct {
	Client client.Client
	// APIReader reads the API server directly (the manager's API reader): a default
	// subnet's CIDR is chosen from the subnets the VPC has, not from what the cache has
	// heard of. Nil reads through Client.
	APIReader client.Reader
	NetworkConfig
}

// networkScope is what one reconcile of one VPC reads and decides.
type networkScope struct {
	network *koalav1.Network
	id      string
	pn      *koalav1.ProviderNetwork
	vlan    int32
	blocked *metav1.Condition
}

type networkPhase func(ctx context.Context, s *networkScope) (ctrl.Result, error)

// SetupWithManager registers the reconciler and what it watches.
func (r *NetworkReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Network{}).
		// A VPC being deleted waits for its subnets and groups.
		Watches(&koalav1.Subnet{}, handler.EnqueueRequestsFromMapFunc(r.vpcOf), builder.WithPredicates(onlyDeletes)).
		Watches(&koalav1.SecurityGroup{}, handler.EnqueueRequestsFromMapFunc(r.vpcOf), builder.WithPredicates(onlyDeletes)).
		// A VPC waiting for a provider network (or a VLAN) tries again when they change.
		Watches(&koalav1.ProviderNetwork{}, handler.EnqueueRequestsFromMapFunc(r.pendingNetworks)).
		// A zone that gets its first node gets a default subnet in every default VPC.
		// Only the nodes' metadata is held, in the cache nodeLabelSets reads.
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.defaultVPCsWithoutZone),
			builder.OnlyMetadata, builder.WithPredicates(zoneLabelChanged)).
		Named("network").
		Complete(r)
}

// onlyDeletes passes deletions only.
var onlyDeletes = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// vpcOf maps a subnet or group to its VPC.
func (r *NetworkReconciler) vpcOf(ctx context.Context, obj client.Object) []reconcile.Request {
	var vpcID string
	switch o := obj.(type) {
	case *koalav1.Subnet:
		vpcID = o.Spec.VPCID
	case *koalav1.SecurityGroup:
		vpcID = o.Spec.VPCID
	}
	vpc, err := vpcByID(ctx, r.Client, obj.GetNamespace(), vpcID)
	if err != nil || vpc == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(vpc)}}
}

func (r *NetworkReconciler) pendingNetworks(ctx context.Context, _ client.Object) []reconcile.Request {
	var list koalav1.NetworkList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing VPCs to requeue")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Status.State != koalav1.NetworkStateAvailable {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networks/finalizers,verbs=update
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=providernetworks,verbs=get;list;watch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networkclaims,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=subnets;securitygroups,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=addresses,verbs=get;list;watch

// Reconcile settles one VPC.
func (r *NetworkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	n := &koalav1.Network{}
	if err := r.Client.Get(ctx, req.NamespacedName, n); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := ensureFinalizer(ctx, r.Client, n, NetworkFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	s := &networkScope{network: n}
	base := n.DeepCopy()
	defer func() {
		if s.id == "" || (!n.DeletionTimestamp.IsZero() && s.blocked == nil) {
			return // nothing known yet, or gone
		}
		setNetworkStatus(&n.Status, networkObservation{
			id: s.id, providerNetwork: s.pn, vlan: s.vlan, blocked: s.blocked, deleting: !n.DeletionTimestamp.IsZero(),
		})
		if retErr == nil {
			n.Status.ObservedGeneration = n.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, n.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, n, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	phases := []networkPhase{r.reconcileIdentity, r.reconcileProviderNetwork, r.reconcileVLAN, r.reconcileDefaultGroup, r.reconcileDefaultSubnets}
	if !n.DeletionTimestamp.IsZero() {
		phases = []networkPhase{r.reconcileIdentity, r.reconcileDelete}
	}
	for _, phase := range phases {
		if res, err := phase(ctx, s); err != nil || !res.IsZero() || s.blocked != nil {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

func (r *NetworkReconciler) reconcileIdentity(ctx context.Context, s *networkScope) (ctrl.Result, error) {
	if s.network.Status.VPCID != "" {
		s.id = s.network.Status.VPCID
		return ctrl.Result{}, nil
	}
	id, err := chooseID(ctx, r.Client, &koalav1.NetworkList{}, s.network, ids.VPC, s.network.Annotations[koalav1.IDAnnotation])
	if err != nil {
		return ctrl.Result{}, err
	}
	s.id = id
	return ctrl.Result{}, nil
}

// reconcileProviderNetwork settles the provider network: the recorded one, else the
// one spec names, else the cluster's default.
func (r *NetworkReconciler) reconcileProviderNetwork(ctx context.Context, s *networkScope) (ctrl.Result, error) {
	name := s.network.Status.ProviderNetwork
	if name == "" {
		name = s.network.Spec.ProviderNetwork
	}
	if name != "" {
		pn := &koalav1.ProviderNetwork{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, pn); err != nil {
			if apierrors.IsNotFound(err) {
				s.blocked = ptrTo(condition(false, koalav1.NetworkReasonNoProviderNetwork, "The provider network %s does not exist", name))
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, fmt.Errorf("getting provider network %s: %w", name, err)
		}
		s.pn = pn
		return ctrl.Result{}, nil
	}
	var all koalav1.ProviderNetworkList
	if err := r.Client.List(ctx, &all); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing provider networks: %w", err)
	}
	if s.pn = koalav1.DefaultProviderNetwork(all.Items); s.pn == nil {
		s.blocked = ptrTo(condition(false, koalav1.NetworkReasonNoProviderNetwork,
			"The VPC names no provider network and the cluster has no default one (a ProviderNetwork with spec.default)"))
	}
	return ctrl.Result{}, nil
}

func (r *NetworkReconciler) holder(s *networkScope) koalav1.ClaimHolder {
	return koalav1.ClaimHolder{Namespace: s.network.Namespace, Name: s.network.Name, ID: s.id}
}

// reconcileVLAN holds the VPC's VLAN on a vlan provider network: the recorded one (its
// claim made again if it went missing), else a free one.
func (r *NetworkReconciler) reconcileVLAN(ctx context.Context, s *networkScope) (ctrl.Result, error) {
	if s.pn.Spec.Type != koalav1.ProviderNetworkVLAN || s.pn.Spec.VLANRange == nil {
		return ctrl.Result{}, nil
	}
	space := ipam.VLANSpace{Min: s.pn.Spec.VLANRange.Min, Max: s.pn.Spec.VLANRange.Max}
	req := ipam.Request{Type: koalav1.ClaimVLAN, Scope: s.pn.Name, Space: space, Holder: r.holder(s)}
	if v := s.network.Status.VLAN; v > 0 {
		req.Value = strconv.Itoa(int(v))
		if h, err := r.Allocator.Holder(ctx, req.Type, req.Scope, req.Value); err == nil && h != nil && *h == req.Holder {
			s.vlan = v
			return ctrl.Result{}, nil // the usual case: nothing to write
		}
	}
	value, err := r.Allocator.Allocate(ctx, req)
	var inUse *ipam.InUseError
	switch {
	case errors.Is(err, ipam.ErrExhausted):
		s.blocked = ptrTo(condition(false, koalav1.NetworkReasonNoFreeVLAN, "Every VLAN of the provider network %s is taken", s.pn.Name))
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	case errors.As(err, &inUse), errors.Is(err, ipam.ErrOutOfRange):
		// The recorded VLAN went to another VPC (or out of a changed range): a VPC
		// cannot share one; take a new one.
		req.Value = ""
		if value, err = r.Allocator.Allocate(ctx, req); err != nil {
			return ctrl.Result{}, fmt.Errorf("allocating a VLAN: %w", err)
		}
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("allocating a VLAN: %w", err)
	}
	n, _ := strconv.Atoi(value)
	s.vlan = int32(n)
	return ctrl.Result{}, nil
}

// reconcileDefaultGroup makes the VPC's default security group, as EC2 does: it allows
// all traffic from its own members and all outbound traffic.
func (r *NetworkReconciler) reconcileDefaultGroup(ctx context.Context, s *networkScope) (ctrl.Result, error) {
	if s.network.Status.DefaultSecurityGroupID != "" {
		return ctrl.Result{}, nil
	}
	name := DefaultGroupObjectName(s.id)
	sg := &koalav1.SecurityGroup{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: s.network.Namespace,
			Annotations: map[string]string{koalav1.IDAnnotation: name},
			Finalizers:  []string{SecurityGroupFinalizer},
		},
		Spec: koalav1.SecurityGroupSpec{
			VPCID: s.id, GroupName: DefaultGroupName, Description: defaultGroupDescription,
			Ingress: []koalav1.SecurityGroupRule{{Protocol: koalav1.ProtocolAll, ReferencedGroupID: name}},
		},
	}
	if err := r.Client.Create(ctx, sg); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, fmt.Errorf("creating the default security group: %w", err)
	}
	s.network.Status.DefaultSecurityGroupID = name
	return ctrl.Result{}, nil
}

// reconcileDelete lets a VPC go once its subnets and groups are gone: its default group
// goes with it, the others are the user's (EC2 refuses DeleteVpc while they exist).
func (r *NetworkReconciler) reconcileDelete(ctx context.Context, s *networkScope) (ctrl.Result, error) {
	n := s.network
	var subnets koalav1.SubnetList
	if err := r.Client.List(ctx, &subnets, client.InNamespace(n.Namespace), client.MatchingFields{index.VPCID: s.id}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the VPC's subnets: %w", err)
	}
	var groups koalav1.SecurityGroupList
	if err := r.Client.List(ctx, &groups, client.InNamespace(n.Namespace), client.MatchingFields{index.VPCID: s.id}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the VPC's security groups: %w", err)
	}
	others := 0
	for i := range groups.Items {
		g := &groups.Items[i]
		if g.Name == DefaultGroupObjectName(s.id) {
			if g.DeletionTimestamp.IsZero() {
				if err := r.Client.Delete(ctx, g, client.Preconditions{UID: &g.UID}); err != nil && !apierrors.IsNotFound(err) {
					return ctrl.Result{}, fmt.Errorf("deleting the default security group: %w", err)
				}
			}
			continue
		}
		others++
	}
	if len(subnets.Items) > 0 || others > 0 || len(groups.Items) > others {
		s.blocked = ptrTo(condition(false, koalav1.NetworkReasonDeleting,
			"The VPC waits for %d subnets and %d security groups to be deleted", len(subnets.Items), len(groups.Items)))
		return ctrl.Result{}, nil // their deletion requeues us
	}
	if v := n.Status.VLAN; v > 0 && n.Status.ProviderNetwork != "" {
		if err := r.Allocator.Release(ctx, koalav1.ClaimVLAN, n.Status.ProviderNetwork, strconv.Itoa(int(v)), r.holder(s)); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, dropFinalizer(ctx, r.Client, n, NetworkFinalizer)
}
