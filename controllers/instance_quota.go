package controllers

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/quota"
)

// accountQuotas returns the quotas of the account whose namespace this is; none when
// no Account owns the namespace.
func (r *InstanceReconciler) accountQuotas(ctx context.Context, namespace string) (koalav1.AccountQuotas, error) {
	acct := &koalav1.Account{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: namespace}, acct); err != nil {
		if apierrors.IsNotFound(err) {
			return koalav1.AccountQuotas{}, nil
		}
		return koalav1.AccountQuotas{}, fmt.Errorf("getting account %s: %w", namespace, err)
	}
	if acct.Status.Namespace != namespace {
		return koalav1.AccountQuotas{}, nil
	}
	return acct.Spec.Quotas, nil
}

// quotaBlock says why an instance may not start now, or nil. It is the operator's
// half of the quotas: the EC2 endpoint refuses launches past them, and this holds back
// what kubectl users create and what launches on different endpoint replicas raced
// in. Of the instances asked to run, the oldest are started first.
func (r *InstanceReconciler) quotaBlock(ctx context.Context, inst *koalav1.Instance) (*metav1.Condition, error) {
	q, err := r.accountQuotas(ctx, inst.Namespace)
	if err != nil || !quota.Limited(q) {
		return nil, err
	}
	var list koalav1.InstanceList
	if err := r.Client.List(ctx, &list, client.InNamespace(inst.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the account's instances: %w", err)
	}
	var its instancetypev1beta1.VirtualMachineClusterInstancetypeList
	if err := r.Client.List(ctx, &its); err != nil {
		return nil, fmt.Errorf("listing instance types: %w", err)
	}
	types := make(map[string]catalog.Type, len(its.Items))
	for i := range its.Items {
		types[its.Items[i].Name] = catalog.Describe(&its.Items[i])
	}
	before := olderRunning(list.Items, inst)
	if exceeded := quota.Check(q, quota.InstanceUsage(before, types), quota.Of(types[inst.Spec.InstanceType], 1)); exceeded != nil {
		return &metav1.Condition{Reason: exceeded.Code, Message: exceeded.Message}, nil
	}
	return nil, nil
}

// olderRunning are the instances asked to run that were created before inst.
func olderRunning(all []koalav1.Instance, inst *koalav1.Instance) []koalav1.Instance {
	sort.Slice(all, func(i, j int) bool { return createdBefore(&all[i], &all[j]) })
	var out []koalav1.Instance
	for i := range all {
		if all[i].UID == inst.UID {
			break
		}
		if quota.Counts(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out
}

func createdBefore(a, b *koalav1.Instance) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// instancesHeldByQuota maps a change in an account (its quotas, or one of its
// instances stopping) to the instances of the account that wait for room.
func (r *InstanceReconciler) instancesHeldByQuota(ctx context.Context, namespace string) []reconcile.Request {
	q, err := r.accountQuotas(ctx, namespace)
	if err != nil || !quota.Limited(q) {
		return nil
	}
	var list koalav1.InstanceList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		inst := &list.Items[i]
		if c := readyConditionOf(inst); c != nil && (c.Reason == quota.CodeInstanceLimitExceeded || c.Reason == quota.CodeVcpuLimitExceeded) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(inst)})
		}
	}
	return out
}

func (r *InstanceReconciler) instancesOfAccount(ctx context.Context, obj client.Object) []reconcile.Request {
	ns := obj.(*koalav1.Account).Status.Namespace
	if ns == "" {
		return nil
	}
	return r.instancesHeldByQuota(ctx, ns)
}

func (r *InstanceReconciler) instancesBesides(ctx context.Context, obj client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, req := range r.instancesHeldByQuota(ctx, obj.GetNamespace()) {
		if req.Name != obj.GetName() {
			out = append(out, req)
		}
	}
	return out
}

func readyConditionOf(inst *koalav1.Instance) *metav1.Condition {
	for i := range inst.Status.Conditions {
		if inst.Status.Conditions[i].Type == koalav1.ReadyCondition {
			return &inst.Status.Conditions[i]
		}
	}
	return nil
}
