package kubevirtsim

import (
	"context"
	"fmt"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// CDI's DataSource Ready reasons.
const (
	reasonReady = "Ready"
	reasonNoPvc = "NoPvc"
)

// The DataSource controller plays CDI's: a DataSource is Ready when the DataVolume
// behind its source PVC has succeeded (or, with no DataVolume, when the PVC is bound),
// or when its source VolumeSnapshot is ready to use.
func (s *simulator) setupDataSourceController(mgr ctrl.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named("kubevirtsim-datasource").
		For(&cdiv1.DataSource{}).
		Watches(&cdiv1.DataVolume{}, handler.EnqueueRequestsFromMapFunc(s.dataSourcesForClaim)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(s.dataSourcesForClaim)).
		Watches(&snapshotv1.VolumeSnapshot{}, handler.EnqueueRequestsFromMapFunc(s.dataSourcesForSnapshot)).
		WithOptions(s.controllerOptions()).
		Complete(reconcile.Func(s.reconcileDataSource))
	if err != nil {
		return fmt.Errorf("setting up the simulated DataSource controller: %w", err)
	}
	return nil
}

func (s *simulator) reconcileDataSource(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ds := &cdiv1.DataSource{}
	if err := s.client.Get(ctx, req.NamespacedName, ds); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ds.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	if _, err := s.markAndFinalize(ctx, ds, ""); err != nil {
		return done(reconcile.Result{}, err)
	}
	status, reason, message, err := s.dataSourceReadiness(ctx, ds)
	if err != nil {
		return reconcile.Result{}, err
	}
	st := *ds.Status.DeepCopy()
	st.Source = *ds.Spec.Source.DeepCopy()
	st.Conditions = setDataSourceCondition(st.Conditions, cdiv1.DataSourceReady, status, message, reason, metav1.Now())
	if equality.Semantic.DeepEqual(st, ds.Status) {
		return reconcile.Result{}, nil
	}
	ds.Status = st
	return done(reconcile.Result{}, s.client.Status().Update(ctx, ds))
}

// dataSourceReadiness is the DataSource's Ready condition, with CDI's reasons.
func (s *simulator) dataSourceReadiness(ctx context.Context, ds *cdiv1.DataSource) (corev1.ConditionStatus, string, string, error) {
	src := ds.Spec.Source
	switch {
	case src.PVC != nil:
		key := types.NamespacedName{Namespace: src.PVC.Namespace, Name: src.PVC.Name}
		if key.Namespace == "" {
			key.Namespace = ds.Namespace
		}
		dv := &cdiv1.DataVolume{}
		err := s.client.Get(ctx, key, dv)
		switch {
		case err == nil && dv.Status.Phase == cdiv1.Succeeded:
			return corev1.ConditionTrue, reasonReady, "DataSource is ready to be consumed", nil
		case err == nil:
			phase := string(dv.Status.Phase)
			if phase == "" {
				phase = string(cdiv1.Pending)
			}
			return corev1.ConditionFalse, phase, fmt.Sprintf("Import DataVolume phase %s", phase), nil
		case !apierrors.IsNotFound(err):
			return "", "", "", err
		}
		pvc := &corev1.PersistentVolumeClaim{}
		err = s.client.Get(ctx, key, pvc)
		switch {
		case err == nil && pvc.Status.Phase == corev1.ClaimBound:
			return corev1.ConditionTrue, reasonReady, "DataSource is ready to be consumed", nil
		case err == nil:
			return corev1.ConditionFalse, string(corev1.ClaimPending), fmt.Sprintf("PVC %s is not bound", key), nil
		case apierrors.IsNotFound(err):
			return corev1.ConditionFalse, reasonNotFound, "DataVolume not found", nil
		default:
			return "", "", "", err
		}
	case src.Snapshot != nil:
		key := types.NamespacedName{Namespace: src.Snapshot.Namespace, Name: src.Snapshot.Name}
		if key.Namespace == "" {
			key.Namespace = ds.Namespace
		}
		vs := &snapshotv1.VolumeSnapshot{}
		if err := s.client.Get(ctx, key, vs); err != nil {
			if apierrors.IsNotFound(err) {
				return corev1.ConditionFalse, reasonNotFound, "VolumeSnapshot not found", nil
			}
			return "", "", "", err
		}
		if ready, msg := volumeSnapshotReady(vs); !ready {
			return corev1.ConditionFalse, "SnapshotNotReady", msg, nil
		}
		return corev1.ConditionTrue, reasonReady, "DataSource is ready to be consumed", nil
	case src.DataSource != nil:
		ref := &cdiv1.DataSource{}
		key := types.NamespacedName{Namespace: src.DataSource.Namespace, Name: src.DataSource.Name}
		if err := s.client.Get(ctx, key, ref); err != nil {
			if apierrors.IsNotFound(err) {
				return corev1.ConditionFalse, reasonNotFound, "Referenced DataSource not found", nil
			}
			return "", "", "", err
		}
		for _, c := range ref.Status.Conditions {
			if c.Type == cdiv1.DataSourceReady {
				return c.Status, c.Reason, c.Message, nil
			}
		}
		return corev1.ConditionFalse, reasonNotFound, "Referenced DataSource is not ready", nil
	}
	return corev1.ConditionFalse, reasonNoPvc, "No source PVC set", nil
}

// setDataSourceCondition sets a DataSource condition; a new status moves both times, a
// new reason or message the heartbeat.
func setDataSourceCondition(conds []cdiv1.DataSourceCondition, t cdiv1.DataSourceConditionType, status corev1.ConditionStatus, message, reason string, now metav1.Time) []cdiv1.DataSourceCondition {
	for i := range conds {
		c := &conds[i]
		if c.Type != t {
			continue
		}
		switch {
		case c.Status != status:
			c.LastTransitionTime, c.LastHeartbeatTime = now, now
		case c.Message != message || c.Reason != reason:
			c.LastHeartbeatTime = now
		}
		c.Status, c.Message, c.Reason = status, message, reason
		return conds
	}
	return append(conds, cdiv1.DataSourceCondition{Type: t, ConditionState: cdiv1.ConditionState{
		Status: status, Message: message, Reason: reason, LastTransitionTime: now, LastHeartbeatTime: now,
	}})
}
