package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/ipam"
)

// Finalizers of the network kinds. The EC2 endpoint sets them when it creates an
// object, so that the operator need not spend a write on them; objects made with
// kubectl get them from the operator.
const (
	NetworkFinalizer       = "cloud.koala.dev/network"
	SubnetFinalizer        = "cloud.koala.dev/subnet"
	SecurityGroupFinalizer = "cloud.koala.dev/security-group"
	AddressFinalizer       = "cloud.koala.dev/address"
)

// NetworkConfig is what the network reconcilers share.
type NetworkConfig struct {
	// Region names the region; zones default to "<region>a".
	Region string
	// Allocator hands out VLANs, private and public addresses.
	Allocator *ipam.Allocator
}

// ensureFinalizer adds the finalizer to a live object that lacks it.
func ensureFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	if !obj.GetDeletionTimestamp().IsZero() || controllerutil.ContainsFinalizer(obj, finalizer) {
		return nil
	}
	base, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("cannot copy %T", obj)
	}
	controllerutil.AddFinalizer(obj, finalizer)
	if err := c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding finalizer: %w", err)
	}
	return nil
}

// dropFinalizer removes the finalizer, letting the object go.
func dropFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	if !controllerutil.ContainsFinalizer(obj, finalizer) {
		return nil
	}
	base, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("cannot copy %T", obj)
	}
	controllerutil.RemoveFinalizer(obj, finalizer)
	return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// nodeLabelSets returns the labels of every node, from a metadata-only cache.
func nodeLabelSets(ctx context.Context, c client.Reader) ([]map[string]string, error) {
	nodes := &metav1.PartialObjectMetadataList{}
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	if err := c.List(ctx, nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out := make([]map[string]string, len(nodes.Items))
	for i := range nodes.Items {
		out[i] = nodes.Items[i].Labels
	}
	return out, nil
}

// vpcByID returns the namespace's VPC with that EC2 ID, or nil.
func vpcByID(ctx context.Context, c client.Reader, ns, id string) (*koalav1.Network, error) {
	var list koalav1.NetworkList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up VPC %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// subnetByID returns the namespace's subnet with that EC2 ID, or nil.
func subnetByID(ctx context.Context, c client.Reader, ns, id string) (*koalav1.Subnet, error) {
	var list koalav1.SubnetList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up subnet %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// groupByID returns the namespace's security group with that EC2 ID, or nil.
func groupByID(ctx context.Context, c client.Reader, ns, id string) (*koalav1.SecurityGroup, error) {
	var list koalav1.SecurityGroupList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up security group %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// requestsOf turns a list's items into reconcile requests.
func requestsOf[T any, PT interface {
	*T
	client.Object
}](items []T) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for i := range items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(PT(&items[i]))})
	}
	return out
}

// condition builds a Ready condition.
func condition(ok bool, reason, format string, args ...any) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: koalav1.ReadyCondition, Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}
