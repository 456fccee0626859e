package kubevirtsim

import (
	"context"
	"fmt"
	"slices"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const kindDV = "DataVolume"

// dvSteps: a DataVolume's population is spread over this many steps of
// DataVolumeDelay/dvSteps: an import spends one in Pending, one in ImportScheduled and
// the rest in ImportInProgress; a clone one in CloneScheduled (once its source is
// ready) and the rest in CloneInProgress.
const dvSteps = 5

// The DataVolume controller plays CDI's import and clone controllers (and the garbage
// collector for the PVC a DataVolume owns).
func (s *simulator) setupDataVolumeController(mgr ctrl.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named("kubevirtsim-datavolume").
		For(&cdiv1.DataVolume{}).
		Owns(&corev1.PersistentVolumeClaim{}).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(s.dataVolumesCloningFrom)).
		Watches(&cdiv1.DataVolume{}, handler.EnqueueRequestsFromMapFunc(s.dataVolumesCloningFrom)).
		Watches(&cdiv1.DataSource{}, handler.EnqueueRequestsFromMapFunc(s.dataVolumesCloningFromDataSource)).
		Watches(&snapshotv1.VolumeSnapshot{}, handler.EnqueueRequestsFromMapFunc(s.dataVolumesRestoringFrom)).
		WithOptions(s.controllerOptions()).
		Complete(reconcile.Func(s.reconcileDataVolume))
	if err != nil {
		return fmt.Errorf("setting up the simulated DataVolume controller: %w", err)
	}
	return nil
}

// dvScope is what one DataVolume reconcile works on.
type dvScope struct {
	key     types.NamespacedName
	dv      *cdiv1.DataVolume
	pvc     *corev1.PersistentVolumeClaim // nil until it exists
	status  *cdiv1.DataVolumeStatus
	now     metav1.Time
	requeue time.Duration
	// restoreSnapshot names the VolumeSnapshot (of the DataVolume's namespace) its PVC
	// is restored from, when it is.
	restoreSnapshot string
}

func (s *simulator) reconcileDataVolume(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	dv := &cdiv1.DataVolume{}
	if err := s.client.Get(ctx, req.NamespacedName, dv); err != nil {
		if apierrors.IsNotFound(err) {
			s.clock.forget(kindDV, req.NamespacedName)
			return done(reconcile.Result{}, s.collectDataVolumePVC(ctx, req.NamespacedName))
		}
		return reconcile.Result{}, err
	}
	if dv.DeletionTimestamp != nil {
		return done(reconcile.Result{}, s.reconcileDataVolumeDelete(ctx, dv))
	}
	if orphaned, err := s.ownerVMGone(ctx, dv); err != nil || orphaned {
		if err == nil {
			err = s.deleteIgnoringNotFound(ctx, dv) // playing the garbage collector
		}
		return done(reconcile.Result{}, err)
	}
	if _, err := s.markAndFinalize(ctx, dv, ""); err != nil {
		return done(reconcile.Result{}, err)
	}
	sc := &dvScope{key: req.NamespacedName, dv: dv, status: dv.Status.DeepCopy(), now: metav1.Now()}
	pvc := &corev1.PersistentVolumeClaim{}
	switch err := s.client.Get(ctx, req.NamespacedName, pvc); {
	case err == nil:
		sc.pvc = pvc
	case !apierrors.IsNotFound(err):
		return reconcile.Result{}, err
	}
	if sc.pvc != nil && !isControlledBy(sc.pvc, dv) && metav1.GetControllerOf(sc.pvc) != nil {
		// The PVC of an earlier DataVolume of the same name, on its way out: its
		// deletion event brings this DataVolume back here.
		return reconcile.Result{}, nil
	}

	var err error
	switch dataVolumeKind(dv) {
	case dvImport:
		err = s.reconcileImport(ctx, sc)
	case dvClone:
		err = s.reconcileClone(ctx, sc)
	case dvUpload:
		err = s.reconcileUpload(ctx, sc)
	default:
		sc.status.Phase = cdiv1.Pending
		setTransferWaiting(sc.status, "this source is not simulated (kubevirt simulator): only http, registry, blank, s3, gcs, imageio, vddk, pvc, snapshot and sourceRef are", "Unsupported", sc.now)
	}
	if err != nil {
		return done(reconcile.Result{}, err)
	}
	return done(reconcile.Result{RequeueAfter: sc.requeue}, s.writeDataVolumeStatus(ctx, sc))
}

func (s *simulator) dvStep() time.Duration { return s.opts.DataVolumeDelay / dvSteps }

// dvElapsed is how long the DataVolume has been in its current phase.
func (s *simulator) dvElapsed(sc *dvScope) time.Duration {
	return s.clock.elapsed(kindDV, sc.key, sc.dv.UID, string(sc.status.Phase))
}

func (s *simulator) enterDVPhase(sc *dvScope, phase cdiv1.DataVolumePhase) {
	sc.status.Phase = phase
	s.clock.enter(kindDV, sc.key, sc.dv.UID, string(phase))
}

// reconcileImport: Pending -> ImportScheduled -> ImportInProgress (progress) ->
// Succeeded.
func (s *simulator) reconcileImport(ctx context.Context, sc *dvScope) error {
	st := sc.status
	st.ClaimName = sc.dv.Name
	if sc.pvc == nil {
		size, err := requestedSize(sc.dv, nil)
		if err != nil {
			return s.dataVolumeCannotStart(sc, err)
		}
		if err := s.createDataVolumePVC(ctx, sc, size); err != nil {
			return err
		}
	}
	setBoundCondition(st, sc.pvc, sc.now)
	step := s.dvStep()
	switch st.Phase {
	case cdiv1.PhaseUnset:
		s.enterDVPhase(sc, cdiv1.Pending)
		setTransferWaiting(st, "", reasonPending, sc.now)
		sc.requeue = step
	case cdiv1.Pending:
		if !s.dvWaitStep(sc, step) || !pvcBound(sc.pvc) {
			return nil
		}
		s.enterDVPhase(sc, cdiv1.ImportScheduled)
		setTransferWaiting(st, "", reasonPending, sc.now)
		sc.requeue = step
	case cdiv1.ImportScheduled:
		if !s.dvWaitStep(sc, step) {
			return nil
		}
		s.enterDVPhase(sc, cdiv1.ImportInProgress)
		st.Progress = progress(0)
		setTransferRunning(st, sc.now)
		sc.requeue = step
	case cdiv1.ImportInProgress:
		s.advanceTransfer(sc, dvSteps-2, false)
	case cdiv1.Succeeded:
		setSucceeded(st, false, sc.now)
	}
	return nil
}

// reconcileClone: CloneScheduled (until the source is ready) -> CloneInProgress (or,
// restoring a VolumeSnapshot, CloneFromSnapshotSourceInProgress) with progress ->
// Succeeded.
func (s *simulator) reconcileClone(ctx context.Context, sc *dvScope) error {
	st := sc.status
	st.ClaimName = sc.dv.Name
	if st.Phase == cdiv1.PhaseUnset || st.Phase == cdiv1.Pending {
		s.enterDVPhase(sc, cdiv1.CloneScheduled)
	}
	if st.Phase == cdiv1.Succeeded {
		setBoundCondition(st, sc.pvc, sc.now)
		setSucceeded(st, true, sc.now)
		return nil
	}
	src, srcMsg, err := s.cloneSource(ctx, sc.dv)
	if err != nil {
		return err
	}
	if sc.pvc == nil {
		var srcPVC *corev1.PersistentVolumeClaim
		if src != nil {
			srcPVC = src.pvc
		}
		size, err := requestedSize(sc.dv, srcPVC)
		if err != nil && src != nil && src.size != nil {
			size, err = *src.size, nil // a snapshot's restore size
		}
		if err != nil {
			// The size comes from the source, which is not there yet.
			setBoundCondition(st, nil, sc.now)
			setTransferWaiting(st, srcMsg, reasonCloneWithoutSource, sc.now)
			return nil
		}
		if src != nil {
			sc.restoreSnapshot = src.snapshotName
		}
		if err := s.createDataVolumePVC(ctx, sc, size); err != nil {
			return err
		}
	}
	setBoundCondition(st, sc.pvc, sc.now)
	step := s.dvStep()
	switch st.Phase {
	case cdiv1.CloneScheduled:
		switch {
		case src == nil:
			// The source's events bring the DataVolume back here.
			setTransferWaiting(st, srcMsg, reasonCloneWithoutSource, sc.now)
			return nil
		case !src.ready:
			setTransferWaiting(st, srcMsg, reasonCloneSourceNotReady, sc.now)
			return nil
		}
		setTransferWaiting(st, "", reasonPending, sc.now)
		if !pvcBound(sc.pvc) || !s.dvWaitStep(sc, step) {
			return nil
		}
		phase := cdiv1.CloneInProgress
		if src.snapshot {
			phase = cdiv1.CloneFromSnapshotSourceInProgress
		}
		s.enterDVPhase(sc, phase)
		st.Progress = progress(0)
		setTransferRunning(st, sc.now)
		sc.requeue = step
	case cdiv1.CloneInProgress, cdiv1.CloneFromSnapshotSourceInProgress:
		s.advanceTransfer(sc, dvSteps-1, true)
	}
	return nil
}

// reconcileUpload: the DataVolume waits for an upload (which nothing simulates).
func (s *simulator) reconcileUpload(ctx context.Context, sc *dvScope) error {
	st := sc.status
	st.ClaimName = sc.dv.Name
	if sc.pvc == nil {
		size, err := requestedSize(sc.dv, nil)
		if err != nil {
			return s.dataVolumeCannotStart(sc, err)
		}
		if err := s.createDataVolumePVC(ctx, sc, size); err != nil {
			return err
		}
	}
	setBoundCondition(st, sc.pvc, sc.now)
	switch st.Phase {
	case cdiv1.PhaseUnset, cdiv1.Pending:
		s.enterDVPhase(sc, cdiv1.UploadScheduled)
		setTransferWaiting(st, "", reasonPending, sc.now)
		sc.requeue = s.dvStep()
	case cdiv1.UploadScheduled:
		if s.dvWaitStep(sc, s.dvStep()) {
			s.enterDVPhase(sc, cdiv1.UploadReady)
			setTransferRunning(st, sc.now)
		}
	}
	return nil
}

// dvWaitStep reports whether the DataVolume has spent d in its phase; when not, it sets
// the requeue to when it will have.
func (s *simulator) dvWaitStep(sc *dvScope, d time.Duration) bool {
	left := wait(d, s.dvElapsed(sc))
	if left > 0 {
		sc.requeue = left
		return false
	}
	return true
}

// advanceTransfer moves the progress on, one tick a step, and ends the transfer after
// ticks steps.
func (s *simulator) advanceTransfer(sc *dvScope, ticks int, clone bool) {
	step := s.dvStep()
	elapsed := s.dvElapsed(sc)
	done := int(elapsed / step)
	if done >= ticks {
		setSucceeded(sc.status, clone, sc.now)
		s.clock.enter(kindDV, sc.key, sc.dv.UID, string(cdiv1.Succeeded))
		reason, what := "ImportSucceeded", "imported"
		if clone {
			reason, what = "CloneSucceeded", "cloned"
		}
		s.event(sc.dv, corev1.EventTypeNormal, reason, "Populate", "Successfully %s into PVC %s", what, sc.dv.Name)
		return
	}
	sc.status.Progress = progress(float64(done) / float64(ticks))
	setTransferRunning(sc.status, sc.now)
	sc.requeue = wait(time.Duration(done+1)*step, elapsed)
}

// dataVolumeCannotStart reports a DataVolume that cannot be populated as asked.
func (s *simulator) dataVolumeCannotStart(sc *dvScope, err error) error {
	sc.status.Phase = cdiv1.Pending
	setBoundCondition(sc.status, nil, sc.now)
	setTransferWaiting(sc.status, err.Error(), "InvalidSpec", sc.now)
	return nil
}

// cloneSourceState is a clone's source (a PVC, or a VolumeSnapshot) and whether it
// holds its data yet.
type cloneSourceState struct {
	pvc   *corev1.PersistentVolumeClaim // nil for a snapshot
	ready bool
	// snapshot: the source is a VolumeSnapshot; size is its restore size, if known.
	snapshot bool
	size     *resource.Quantity
	// snapshotName names a VolumeSnapshot of the DataVolume's own namespace, which the
	// PVC names as its dataSource (as CDI's restore does).
	snapshotName string
}

// writeDataVolumeStatus writes the computed status when it changed.
func (s *simulator) writeDataVolumeStatus(ctx context.Context, sc *dvScope) error {
	if equality.Semantic.DeepEqual(*sc.status, sc.dv.Status) {
		return nil
	}
	dv := sc.dv.DeepCopy()
	dv.Status = *sc.status
	if err := s.client.Status().Update(ctx, dv); err != nil {
		return fmt.Errorf("writing the status of DataVolume %s: %w", sc.key, err)
	}
	return nil
}

// reconcileDataVolumeDelete plays the garbage collector for a DataVolume deleted in the
// foreground: its PVC goes first, then the foregroundDeletion finalizer.
func (s *simulator) reconcileDataVolumeDelete(ctx context.Context, dv *cdiv1.DataVolume) error {
	if !slices.Contains(dv.Finalizers, foregroundDeletionFinalizer) {
		return nil
	}
	pvc := &corev1.PersistentVolumeClaim{}
	err := s.client.Get(ctx, client.ObjectKeyFromObject(dv), pvc)
	switch {
	case apierrors.IsNotFound(err):
		return s.removeFinalizers(ctx, dv, foregroundDeletionFinalizer)
	case err != nil:
		return err
	}
	if !isControlledBy(pvc, dv) {
		return s.removeFinalizers(ctx, dv, foregroundDeletionFinalizer)
	}
	return s.deleteIgnoringNotFound(ctx, pvc)
}

// collectDataVolumePVC deletes the PVC of a DataVolume that is gone, as the garbage
// collector would.
func (s *simulator) collectDataVolumePVC(ctx context.Context, key types.NamespacedName) error {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := s.client.Get(ctx, key, pvc); err != nil {
		return client.IgnoreNotFound(err)
	}
	gone, err := s.ownerGone(ctx, pvc, kindDV, &cdiv1.DataVolume{})
	if err != nil || !gone {
		return err
	}
	return s.deleteIgnoringNotFound(ctx, pvc)
}
