package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// ImageFinalizer lets the operator delete an image's DataVolume and DataSource before
// the Image disappears (owner references alone need a garbage collector).
const ImageFinalizer = "cloud.koala.dev/image"

// ImageReconciler imports each Image's disk into a CDI DataVolume (or restores it from
// a snapshot) and publishes it as a DataSource that instances clone their root disk
// from; an image is available once that is done and its snapshots are completed.
type ImageReconciler struct {
	Client client.Client
}

type imageScope struct {
	image      *koalav1.Image
	dataVolume *cdiv1beta1.DataVolume
	dataSource *cdiv1beta1.DataSource
	// rootSnapshot is the snapshot an image of source.snapshot is restored from.
	rootSnapshot *koalav1.Snapshot
	// waiting is why the image cannot be available yet although its disk may be: a
	// snapshot of it is missing or not completed.
	waiting *metav1.Condition
}

type imagePhase func(ctx context.Context, s *imageScope) (ctrl.Result, error)

// SetupWithManager registers the reconciler and what it watches.
func (r *ImageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Image{}).
		Owns(&cdiv1beta1.DataVolume{}).
		Owns(&cdiv1beta1.DataSource{}).
		Watches(&koalav1.Snapshot{}, handler.EnqueueRequestsFromMapFunc(r.imagesUsing)).
		Named("image").
		Complete(r)
}

// imagesUsing maps a snapshot to the images that use it.
func (r *ImageReconciler) imagesUsing(ctx context.Context, obj client.Object) []reconcile.Request {
	snap := obj.(*koalav1.Snapshot)
	if snap.EC2ID() == "" {
		return nil
	}
	var list koalav1.ImageList
	if err := r.Client.List(ctx, &list, client.InNamespace(snap.Namespace), client.MatchingFields{index.SnapshotID: snap.EC2ID()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the images of a snapshot", "snapshot", snap.EC2ID())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=images,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=images/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=images/finalizers,verbs=update
// +kubebuilder:rbac:groups=cdi.kubevirt.io,resources=datavolumes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cdi.kubevirt.io,resources=datasources,verbs=get;list;watch;create;delete

// Reconcile imports the image's disk and reports its state.
func (r *ImageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	img := &koalav1.Image{}
	if err := r.Client.Get(ctx, req.NamespacedName, img); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if img.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(img, ImageFinalizer) {
		base := img.DeepCopy()
		controllerutil.AddFinalizer(img, ImageFinalizer)
		if err := r.Client.Patch(ctx, img, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	s := &imageScope{image: img}
	base := img.DeepCopy()
	defer func() {
		if !img.DeletionTimestamp.IsZero() {
			return
		}
		setImageStatus(&img.Status, s.dataVolume, s.dataSource, s.waiting)
		if retErr == nil {
			img.Status.ObservedGeneration = img.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, img.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, img, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	phases := []imagePhase{r.reconcileIdentity, r.observe, r.reconcileDataVolume, r.reconcileDataSource}
	if !img.DeletionTimestamp.IsZero() {
		phases = []imagePhase{r.observe, r.reconcileDelete}
	}
	for _, phase := range phases {
		if res, err := phase(ctx, s); err != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

func (r *ImageReconciler) reconcileIdentity(ctx context.Context, s *imageScope) (ctrl.Result, error) {
	img := s.image
	if img.Status.ImageID != "" {
		return ctrl.Result{}, nil
	}
	id, err := chooseID(ctx, r.Client, &koalav1.ImageList{}, img, ids.Image, img.Annotations[koalav1.IDAnnotation])
	if err != nil {
		return ctrl.Result{}, err
	}
	img.Status.ImageID = id
	img.Status.CreationDate = &metav1.Time{Time: img.CreationTimestamp.Time}
	return ctrl.Result{}, nil
}

func (r *ImageReconciler) observe(ctx context.Context, s *imageScope) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(s.image)
	dv := &cdiv1beta1.DataVolume{}
	if err := r.Client.Get(ctx, key, dv); err == nil {
		if metav1.IsControlledBy(dv, s.image) {
			s.dataVolume = dv
		}
	} else if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("getting DataVolume: %w", err)
	}
	ds := &cdiv1beta1.DataSource{}
	if err := r.Client.Get(ctx, key, ds); err == nil {
		if metav1.IsControlledBy(ds, s.image) {
			s.dataSource = ds
		}
	} else if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("getting DataSource: %w", err)
	}
	return ctrl.Result{}, r.observeSnapshots(ctx, s)
}

// observeSnapshots finds the snapshots the image uses: the root's (which the disk is
// restored from) and its devices' (which instances restore), and whether each is
// completed.
func (r *ImageReconciler) observeSnapshots(ctx context.Context, s *imageScope) error {
	img := s.image
	for _, id := range img.SnapshotIDs() {
		var list koalav1.SnapshotList
		if err := r.Client.List(ctx, &list, client.InNamespace(img.Namespace), client.MatchingFields{index.EC2ID: id}); err != nil {
			return fmt.Errorf("looking up snapshot %s: %w", id, err)
		}
		if len(list.Items) == 0 {
			if s.waiting == nil {
				s.waiting = &metav1.Condition{Reason: koalav1.ImageReasonSnapshotNotFound, Message: fmt.Sprintf("The snapshot %s does not exist", id)}
			}
			continue
		}
		snap := &list.Items[0]
		if src := img.Spec.Source.Snapshot; src != nil && src.SnapshotID == id {
			s.rootSnapshot = snap
		}
		if snap.Status.State != koalav1.SnapshotStateCompleted && s.waiting == nil {
			s.waiting = &metav1.Condition{Reason: koalav1.ImageReasonSnapshotPending, Message: fmt.Sprintf("The snapshot %s is %s", id, orUnknown(string(snap.Status.State)))}
		}
	}
	return nil
}

// desiredDataVolume imports the image's disk. The DataVolume and the DataSource share
// the Image's name.
func desiredDataVolume(img *koalav1.Image, rootSnapshot *koalav1.Snapshot) *cdiv1beta1.DataVolume {
	size := img.Spec.RootVolumeSize
	if size <= 0 {
		size = 8
	}
	source := &cdiv1beta1.DataVolumeSource{}
	switch {
	case img.Spec.Source.HTTP != nil:
		source.HTTP = &cdiv1beta1.DataVolumeSourceHTTP{URL: img.Spec.Source.HTTP.URL}
	case img.Spec.Source.Registry != nil:
		url := img.Spec.Source.Registry.URL
		source.Registry = &cdiv1beta1.DataVolumeSourceRegistry{URL: &url}
	case rootSnapshot != nil:
		source.Snapshot = &cdiv1beta1.DataVolumeSourceSnapshot{Namespace: rootSnapshot.Namespace, Name: volumeSnapshotName(rootSnapshot)}
	}
	return &cdiv1beta1.DataVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:      img.Name,
			Namespace: img.Namespace,
			Labels:    map[string]string{koalav1.ImageNameLabel: img.Name},
		},
		Spec: cdiv1beta1.DataVolumeSpec{
			Source: source,
			Storage: &cdiv1beta1.StorageSpec{
				Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(int64(size)<<30, resource.BinarySI)},
				},
			},
		},
	}
}

func (r *ImageReconciler) reconcileDataVolume(ctx context.Context, s *imageScope) (ctrl.Result, error) {
	if s.dataVolume != nil {
		return ctrl.Result{}, nil
	}
	if s.image.Spec.Source.Snapshot != nil && s.rootSnapshot == nil {
		return ctrl.Result{}, nil // the snapshot's arrival brings us back
	}
	dv := desiredDataVolume(s.image, s.rootSnapshot)
	if err := controllerutil.SetControllerReference(s.image, dv, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Client.Create(ctx, dv); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, fmt.Errorf("creating DataVolume: %w", err)
	}
	s.dataVolume = dv
	return ctrl.Result{}, nil
}

func (r *ImageReconciler) reconcileDataSource(ctx context.Context, s *imageScope) (ctrl.Result, error) {
	if s.dataSource != nil {
		return ctrl.Result{}, nil
	}
	img := s.image
	ds := &cdiv1beta1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: img.Name, Namespace: img.Namespace, Labels: map[string]string{koalav1.ImageNameLabel: img.Name}},
		Spec: cdiv1beta1.DataSourceSpec{Source: cdiv1beta1.DataSourceSource{
			PVC: &cdiv1beta1.DataVolumeSourcePVC{Namespace: img.Namespace, Name: img.Name},
		}},
	}
	if err := controllerutil.SetControllerReference(img, ds, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Client.Create(ctx, ds); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, fmt.Errorf("creating DataSource: %w", err)
	}
	s.dataSource = ds
	return ctrl.Result{}, nil
}

func (r *ImageReconciler) reconcileDelete(ctx context.Context, s *imageScope) (ctrl.Result, error) {
	var owned []client.Object // never a typed nil in the interface
	if s.dataSource != nil {
		owned = append(owned, s.dataSource)
	}
	if s.dataVolume != nil {
		owned = append(owned, s.dataVolume)
	}
	for _, obj := range owned {
		if obj.GetDeletionTimestamp() != nil {
			continue
		}
		if err := r.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting %T: %w", obj, err)
		}
	}
	if s.dataSource != nil || s.dataVolume != nil {
		return ctrl.Result{}, nil // their deletion events requeue us
	}
	base := s.image.DeepCopy()
	controllerutil.RemoveFinalizer(s.image, ImageFinalizer)
	if err := r.Client.Patch(ctx, s.image, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// setImageStatus maps CDI's view of the import to the image's EC2 state. waiting, when
// not nil, holds an image whose disk is ready back (a snapshot is not completed).
func setImageStatus(st *koalav1.ImageStatus, dv *cdiv1beta1.DataVolume, ds *cdiv1beta1.DataSource, waiting *metav1.Condition) {
	cond := metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse, Reason: koalav1.ImageReasonImporting, Message: "The disk is being imported"}
	if waiting != nil {
		cond.Reason, cond.Message = waiting.Reason, waiting.Message
	}
	st.State = koalav1.ImageStatePending
	st.StateReason = nil
	if dv != nil {
		st.Progress = string(dv.Status.Progress)
		switch dv.Status.Phase {
		case cdiv1beta1.Failed:
			st.State = koalav1.ImageStateFailed
			msg := "CDI failed to import the disk"
			for _, c := range dv.Status.Conditions {
				if c.Type == cdiv1beta1.DataVolumeRunning && c.Message != "" {
					msg = c.Message
				}
			}
			st.StateReason = &koalav1.StateReason{Code: "Client.ImportFailed", Message: msg}
			cond.Reason, cond.Message = koalav1.ImageReasonImportFailed, msg
		case cdiv1beta1.Succeeded:
			if dataSourceReady(ds) && waiting == nil {
				st.State = koalav1.ImageStateAvailable
				st.DataSourceName = ds.Name
				cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, koalav1.ImageReasonAvailable, "The image is available"
			}
		}
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}

func dataSourceReady(ds *cdiv1beta1.DataSource) bool {
	if ds == nil {
		return false
	}
	for _, c := range ds.Status.Conditions {
		if c.Type == cdiv1beta1.DataSourceReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
