package kubevirtsim

import (
	"context"
	"fmt"
	"slices"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	kindVS = "VolumeSnapshot"

	// snapshotBoundFinalizer is the snapshot-controller's finalizer on a VolumeSnapshot
	// bound to a content; it goes once the content has been dealt with.
	snapshotBoundFinalizer = "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection"
	// contentBoundFinalizer is the snapshot-controller's finalizer on a content bound to
	// a VolumeSnapshot.
	contentBoundFinalizer = "snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection"

	// clock steps of a VolumeSnapshot.
	stepCutting = "Cutting"
)

// The VolumeSnapshot controller plays the CSI snapshot-controller and the simulated
// driver's csi-snapshotter: a VolumeSnapshot of a bound PVC gets a
// VolumeSnapshotContent at once (the point in time is cut: creationTime is set) and
// becomes readyToUse after SnapshotDelay, with the PVC's capacity as its restoreSize.
// Deleting a VolumeSnapshot deletes its content when the content's deletionPolicy is
// Delete. Pre-provisioned snapshots (source.volumeSnapshotContentName) are not
// simulated.
func (s *simulator) setupVolumeSnapshotController(mgr ctrl.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named("kubevirtsim-volumesnapshot").
		For(&snapshotv1.VolumeSnapshot{}).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(s.snapshotsOfClaim)).
		WithOptions(s.controllerOptions()).
		Complete(reconcile.Func(s.reconcileVolumeSnapshot))
	if err != nil {
		return fmt.Errorf("setting up the simulated VolumeSnapshot controller: %w", err)
	}
	return nil
}

// vsScope is what one VolumeSnapshot reconcile works on.
type vsScope struct {
	key     types.NamespacedName
	vs      *snapshotv1.VolumeSnapshot
	status  *snapshotv1.VolumeSnapshotStatus
	now     metav1.Time
	requeue reconcile.Result
}

func (s *simulator) reconcileVolumeSnapshot(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	vs := &snapshotv1.VolumeSnapshot{}
	if err := s.client.Get(ctx, req.NamespacedName, vs); err != nil {
		if apierrors.IsNotFound(err) {
			s.clock.forget(kindVS, req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if vs.DeletionTimestamp != nil {
		return done(reconcile.Result{}, s.reconcileVolumeSnapshotDelete(ctx, vs))
	}
	if _, err := s.markAndFinalize(ctx, vs, snapshotBoundFinalizer); err != nil {
		return done(reconcile.Result{}, err)
	}
	status := &snapshotv1.VolumeSnapshotStatus{}
	if vs.Status != nil {
		status = vs.Status.DeepCopy()
	}
	sc := &vsScope{key: req.NamespacedName, vs: vs, status: status, now: metav1.Now()}
	if err := s.takeSnapshot(ctx, sc); err != nil {
		return done(reconcile.Result{}, err)
	}
	return done(sc.requeue, s.writeVolumeSnapshotStatus(ctx, sc))
}

// takeSnapshot moves the snapshot on: cut (content created), then ready.
func (s *simulator) takeSnapshot(ctx context.Context, sc *vsScope) error {
	st := sc.status
	if st.ReadyToUse != nil && *st.ReadyToUse {
		return nil
	}
	vs := sc.vs
	claim := vs.Spec.Source.PersistentVolumeClaimName
	if claim == nil || *claim == "" {
		snapshotError(st, "pre-provisioned snapshots (source.volumeSnapshotContentName) are not simulated (kubevirt simulator)", sc.now)
		return nil
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := s.client.Get(ctx, types.NamespacedName{Namespace: vs.Namespace, Name: *claim}, pvc); err != nil {
		if apierrors.IsNotFound(err) {
			// The claim's arrival brings the snapshot back here.
			snapshotError(st, fmt.Sprintf("failed to take snapshot %s: PersistentVolumeClaim %s not found", vs.Name, *claim), sc.now)
			return nil
		}
		return err
	}
	if !pvcBound(pvc) {
		st.ReadyToUse = ptrTo(false)
		return nil // the claim's binding brings the snapshot back here
	}
	class, msg, err := s.snapshotClass(ctx, vs)
	if err != nil {
		return err
	}
	if class == nil {
		snapshotError(st, msg, sc.now)
		return nil
	}
	size := pvc.Status.Capacity[corev1.ResourceStorage]
	if st.BoundVolumeSnapshotContentName == nil {
		content, err := s.ensureSnapshotContent(ctx, vs, pvc, class)
		if err != nil {
			return err
		}
		st.BoundVolumeSnapshotContentName = ptrTo(content.Name)
		st.CreationTime = ptrTo(sc.now)
		st.ReadyToUse = ptrTo(false)
		st.RestoreSize = ptrTo(size.DeepCopy())
		st.Error = nil
		s.clock.enter(kindVS, sc.key, vs.UID, stepCutting)
		s.event(vs, corev1.EventTypeNormal, "SnapshotCreated", "CreateSnapshot", "Snapshot %s/%s was successfully created by the CSI driver", vs.Namespace, vs.Name)
		sc.requeue = reconcile.Result{RequeueAfter: s.opts.SnapshotDelay}
		return nil
	}
	if left := wait(s.opts.SnapshotDelay, s.clock.elapsed(kindVS, sc.key, vs.UID, stepCutting)); left > 0 {
		sc.requeue = reconcile.Result{RequeueAfter: left}
		return nil
	}
	content := &snapshotv1.VolumeSnapshotContent{}
	if err := s.client.Get(ctx, client.ObjectKey{Name: *st.BoundVolumeSnapshotContentName}, content); err != nil {
		if apierrors.IsNotFound(err) {
			snapshotError(st, fmt.Sprintf("VolumeSnapshotContent %s is missing", *st.BoundVolumeSnapshotContentName), sc.now)
			return nil
		}
		return err
	}
	if err := s.markContentReady(ctx, content, st); err != nil {
		return err
	}
	st.ReadyToUse = ptrTo(true)
	s.event(vs, corev1.EventTypeNormal, "SnapshotReady", "ReadySnapshot", "Snapshot %s/%s is ready to use", vs.Namespace, vs.Name)
	return nil
}

func snapshotError(st *snapshotv1.VolumeSnapshotStatus, message string, now metav1.Time) {
	st.ReadyToUse = ptrTo(false)
	if st.Error != nil && st.Error.Message != nil && *st.Error.Message == message {
		return
	}
	st.Error = &snapshotv1.VolumeSnapshotError{Time: ptrTo(now), Message: ptrTo(message)}
}

// contentName is the snapshot-controller's name for a dynamically created content.
func contentName(vs *snapshotv1.VolumeSnapshot) string { return "snapcontent-" + string(vs.UID) }

// ensureSnapshotContent creates the snapshot's content (cluster-scoped), or finds the
// one an earlier reconcile created.
func (s *simulator) ensureSnapshotContent(ctx context.Context, vs *snapshotv1.VolumeSnapshot, pvc *corev1.PersistentVolumeClaim, class *snapshotv1.VolumeSnapshotClass) (*snapshotv1.VolumeSnapshotContent, error) {
	content := &snapshotv1.VolumeSnapshotContent{
		ObjectMeta: metav1.ObjectMeta{
			Name:        contentName(vs),
			Annotations: map[string]string{SimulatedAnnotation: simulatedValue},
			Finalizers:  []string{contentBoundFinalizer},
		},
		Spec: snapshotv1.VolumeSnapshotContentSpec{
			VolumeSnapshotRef: corev1.ObjectReference{
				APIVersion: snapshotv1.SchemeGroupVersion.String(), Kind: kindVS,
				Namespace: vs.Namespace, Name: vs.Name, UID: vs.UID,
			},
			DeletionPolicy:          class.DeletionPolicy,
			Driver:                  class.Driver,
			VolumeSnapshotClassName: ptrTo(class.Name),
			Source:                  snapshotv1.VolumeSnapshotContentSource{VolumeHandle: ptrTo("simulated-" + string(pvc.UID))},
			SourceVolumeMode:        pvc.Spec.VolumeMode,
		},
	}
	if err := s.client.Create(ctx, content); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating VolumeSnapshotContent %s: %w", content.Name, err)
		}
		if err := s.reader.Get(ctx, client.ObjectKey{Name: content.Name}, content); err != nil {
			return nil, err
		}
	}
	return content, nil
}

// markContentReady writes what the CSI driver reports into the content's status.
func (s *simulator) markContentReady(ctx context.Context, content *snapshotv1.VolumeSnapshotContent, st *snapshotv1.VolumeSnapshotStatus) error {
	want := snapshotv1.VolumeSnapshotContentStatus{
		SnapshotHandle: ptrTo("simulated-snapshot-" + string(content.UID)),
		ReadyToUse:     ptrTo(true),
	}
	if st.CreationTime != nil {
		want.CreationTime = ptrTo(st.CreationTime.UnixNano())
	}
	if st.RestoreSize != nil {
		want.RestoreSize = ptrTo(st.RestoreSize.Value())
	}
	if content.Status != nil && equality.Semantic.DeepEqual(*content.Status, want) {
		return nil
	}
	content.Status = &want
	if err := s.client.Status().Update(ctx, content); err != nil {
		return fmt.Errorf("writing the status of VolumeSnapshotContent %s: %w", content.Name, err)
	}
	return nil
}

func (s *simulator) writeVolumeSnapshotStatus(ctx context.Context, sc *vsScope) error {
	if sc.vs.Status != nil && equality.Semantic.DeepEqual(*sc.status, *sc.vs.Status) {
		return nil
	}
	vs := sc.vs.DeepCopy()
	vs.Status = sc.status
	if err := s.client.Status().Update(ctx, vs); err != nil {
		return fmt.Errorf("writing the status of VolumeSnapshot %s: %w", sc.key, err)
	}
	return nil
}

// reconcileVolumeSnapshotDelete deletes the content of a deleted VolumeSnapshot (when
// its policy says so) and then lets the VolumeSnapshot go.
func (s *simulator) reconcileVolumeSnapshotDelete(ctx context.Context, vs *snapshotv1.VolumeSnapshot) error {
	if !slices.Contains(vs.Finalizers, snapshotBoundFinalizer) {
		return nil
	}
	name := contentName(vs)
	if vs.Status != nil && vs.Status.BoundVolumeSnapshotContentName != nil {
		name = *vs.Status.BoundVolumeSnapshotContentName
	}
	content := &snapshotv1.VolumeSnapshotContent{}
	err := s.client.Get(ctx, client.ObjectKey{Name: name}, content)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		if err := s.removeFinalizers(ctx, content, contentBoundFinalizer); err != nil {
			return err
		}
		if content.Spec.DeletionPolicy == snapshotv1.VolumeSnapshotContentDelete {
			if err := s.deleteIgnoringNotFound(ctx, content); err != nil {
				return err
			}
		}
	}
	s.clock.forget(kindVS, client.ObjectKeyFromObject(vs))
	return s.removeFinalizers(ctx, vs, snapshotBoundFinalizer)
}

// snapshotsOfClaim maps a PVC to the VolumeSnapshots taken of it.
func (s *simulator) snapshotsOfClaim(ctx context.Context, o client.Object) []reconcile.Request {
	var list snapshotv1.VolumeSnapshotList
	if err := s.client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexVSByClaim: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing VolumeSnapshots of a claim", "claim", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// volumeSnapshotReady reports whether a VolumeSnapshot can be restored, its restore
// size, and (when it cannot) why.
func volumeSnapshotReady(vs *snapshotv1.VolumeSnapshot) (bool, string) {
	switch {
	case vs.Status == nil:
		return false, fmt.Sprintf("VolumeSnapshot %s/%s is not ready", vs.Namespace, vs.Name)
	case vs.Status.Error != nil && vs.Status.Error.Message != nil:
		return false, fmt.Sprintf("VolumeSnapshot %s/%s: %s", vs.Namespace, vs.Name, *vs.Status.Error.Message)
	case vs.Status.ReadyToUse == nil || !*vs.Status.ReadyToUse:
		return false, fmt.Sprintf("VolumeSnapshot %s/%s is not ready", vs.Namespace, vs.Name)
	}
	return true, ""
}
