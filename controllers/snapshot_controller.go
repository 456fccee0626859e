package controllers

import (
	"context"
	"errors"
	"fmt"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
)

// SnapshotFinalizer lets the operator delete a snapshot's VolumeSnapshot (once no
// image or restore needs it) before the Snapshot disappears.
const SnapshotFinalizer = "cloud.koala.dev/snapshot"

// SnapshotReconciler takes each Snapshot as a snapshot.storage.k8s.io VolumeSnapshot of
// its volume's claim (a copy: of a temporary volume restored from the source snapshot)
// and reports it completed once the VolumeSnapshot is readyToUse.
type SnapshotReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Storage  StorageConfig
}

type snapshotScope struct {
	snapshot *koalav1.Snapshot
	id       string
	vs       *snapshotv1.VolumeSnapshot
	// copyDV is a copy's temporary volume, restored from the source snapshot.
	copyDV *cdiv1beta1.DataVolume
	obs    snapshotObservation
}

type snapshotPhase func(ctx context.Context, s *snapshotScope) (ctrl.Result, error)

// SetupWithManager registers the reconciler and what it watches.
func (r *SnapshotReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Snapshot{}).
		Owns(&snapshotv1.VolumeSnapshot{}).
		Owns(&cdiv1beta1.DataVolume{}).
		// A copy waits for its source; a deleted snapshot for its users.
		Watches(&koalav1.Snapshot{}, handler.EnqueueRequestsFromMapFunc(r.usersOrCopies)).
		Watches(&koalav1.Image{}, handler.EnqueueRequestsFromMapFunc(r.snapshotsUsed)).
		Watches(&koalav1.Volume{}, handler.EnqueueRequestsFromMapFunc(r.snapshotsUsed)).
		Named("snapshot").
		Complete(r)
}

// snapshotsUsed maps an image or a volume to the snapshots it uses.
func (r *SnapshotReconciler) snapshotsUsed(ctx context.Context, obj client.Object) []reconcile.Request {
	var used []string
	switch o := obj.(type) {
	case *koalav1.Image:
		used = o.SnapshotIDs()
	case *koalav1.Volume:
		if o.Spec.SnapshotID != "" {
			used = []string{o.Spec.SnapshotID}
		}
	}
	return r.snapshotRequests(ctx, obj.GetNamespace(), used)
}

// usersOrCopies maps a snapshot to the copies made from it and to its source.
func (r *SnapshotReconciler) usersOrCopies(ctx context.Context, obj client.Object) []reconcile.Request {
	snap := obj.(*koalav1.Snapshot)
	var out []reconcile.Request
	if snap.Spec.SourceSnapshotID != "" {
		out = r.snapshotRequests(ctx, snap.Namespace, []string{snap.Spec.SourceSnapshotID})
	}
	if snap.EC2ID() == "" {
		return out
	}
	var copies koalav1.SnapshotList
	if err := r.Client.List(ctx, &copies, client.InNamespace(snap.Namespace), client.MatchingFields{index.SnapshotID: snap.EC2ID()}); err != nil {
		log.FromContext(ctx).Error(err, "listing copies of a snapshot", "snapshot", snap.EC2ID())
		return out
	}
	for i := range copies.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&copies.Items[i])})
	}
	return out
}

func (r *SnapshotReconciler) snapshotRequests(ctx context.Context, ns string, idList []string) []reconcile.Request {
	var out []reconcile.Request
	for _, id := range idList {
		var list koalav1.SnapshotList
		if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.EC2ID: id}); err != nil {
			log.FromContext(ctx).Error(err, "looking up a snapshot", "snapshot", id)
			continue
		}
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=snapshots,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=snapshots/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=snapshots/finalizers,verbs=update
// +kubebuilder:rbac:groups=snapshot.storage.k8s.io,resources=volumesnapshots,verbs=get;list;watch;create;delete

// Reconcile takes the snapshot and reports its state.
func (r *SnapshotReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	snap := &koalav1.Snapshot{}
	if err := r.Client.Get(ctx, req.NamespacedName, snap); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if snap.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(snap, SnapshotFinalizer) {
		base := snap.DeepCopy()
		controllerutil.AddFinalizer(snap, SnapshotFinalizer)
		if err := r.Client.Patch(ctx, snap, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	s := &snapshotScope{snapshot: snap}
	s.obs = snapshotObservation{deleting: !snap.DeletionTimestamp.IsZero(), now: r.Clock.Now()}
	base := snap.DeepCopy()
	defer func() {
		if s.id == "" || (s.obs.deleting && !controllerutil.ContainsFinalizer(snap, SnapshotFinalizer)) {
			return
		}
		previous := snap.Status.State
		setSnapshotStatus(&snap.Status, s.obs)
		if retErr == nil {
			snap.Status.ObservedGeneration = snap.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, snap.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, snap, client.MergeFrom(base)); err != nil {
			if !apierrors.IsNotFound(err) {
				retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
			}
			return
		}
		if snap.Status.State != previous && previous != "" && r.Recorder != nil {
			reason := "Completed"
			if snap.Status.State == koalav1.SnapshotStateError {
				reason = "Failed"
			}
			r.Recorder.Eventf(snap, s.vs, corev1.EventTypeNormal, reason, "StateChange", "Snapshot %s is %s", s.id, snap.Status.State)
		}
	}()

	phases := []snapshotPhase{r.reconcileIdentity, r.observe, r.reconcileCopy, r.reconcileVolumeSnapshot, r.cleanupCopy}
	if s.obs.deleting {
		phases = []snapshotPhase{r.reconcileIdentity, r.observe, r.reconcileDelete}
	}
	for _, phase := range phases {
		if res, err := phase(ctx, s); err != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

func (r *SnapshotReconciler) reconcileIdentity(ctx context.Context, s *snapshotScope) (ctrl.Result, error) {
	snap := s.snapshot
	if snap.Status.SnapshotID != "" {
		s.id = snap.Status.SnapshotID
		return ctrl.Result{}, nil
	}
	id, err := chooseID(ctx, r.Client, &koalav1.SnapshotList{}, snap, ids.Snapshot, snap.Annotations[koalav1.IDAnnotation])
	if err != nil {
		return ctrl.Result{}, err
	}
	s.id = id
	snap.Status.SnapshotID = id
	snap.Status.StartTime = &metav1.Time{Time: snap.CreationTimestamp.Time}
	snap.Status.VolumeSnapshotName = snap.Name
	return ctrl.Result{}, nil
}

// volumeSnapshotName is the VolumeSnapshot that holds a snapshot's data.
func volumeSnapshotName(snap *koalav1.Snapshot) string {
	if snap.Status.VolumeSnapshotName != "" {
		return snap.Status.VolumeSnapshotName
	}
	return snap.Name
}

// copyDataVolumeName is the temporary volume of a copy.
func copyDataVolumeName(snap *koalav1.Snapshot) string { return snap.Name + "-copy" }

func (r *SnapshotReconciler) observe(ctx context.Context, s *snapshotScope) (ctrl.Result, error) {
	snap := s.snapshot
	vs := &snapshotv1.VolumeSnapshot{}
	switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: snap.Namespace, Name: volumeSnapshotName(snap)}, vs); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting VolumeSnapshot: %w", err)
	case metav1.IsControlledBy(vs, snap):
		s.vs = vs
		s.obs.volumeSnapshot = vs
	}
	if snap.Spec.SourceSnapshotID != "" {
		dv := &cdiv1beta1.DataVolume{}
		switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: snap.Namespace, Name: copyDataVolumeName(snap)}, dv); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("getting the copy's DataVolume: %w", err)
		case metav1.IsControlledBy(dv, snap):
			s.copyDV = dv
			s.obs.copyProgress = string(dv.Status.Progress)
		}
	}
	return ctrl.Result{}, nil
}

// lookup finds the snapshot or volume of ns with the EC2 ID id.
func lookup[L client.ObjectList](ctx context.Context, c client.Reader, list L, ns, id string) error {
	return c.List(ctx, list, client.InNamespace(ns), client.MatchingFields{index.EC2ID: id})
}

// reconcileCopy restores a copy's source into a temporary volume, which is then
// snapshotted as a volume would be.
func (r *SnapshotReconciler) reconcileCopy(ctx context.Context, s *snapshotScope) (ctrl.Result, error) {
	snap := s.snapshot
	if snap.Spec.SourceSnapshotID == "" || s.vs != nil || s.copyDV != nil {
		return ctrl.Result{}, nil
	}
	var sources koalav1.SnapshotList
	if err := lookup(ctx, r.Client, &sources, snap.Namespace, snap.Spec.SourceSnapshotID); err != nil {
		return ctrl.Result{}, err
	}
	if len(sources.Items) == 0 {
		s.obs.blocked = &metav1.Condition{Reason: koalav1.SnapshotReasonSourceNotFound,
			Message: fmt.Sprintf("The snapshot %s does not exist", snap.Spec.SourceSnapshotID)}
		return ctrl.Result{}, nil
	}
	src := &sources.Items[0]
	s.obs.volumeSize = src.Status.VolumeSize
	storage := &cdiv1beta1.StorageSpec{StorageClassName: r.Storage.storageClassName(koalav1.VolumeTypeGP3)}
	if src.Status.VolumeSize > 0 {
		storage.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: *quantityGiB(src.Status.VolumeSize)}
	}
	dv := &cdiv1beta1.DataVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:      copyDataVolumeName(snap),
			Namespace: snap.Namespace,
			Labels:    map[string]string{koalav1.SnapshotNameLabel: snap.Name},
		},
		Spec: cdiv1beta1.DataVolumeSpec{
			Source:  &cdiv1beta1.DataVolumeSource{Snapshot: &cdiv1beta1.DataVolumeSourceSnapshot{Namespace: src.Namespace, Name: volumeSnapshotName(src)}},
			Storage: storage,
		},
	}
	if err := controllerutil.SetControllerReference(snap, dv, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Client.Create(ctx, dv); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, fmt.Errorf("creating the copy's DataVolume: %w", err)
	}
	s.copyDV = dv
	return ctrl.Result{}, nil
}

// reconcileVolumeSnapshot creates the VolumeSnapshot of the volume's claim (or of the
// copy's temporary volume, once restored).
func (r *SnapshotReconciler) reconcileVolumeSnapshot(ctx context.Context, s *snapshotScope) (ctrl.Result, error) {
	snap := s.snapshot
	if s.vs != nil || s.obs.blocked != nil {
		return ctrl.Result{}, nil
	}
	var claim string
	// A copy's claim is a temporary gp3 volume (see the copy's DataVolume).
	volumeType := koalav1.VolumeTypeGP3
	if snap.Spec.SourceSnapshotID != "" {
		if s.copyDV == nil || s.copyDV.Status.Phase != cdiv1beta1.Succeeded {
			return ctrl.Result{}, nil // the DataVolume's events bring us back
		}
		claim = s.copyDV.Name
	} else {
		var vols koalav1.VolumeList
		if err := lookup(ctx, r.Client, &vols, snap.Namespace, snap.Spec.VolumeID); err != nil {
			return ctrl.Result{}, err
		}
		if len(vols.Items) == 0 {
			s.obs.blocked = &metav1.Condition{Reason: koalav1.SnapshotReasonVolumeNotFound,
				Message: fmt.Sprintf("The volume %s does not exist", snap.Spec.VolumeID)}
			return ctrl.Result{}, nil
		}
		vol := &vols.Items[0]
		claim = vol.Name // a volume's DataVolume, and so its claim, has the volume's name
		s.obs.volumeSize = vol.Spec.Size
		volumeType = vol.Type()
	}
	vs := &snapshotv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{
			Name:      volumeSnapshotName(snap),
			Namespace: snap.Namespace,
			Labels:    map[string]string{koalav1.SnapshotNameLabel: snap.Name},
		},
		Spec: snapshotv1.VolumeSnapshotSpec{
			Source: snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: &claim},
		},
	}
	if c := r.Storage.SnapshotClassName(volumeType); c != "" {
		vs.Spec.VolumeSnapshotClassName = &c
	}
	if err := controllerutil.SetControllerReference(snap, vs, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Client.Create(ctx, vs); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("creating VolumeSnapshot: %w", err)
	}
	s.vs = vs
	return ctrl.Result{}, nil
}

// cleanupCopy deletes a copy's temporary volume once the copy is taken.
func (r *SnapshotReconciler) cleanupCopy(ctx context.Context, s *snapshotScope) (ctrl.Result, error) {
	if s.copyDV == nil || !s.copyDV.DeletionTimestamp.IsZero() || s.vs == nil || s.vs.Status == nil ||
		s.vs.Status.ReadyToUse == nil || !*s.vs.Status.ReadyToUse {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Delete(ctx, s.copyDV, client.Preconditions{UID: &s.copyDV.UID}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("deleting the copy's DataVolume: %w", err)
	}
	return ctrl.Result{}, nil
}

// reconcileDelete waits until no image and no restore in progress needs the snapshot,
// deletes its VolumeSnapshot and temporary volume, then lets the Snapshot go.
func (r *SnapshotReconciler) reconcileDelete(ctx context.Context, s *snapshotScope) (ctrl.Result, error) {
	snap := s.snapshot
	if !controllerutil.ContainsFinalizer(snap, SnapshotFinalizer) {
		return ctrl.Result{}, nil
	}
	if user, err := r.user(ctx, snap, s.id); err != nil || user != "" {
		if user != "" {
			s.obs.blocked = &metav1.Condition{Reason: koalav1.SnapshotReasonInUse, Message: fmt.Sprintf("The snapshot is in use by %s", user)}
		}
		return ctrl.Result{}, err
	}
	var owned []client.Object // never a typed nil in the interface
	if s.vs != nil {
		owned = append(owned, s.vs)
	}
	if s.copyDV != nil {
		owned = append(owned, s.copyDV)
	}
	for _, obj := range owned {
		if obj.GetDeletionTimestamp() != nil {
			continue
		}
		if err := r.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting %T: %w", obj, err)
		}
	}
	if s.vs != nil || s.copyDV != nil {
		return ctrl.Result{}, nil // their deletion events bring us back
	}
	base := snap.DeepCopy()
	controllerutil.RemoveFinalizer(snap, SnapshotFinalizer)
	if err := r.Client.Patch(ctx, snap, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// user names an image, a volume being restored or a copy being made that still needs
// the snapshot ("" when none does).
func (r *SnapshotReconciler) user(ctx context.Context, snap *koalav1.Snapshot, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	opts := []client.ListOption{client.InNamespace(snap.Namespace), client.MatchingFields{index.SnapshotID: id}}
	var images koalav1.ImageList
	if err := r.Client.List(ctx, &images, opts...); err != nil {
		return "", err
	}
	for i := range images.Items {
		if images.Items[i].DeletionTimestamp.IsZero() {
			return "image " + orName(images.Items[i].EC2ID(), images.Items[i].Name), nil
		}
	}
	var vols koalav1.VolumeList
	if err := r.Client.List(ctx, &vols, opts...); err != nil {
		return "", err
	}
	for i := range vols.Items {
		v := &vols.Items[i]
		if v.DeletionTimestamp.IsZero() && v.Status.State != koalav1.VolumeStateAvailable && v.Status.State != koalav1.VolumeStateInUse {
			return "volume " + orName(v.EC2ID(), v.Name) + " (being restored)", nil
		}
	}
	var copies koalav1.SnapshotList
	if err := r.Client.List(ctx, &copies, opts...); err != nil {
		return "", err
	}
	for i := range copies.Items {
		c := &copies.Items[i]
		if c.DeletionTimestamp.IsZero() && c.Status.State != koalav1.SnapshotStateCompleted {
			return "snapshot " + orName(c.EC2ID(), c.Name) + " (being copied)", nil
		}
	}
	return "", nil
}

func orName(id, name string) string {
	if id != "" {
		return id
	}
	return name
}
