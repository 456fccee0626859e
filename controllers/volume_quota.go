package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/quota"
)

// volumeQuotaRecheck is how often a volume held back by its account's storage limit
// looks again for room (an older volume deleted, the limit raised).
const volumeQuotaRecheck = 10 * time.Second

// observeQuota holds back a volume that has no storage yet when, with it, its
// account's volumes would pass the account's volumeGiB quota. The EC2 endpoint
// refuses such creates; this covers volumes made with kubectl, which the namespace's
// ResourceQuota would otherwise stop only at their PersistentVolumeClaim, out of the
// user's sight. Of the account's volumes, the oldest get storage first, so a volume
// the endpoint let through is never held back for a younger one.
func (r *VolumeReconciler) observeQuota(ctx context.Context, s *volumeScope) (ctrl.Result, error) {
	vol := s.volume
	if s.obs.blocked != nil || s.obs.deleting {
		return ctrl.Result{}, nil
	}
	acct := &koalav1.Account{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: vol.Namespace}, acct); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting account %s: %w", vol.Namespace, err)
	}
	q := acct.Spec.Quotas
	if acct.Status.Namespace != vol.Namespace || q.VolumeGiB == nil {
		return ctrl.Result{}, nil
	}
	var list koalav1.VolumeList
	if err := r.Client.List(ctx, &list, client.InNamespace(vol.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the account's volumes: %w", err)
	}
	var older []koalav1.Volume
	for i := range list.Items {
		if v := &list.Items[i]; v.Name != vol.Name && volumeCreatedBefore(v, vol) {
			older = append(older, *v)
		}
	}
	exceeded := quota.CheckVolumeGiB(q, quota.VolumeGiB(older, ""), int64(vol.Spec.Size))
	if exceeded == nil {
		return ctrl.Result{}, nil
	}
	s.obs.blocked = &metav1.Condition{Reason: koalav1.VolumeReasonVolumeLimitExceeded, Message: exceeded.Message}
	return ctrl.Result{RequeueAfter: volumeQuotaRecheck}, nil
}

// volumeCreatedBefore orders volumes by creation, then by name (timestamps have
// one-second precision).
func volumeCreatedBefore(a, b *koalav1.Volume) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
