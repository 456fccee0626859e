package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/zones"
)

// maxDefaultSubnetZones is the most zones status.defaultSubnetZones may list (its
// MaxItems): a /16 holds 16 default subnets, but zones whose subnet was deleted stay
// listed, so the list can outgrow them when zones come and go.
const maxDefaultSubnetZones = 64

// reconcileDefaultSubnets gives a default VPC a default /20 subnet in every zone that
// has nodes, also in zones that appear after the VPC was made (a Node watch requeues
// the default VPCs then). A zone that got its subnet is recorded and never gets another
// one, so that a default subnet the user deleted stays deleted, as in EC2.
func (r *NetworkReconciler) reconcileDefaultSubnets(ctx context.Context, s *networkScope) (ctrl.Result, error) {
	n := s.network
	if !n.Spec.IsDefault {
		return ctrl.Result{}, nil
	}
	labels, err := nodeLabelSets(ctx, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	zs := zones.FromNodeLabels(r.Region, labels)
	legacy := n.Status.DefaultSubnetsCreated && len(n.Status.DefaultSubnetZones) == 0
	if !legacy && !hasMissingZone(n.Status.DefaultSubnetZones, zs) {
		return ctrl.Result{}, nil // the usual case: nothing read beyond the cache
	}

	// The VPC's subnets as the API server has them, not as the cache may still have
	// them: the new subnet's CIDR must not overlap one made a moment ago (by the user,
	// or by this reconciler before its status write was lost).
	var list koalav1.SubnetList
	if err := r.reader().List(ctx, &list, client.InNamespace(n.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the VPC's subnets: %w", err)
	}
	var taken []string
	hasDefault := map[string]bool{}
	for i := range list.Items {
		sub := &list.Items[i]
		if sub.Spec.VPCID != s.id {
			continue
		}
		taken = append(taken, sub.Spec.CIDRBlock)
		if sub.Spec.DefaultForAZ {
			hasDefault[sub.Zone()] = true
		}
	}

	got := slices.Clone(n.Status.DefaultSubnetZones)
	if legacy {
		// Made by an operator that recorded only that it made the subnets once: the
		// zones whose default subnet exists now are the ones that got theirs.
		for _, z := range slices.Sorted(maps.Keys(hasDefault)) {
			if len(got) < maxDefaultSubnetZones {
				got = append(got, z)
			}
		}
	}
	defer func() {
		n.Status.DefaultSubnetZones = got
		n.Status.DefaultSubnetsCreated = len(got) > 0 || n.Status.DefaultSubnetsCreated
	}()

	prefixLen := max(defaultSubnetPrefixLen, ipam.PrefixLength(n.Spec.CIDRBlock))
	for _, z := range zs {
		if slices.Contains(got, z) {
			continue
		}
		if len(got) >= maxDefaultSubnetZones {
			break
		}
		if hasDefault[z] {
			got = append(got, z) // made before, its record lost: it is the zone's
			continue
		}
		cidr, ok := ipam.NextFree(n.Spec.CIDRBlock, prefixLen, taken)
		if !ok {
			// The VPC has no free /20 left for the zone: it gets one once a subnet of
			// the VPC is deleted (which requeues the VPC).
			log.FromContext(ctx).V(1).Info("no room for a default subnet", "zone", z)
			break
		}
		name := DefaultSubnetObjectName(s.id, z)
		sub := &koalav1.Subnet{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: n.Namespace,
				Annotations: map[string]string{koalav1.IDAnnotation: name},
				Finalizers:  []string{SubnetFinalizer},
			},
			Spec: koalav1.SubnetSpec{VPCID: s.id, CIDRBlock: cidr, AvailabilityZone: z, DefaultForAZ: true},
		}
		if err := r.Client.Create(ctx, sub); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("creating the default subnet of %s: %w", z, err)
		}
		taken = append(taken, cidr)
		got = append(got, z)
	}
	return ctrl.Result{}, nil
}

// reader is the live reader when the reconciler has one, else its client.
func (r *NetworkReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// hasMissingZone reports whether some zone of zs is not in got.
func hasMissingZone(got, zs []string) bool {
	for _, z := range zs {
		if !slices.Contains(got, z) {
			return true
		}
	}
	return false
}

// zoneLabelChanged passes a Node that joins with a zone label or whose zone label
// changes: the events that can bring a zone that default VPCs have no subnet in. A
// deleted node brings none (a zone's default subnet stays when its last node goes).
var zoneLabelChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return e.Object.GetLabels()[zones.Label] != "" },
	UpdateFunc: func(e event.UpdateEvent) bool {
		z := e.ObjectNew.GetLabels()[zones.Label]
		return z != e.ObjectOld.GetLabels()[zones.Label]
	},
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// defaultVPCsWithoutZone maps a Node to the default VPCs that have no default subnet
// in its zone yet. A node of a zone they all have maps to none, so the many Node
// events of a settled cluster (and the operator's start) requeue nothing.
func (r *NetworkReconciler) defaultVPCsWithoutZone(ctx context.Context, node client.Object) []reconcile.Request {
	zone := node.GetLabels()[zones.Label]
	var list koalav1.NetworkList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "listing VPCs to requeue for a new zone")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		n := &list.Items[i]
		if !n.Spec.IsDefault || !n.DeletionTimestamp.IsZero() {
			continue
		}
		// A zone label taken away leaves the zones of the other nodes, which can
		// include the region's default zone when no node is labelled any more.
		if zone != "" && slices.Contains(n.Status.DefaultSubnetZones, zone) {
			continue
		}
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(n)})
	}
	return out
}
