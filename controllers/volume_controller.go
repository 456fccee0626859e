package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
)

// VolumeFinalizer lets the operator delete a volume's DataVolume (and wait until the
// volume is detached) before the Volume disappears.
const VolumeFinalizer = "cloud.koala.dev/volume"

// gib is a GiB in bytes.
const gib = int64(1) << 30

// VolumeReconciler provisions each Volume as a CDI DataVolume of its type's
// StorageClass (blank, restored from a snapshot, or cloned from an image), grows its
// claim when the volume grows, and reports its state and attachments as KubeVirt shows
// them. Attaching is the Instance reconciler's business: it owns the VirtualMachine.
type VolumeReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Storage  StorageConfig
	// MaxConcurrentReconciles bounds parallel reconciles; 0 uses controller-runtime's 1.
	// Each launched instance's root volume is reconciled about ten times, one of them
	// waiting for a status write: one worker passes about a dozen volumes a second.
	MaxConcurrentReconciles int

	written writtenStatuses
}

// volumeScope is what one reconcile of one volume reads and decides.
type volumeScope struct {
	volume *koalav1.Volume
	id     string
	dv     *cdiv1beta1.DataVolume
	pvc    *corev1.PersistentVolumeClaim
	obs    volumeObservation
	// provisionedByVM: the volume is the root volume of the instance it is attached to,
	// whose VirtualMachine creates its DataVolume.
	provisionedByVM bool
	// isRoot: the volume is the root volume of the instance it is attached to (also
	// while it is being deleted).
	isRoot   bool
	snapshot *koalav1.Snapshot
	image    *koalav1.Image
}

type volumePhase func(ctx context.Context, s *volumeScope) (ctrl.Result, error)

// SetupWithManager registers the reconciler and what it watches.
func (r *VolumeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Volume{}).
		// A root volume's DataVolume belongs to the VirtualMachine; every volume's
		// DataVolume carries the volume's name.
		// Each watch passes only the changes that the volume's status or actions read:
		// CDI, KubeVirt and the instance reconciler write their objects' status several
		// times per launch, and each would otherwise be a reconcile of every volume of
		// the instance.
		Watches(&cdiv1beta1.DataVolume{}, handler.EnqueueRequestsFromMapFunc(volumeOfLabelled), builder.WithPredicates(dataVolumeChanged)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(sameName), builder.WithPredicates(claimChanged)).
		Watches(&kubevirtv1.VirtualMachine{}, handler.EnqueueRequestsFromMapFunc(r.volumesOfInstanceLabelled), builder.WithPredicates(vmChanged)).
		Watches(&kubevirtv1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(r.volumesOfInstanceLabelled), builder.WithPredicates(vmiDisksChanged)).
		Watches(&koalav1.Instance{}, handler.EnqueueRequestsFromMapFunc(r.volumesOfInstance), builder.WithPredicates(instancePlacementChanged)).
		Watches(&koalav1.Snapshot{}, handler.EnqueueRequestsFromMapFunc(r.volumesOfSnapshot)).
		Named("volume").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// dataVolumeChanged passes the updates of a DataVolume that the volume reads: whether
// it succeeded or failed (and why), its owner and labels (a root volume's DataVolume
// is the VM's, then handed over), its deletion. Not the steps and progress of its
// provisioning, which the volume shows as "creating" all the same.
var dataVolumeChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, ok1 := e.ObjectOld.(*cdiv1beta1.DataVolume)
		cur, ok2 := e.ObjectNew.(*cdiv1beta1.DataVolume)
		if !ok1 || !ok2 {
			return true
		}
		settled := func(p cdiv1beta1.DataVolumePhase) cdiv1beta1.DataVolumePhase {
			if p == cdiv1beta1.Succeeded || p == cdiv1beta1.Failed {
				return p
			}
			return ""
		}
		return settled(old.Status.Phase) != settled(cur.Status.Phase) ||
			(cur.Status.Phase == cdiv1beta1.Failed && !equality.Semantic.DeepEqual(old.Status.Conditions, cur.Status.Conditions)) ||
			!old.DeletionTimestamp.Equal(cur.DeletionTimestamp) ||
			!equality.Semantic.DeepEqual(old.OwnerReferences, cur.OwnerReferences) || !equality.Semantic.DeepEqual(old.Labels, cur.Labels)
	},
}

// claimChanged passes the updates of a PersistentVolumeClaim that the volume reads:
// its phase, capacity, class and request, its deletion.
var claimChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, ok1 := e.ObjectOld.(*corev1.PersistentVolumeClaim)
		cur, ok2 := e.ObjectNew.(*corev1.PersistentVolumeClaim)
		if !ok1 || !ok2 {
			return true
		}
		return old.Status.Phase != cur.Status.Phase || !equality.Semantic.DeepEqual(old.Status.Capacity, cur.Status.Capacity) ||
			!equality.Semantic.DeepEqual(old.Spec.StorageClassName, cur.Spec.StorageClassName) ||
			!equality.Semantic.DeepEqual(old.Spec.Resources, cur.Spec.Resources) || !old.DeletionTimestamp.Equal(cur.DeletionTimestamp)
	},
}

// vmiDisksChanged passes the updates of a VirtualMachineInstance that change where a
// volume's disk is: the guest's volumes and which of them are ready, whether it runs
// or has ended, its deletion.
var vmiDisksChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, ok1 := e.ObjectOld.(*kubevirtv1.VirtualMachineInstance)
		cur, ok2 := e.ObjectNew.(*kubevirtv1.VirtualMachineInstance)
		if !ok1 || !ok2 {
			return true
		}
		return guestRuns(old) != guestRuns(cur) || old.IsFinal() != cur.IsFinal() || !old.DeletionTimestamp.Equal(cur.DeletionTimestamp) ||
			!equality.Semantic.DeepEqual(old.Spec.Volumes, cur.Spec.Volumes) || !slices.Equal(readyVolumes(old), readyVolumes(cur))
	},
}

// readyVolumes names the guest's volumes that KubeVirt reports ready, in its order.
func readyVolumes(vmi *kubevirtv1.VirtualMachineInstance) []string {
	var out []string
	for _, st := range vmi.Status.VolumeStatus {
		if st.Phase == kubevirtv1.VolumeReady {
			out = append(out, st.Name)
		}
	}
	return out
}

// instancePlacementChanged passes the updates of an instance that change how its
// volumes are placed (its ID, zone and root device, see placeVolumes) or its deletion;
// not its state, address or conditions.
var instancePlacementChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, ok1 := e.ObjectOld.(*koalav1.Instance)
		cur, ok2 := e.ObjectNew.(*koalav1.Instance)
		if !ok1 || !ok2 {
			return true
		}
		return old.Generation != cur.Generation || old.EC2ID() != cur.EC2ID() || instanceZone(old) != instanceZone(cur) ||
			instanceRootDevice(old) != instanceRootDevice(cur) || !old.DeletionTimestamp.Equal(cur.DeletionTimestamp)
	},
}

func volumeOfLabelled(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[koalav1.VolumeNameLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

func sameName(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(obj)}}
}

// volumesAttachedTo lists the volumes of ns attached (or being attached or detached)
// to the instance with EC2 ID id, as requests.
func (r *VolumeReconciler) volumesAttachedTo(ctx context.Context, ns, id string) []reconcile.Request {
	if id == "" {
		return nil
	}
	var list koalav1.VolumeList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.VolumeInstanceID: id}); err != nil {
		log.FromContext(ctx).Error(err, "listing the volumes of an instance", "instance", id)
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

func (r *VolumeReconciler) volumesOfInstanceLabelled(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.volumesAttachedTo(ctx, obj.GetNamespace(), obj.GetLabels()[koalav1.InstanceIDLabel])
}

func (r *VolumeReconciler) volumesOfInstance(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.volumesAttachedTo(ctx, obj.GetNamespace(), obj.(*koalav1.Instance).EC2ID())
}

func (r *VolumeReconciler) volumesOfSnapshot(ctx context.Context, obj client.Object) []reconcile.Request {
	snap := obj.(*koalav1.Snapshot)
	if snap.EC2ID() == "" {
		return nil
	}
	var list koalav1.VolumeList
	if err := r.Client.List(ctx, &list, client.InNamespace(snap.Namespace), client.MatchingFields{index.SnapshotID: snap.EC2ID()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the volumes of a snapshot", "snapshot", snap.EC2ID())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=volumes,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=volumes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=volumes/finalizers,verbs=update
// +kubebuilder:rbac:groups=cdi.kubevirt.io,resources=datavolumes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;update;patch

// Reconcile provisions the volume, grows it as asked, and reports its state.
func (r *VolumeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	vol := &koalav1.Volume{}
	if err := r.Client.Get(ctx, req.NamespacedName, vol); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if vol.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(vol, VolumeFinalizer) {
		base := vol.DeepCopy()
		controllerutil.AddFinalizer(vol, VolumeFinalizer)
		if err := r.Client.Patch(ctx, vol, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	s := &volumeScope{volume: vol}
	s.obs = volumeObservation{spec: vol.Spec, deleting: !vol.DeletionTimestamp.IsZero(), classOf: r.Storage.ClassName, now: r.Clock.Now()}
	s.obs.attachTime = annotationTime(vol, koalav1.AttachTimeAnnotation)
	if s.obs.attachTime.IsZero() && vol.Generation == 1 && vol.Spec.Attachment != nil {
		// Created attached (at launch): the attachment began with the volume, as the
		// endpoint shows it before the operator has reported.
		s.obs.attachTime = vol.CreationTimestamp.Time
	}
	s.obs.modifyTime = annotationTime(vol, koalav1.ModifyTimeAnnotation)
	base := vol.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, base, s, retErr); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	phases := []volumePhase{r.reconcileIdentity, r.observe, r.reconcileDataVolume, r.reconcileResize}
	if s.obs.deleting {
		phases = []volumePhase{r.reconcileIdentity, r.observe, r.reconcileDelete}
	}
	for _, phase := range phases {
		if res, err := phase(ctx, s); err != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

func annotationTime(obj client.Object, key string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, obj.GetAnnotations()[key])
	if err != nil {
		return time.Time{}
	}
	return t
}

// patchStatus computes the status from what the phases observed and writes it if it
// changed; a volume the EC2 endpoint created is first written once it is settled.
func (r *VolumeReconciler) patchStatus(ctx context.Context, base *koalav1.Volume, s *volumeScope, reconcileErr error) error {
	vol := s.volume
	if s.id == "" || (s.obs.deleting && !controllerutil.ContainsFinalizer(vol, VolumeFinalizer)) {
		return nil
	}
	previous := vol.Status.State
	setVolumeStatus(&vol.Status, s.obs)
	if reconcileErr == nil {
		vol.Status.ObservedGeneration = vol.Generation
	}
	if equality.Semantic.DeepEqual(base.Status, vol.Status) || r.written.behind(client.ObjectKeyFromObject(vol), base.ResourceVersion) {
		return nil
	}
	if base.Status.VolumeID == "" && vol.Annotations[koalav1.IDAnnotation] != "" && !volumeSettled(&vol.Status) {
		return nil // the endpoint shows it from its spec meanwhile
	}
	if err := r.Client.Status().Patch(ctx, vol, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching status: %w", err)
	}
	r.written.wrote(client.ObjectKeyFromObject(vol), vol.ResourceVersion)
	// A volume's first state needs no event of its own: the object was just created (a
	// launch's root volume would cost an event more per instance).
	if vol.Status.State != previous && previous != "" && r.Recorder != nil {
		r.Recorder.Eventf(vol, nil, corev1.EventTypeNormal, volumeEventReason(vol.Status.State), "StateChange",
			"Volume %s is %s", s.id, vol.Status.State)
	}
	return nil
}

func volumeEventReason(s koalav1.VolumeStateName) string {
	switch s {
	case koalav1.VolumeStateAvailable:
		return "Available"
	case koalav1.VolumeStateInUse:
		return "InUse"
	case koalav1.VolumeStateDeleting:
		return "Deleting"
	case koalav1.VolumeStateError:
		return "Failed"
	default:
		return "Creating"
	}
}

func (r *VolumeReconciler) reconcileIdentity(ctx context.Context, s *volumeScope) (ctrl.Result, error) {
	vol := s.volume
	if vol.Status.VolumeID != "" {
		s.id = vol.Status.VolumeID
		return ctrl.Result{}, nil
	}
	id, err := chooseID(ctx, r.Client, &koalav1.VolumeList{}, vol, ids.Volume, vol.Annotations[koalav1.IDAnnotation])
	if err != nil {
		return ctrl.Result{}, err
	}
	s.id = id
	vol.Status.VolumeID = id
	vol.Status.CreateTime = &metav1.Time{Time: vol.CreationTimestamp.Time}
	return ctrl.Result{}, nil
}

// observe reads the volume's DataVolume and claim, the instances it is attached to, and
// what it is made from.
func (r *VolumeReconciler) observe(ctx context.Context, s *volumeScope) (ctrl.Result, error) {
	vol := s.volume
	key := client.ObjectKeyFromObject(vol)
	dv := &cdiv1beta1.DataVolume{}
	switch err := r.Client.Get(ctx, key, dv); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting DataVolume: %w", err)
	case metav1.IsControlledBy(dv, vol) || dv.Labels[koalav1.VolumeNameLabel] == vol.Name:
		s.dv = dv
		s.obs.provisioning = string(dv.Status.Phase)
		if dv.Status.Phase == cdiv1beta1.Failed {
			for _, c := range dv.Status.Conditions {
				if c.Type == cdiv1beta1.DataVolumeRunning && c.Message != "" {
					s.obs.failedMessage = c.Message
				}
			}
		}
	default:
		s.obs.blocked = &metav1.Condition{Reason: koalav1.VolumeReasonDataVolumeNameTaken,
			Message: fmt.Sprintf("A DataVolume named %s that is not this volume's exists", dv.Name)}
	}
	if s.dv != nil {
		pvc := &corev1.PersistentVolumeClaim{}
		switch err := r.Client.Get(ctx, key, pvc); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("getting PersistentVolumeClaim: %w", err)
		default:
			s.pvc = pvc
			if q, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
				s.obs.capacityGiB = int32((q.Value() + gib - 1) / gib)
			}
			if pvc.Spec.StorageClassName != nil {
				s.obs.storageClass = *pvc.Spec.StorageClassName
			}
		}
	}
	if err := r.observeAttachments(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if s.dv == nil && s.obs.blocked == nil && !s.provisionedByVM {
		if err := r.observeSource(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		return r.observeQuota(ctx, s)
	}
	return ctrl.Result{}, nil
}

// observeAttachments reads the instances of the desired attachment and of those on
// their way out.
func (r *VolumeReconciler) observeAttachments(ctx context.Context, s *volumeScope) error {
	vol := s.volume
	if a := vol.Spec.Attachment; a != nil {
		o := attachmentObservation{instanceID: a.InstanceID, device: a.Device, deleteOnTermination: a.DeleteOnTermination}
		inst, err := r.instance(ctx, vol.Namespace, a.InstanceID)
		if err != nil {
			return err
		}
		switch {
		case inst == nil:
			if s.obs.blocked == nil && !s.obs.deleting {
				s.obs.blocked = &metav1.Condition{Reason: koalav1.VolumeReasonInstanceNotFound,
					Message: fmt.Sprintf("The instance %s does not exist", a.InstanceID)}
			}
		default:
			if err := r.observeOnInstance(ctx, inst, vol, &o); err != nil {
				return err
			}
			s.isRoot = vol.Name == blockdevice.RootVolumeName(inst.Name) && vol.Spec.ImageID != ""
			var attached koalav1.VolumeList
			if err := r.Client.List(ctx, &attached, client.InNamespace(vol.Namespace), client.MatchingFields{index.VolumeInstanceID: a.InstanceID}); err != nil {
				return fmt.Errorf("listing the volumes of instance %s: %w", a.InstanceID, err)
			}
			placed := placeVolumes(inst, a.InstanceID, attached.Items)
			if placed.root != nil && placed.root.Name == vol.Name {
				s.provisionedByVM = true
			}
			if c := placed.refused[vol.Name]; c != nil && s.obs.blocked == nil && !s.obs.deleting {
				s.obs.blocked = c
			}
		}
		s.obs.desired = &o
	}
	for _, st := range vol.Status.Attachments {
		if a := vol.Spec.Attachment; a != nil && a.InstanceID == st.InstanceID && a.Device == st.Device {
			continue
		}
		o := attachmentObservation{instanceID: st.InstanceID, device: st.Device, deleteOnTermination: st.DeleteOnTermination}
		inst, err := r.instance(ctx, vol.Namespace, st.InstanceID)
		if err != nil {
			return err
		}
		if inst != nil {
			if err := r.observeOnInstance(ctx, inst, vol, &o); err != nil {
				return err
			}
		}
		s.obs.leaving = append(s.obs.leaving, o)
	}
	return nil
}

// instance finds the instance of ns with the EC2 ID id, or nil.
func (r *VolumeReconciler) instance(ctx context.Context, ns, id string) (*koalav1.Instance, error) {
	var list koalav1.InstanceList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{index.EC2ID: id}); err != nil {
		return nil, fmt.Errorf("looking up instance %s: %w", id, err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	return &list.Items[0], nil
}

// observeOnInstance reads whether the instance's VirtualMachine and VMI have the
// volume's disk.
func (r *VolumeReconciler) observeOnInstance(ctx context.Context, inst *koalav1.Instance, vol *koalav1.Volume, o *attachmentObservation) error {
	key := client.ObjectKeyFromObject(inst)
	vm := &kubevirtv1.VirtualMachine{}
	if err := r.Client.Get(ctx, key, vm); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting VirtualMachine %s: %w", key, err)
		}
		vm = nil
	} else if !metav1.IsControlledBy(vm, inst) {
		vm = nil
	}
	vmi := &kubevirtv1.VirtualMachineInstance{}
	if err := r.Client.Get(ctx, key, vmi); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting VirtualMachineInstance %s: %w", key, err)
		}
		vmi = nil
	} else if vm == nil || !metav1.IsControlledBy(vmi, vm) {
		vmi = nil
	}
	observeDisk(vm, vmi, vol.Name, o)
	return nil
}

// observeDisk fills in where the disk of the claim is: in the VirtualMachine's
// template, in the running VMI, ready there.
func observeDisk(vm *kubevirtv1.VirtualMachine, vmi *kubevirtv1.VirtualMachineInstance, claim string, o *attachmentObservation) {
	if vm != nil && vm.DeletionTimestamp.IsZero() && vm.Spec.Template != nil {
		for _, v := range vm.Spec.Template.Spec.Volumes {
			if claimOf(v) == claim {
				o.inVM = true
			}
		}
	}
	running := vmi != nil && vmi.DeletionTimestamp.IsZero() && !vmi.IsFinal()
	if running {
		for _, v := range vmi.Spec.Volumes {
			if claimOf(v) != claim {
				continue
			}
			o.inVMI = true
			for _, st := range vmi.Status.VolumeStatus {
				if st.Name == v.Name && st.Phase == kubevirtv1.VolumeReady && vmi.Status.Phase == kubevirtv1.Running {
					o.ready = true
				}
			}
		}
	}
	if vm != nil && !running {
		rs, err := vm.RunStrategy()
		o.stopped = err == nil && rs == kubevirtv1.RunStrategyHalted
	}
}

// observeSource finds what a volume without a DataVolume is made from.
func (r *VolumeReconciler) observeSource(ctx context.Context, s *volumeScope) error {
	vol := s.volume
	switch {
	case vol.Spec.SnapshotID != "":
		var list koalav1.SnapshotList
		if err := r.Client.List(ctx, &list, client.InNamespace(vol.Namespace), client.MatchingFields{index.EC2ID: vol.Spec.SnapshotID}); err != nil {
			return fmt.Errorf("looking up snapshot %s: %w", vol.Spec.SnapshotID, err)
		}
		if len(list.Items) == 0 || !list.Items[0].DeletionTimestamp.IsZero() {
			s.obs.blocked = &metav1.Condition{Reason: koalav1.VolumeReasonSnapshotNotFound,
				Message: fmt.Sprintf("The snapshot %s does not exist", vol.Spec.SnapshotID)}
			return nil
		}
		s.snapshot = &list.Items[0]
	case vol.Spec.ImageID != "":
		var list koalav1.ImageList
		if err := r.Client.List(ctx, &list, client.MatchingFields{index.EC2ID: vol.Spec.ImageID}); err != nil {
			return fmt.Errorf("looking up image %s: %w", vol.Spec.ImageID, err)
		}
		for i := range list.Items {
			img := &list.Items[i]
			if (img.Namespace == vol.Namespace || img.Spec.Public) && img.Status.DataSourceName != "" {
				s.image = img
			}
		}
		if s.image == nil {
			s.obs.blocked = &metav1.Condition{Reason: koalav1.VolumeReasonImageNotFound,
				Message: fmt.Sprintf("The image %s does not exist or is not available", vol.Spec.ImageID)}
		}
	}
	return nil
}

// reconcileDataVolume creates the volume's DataVolume, unless the instance's
// VirtualMachine makes it (a root volume).
func (r *VolumeReconciler) reconcileDataVolume(ctx context.Context, s *volumeScope) (ctrl.Result, error) {
	if s.dv != nil || s.obs.blocked != nil || s.provisionedByVM {
		return ctrl.Result{}, nil
	}
	if s.volume.Spec.ImageID != "" && s.volume.Spec.Attachment != nil && s.image == nil {
		return ctrl.Result{}, nil
	}
	dv := r.desiredDataVolume(s)
	if err := controllerutil.SetControllerReference(s.volume, dv, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Client.Create(ctx, dv); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, nil // our cache had not seen it; its event brings us back
		}
		return ctrl.Result{}, fmt.Errorf("creating DataVolume: %w", err)
	}
	s.dv = dv
	return ctrl.Result{}, nil
}

// desiredDataVolume is the volume's DataVolume, named after it: blank, restored from
// its snapshot's VolumeSnapshot, or cloned from its image's DataSource, of its type's
// StorageClass.
func (r *VolumeReconciler) desiredDataVolume(s *volumeScope) *cdiv1beta1.DataVolume {
	vol := s.volume
	spec := cdiv1beta1.DataVolumeSpec{
		Storage: &cdiv1beta1.StorageSpec{
			StorageClassName: r.Storage.storageClassName(vol.Type()),
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(int64(vol.Spec.Size)*gib, resource.BinarySI)},
			},
		},
	}
	switch {
	case s.snapshot != nil:
		spec.Source = &cdiv1beta1.DataVolumeSource{Snapshot: &cdiv1beta1.DataVolumeSourceSnapshot{
			Namespace: s.snapshot.Namespace, Name: volumeSnapshotName(s.snapshot),
		}}
	case s.image != nil:
		ns := s.image.Namespace
		spec.SourceRef = &cdiv1beta1.DataVolumeSourceRef{Kind: cdiv1beta1.DataVolumeDataSource, Namespace: &ns, Name: s.image.Status.DataSourceName}
	default:
		spec.Source = &cdiv1beta1.DataVolumeSource{Blank: &cdiv1beta1.DataVolumeBlankImage{}}
	}
	return &cdiv1beta1.DataVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:      vol.Name,
			Namespace: vol.Namespace,
			Labels:    map[string]string{koalav1.VolumeNameLabel: vol.Name},
		},
		Spec: spec,
	}
}

// claimRequest is the storage a claim asks for. The operator's cache drops a request
// equal to the claim's capacity (see internal/operator), so a claim without one asks
// for what it has.
func claimRequest(pvc *corev1.PersistentVolumeClaim) resource.Quantity {
	if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		return q
	}
	return pvc.Status.Capacity[corev1.ResourceStorage]
}

// reconcileResize grows the claim to the volume's size.
func (r *VolumeReconciler) reconcileResize(ctx context.Context, s *volumeScope) (ctrl.Result, error) {
	pvc := s.pvc
	if pvc == nil || pvc.Status.Phase != corev1.ClaimBound || !pvc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	want := resource.NewQuantity(int64(s.volume.Spec.Size)*gib, resource.BinarySI)
	if have := claimRequest(pvc); have.Cmp(*want) >= 0 {
		return ctrl.Result{}, nil
	}
	base := pvc.DeepCopy()
	if pvc.Spec.Resources.Requests == nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{}
	}
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = *want
	if err := r.Client.Patch(ctx, pvc, client.MergeFrom(base)); err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			// The class does not allow expansion, say: the modification fails.
			s.obs.resizeError = fmt.Sprintf("The claim %s cannot grow to %d GiB: %s", pvc.Name, s.volume.Spec.Size, reasonOf(err))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("growing PersistentVolumeClaim: %w", err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(s.volume, pvc, corev1.EventTypeNormal, "Resizing", "Resize", "Growing volume %s to %d GiB", s.id, s.volume.Spec.Size)
	}
	return ctrl.Result{}, nil
}

func reasonOf(err error) string {
	if status, ok := err.(apierrors.APIStatus); ok {
		if d := status.Status().Details; d != nil && len(d.Causes) > 0 {
			return d.Causes[0].Message
		}
		return status.Status().Message
	}
	return err.Error()
}

// reconcileDelete waits until the volume is detached (a root volume until its instance
// is terminated), deletes its DataVolume, then lets the Volume go.
func (r *VolumeReconciler) reconcileDelete(ctx context.Context, s *volumeScope) (ctrl.Result, error) {
	vol := s.volume
	if !controllerutil.ContainsFinalizer(vol, VolumeFinalizer) {
		return ctrl.Result{}, nil
	}
	if d := s.obs.desired; d != nil && s.isRoot && d.inVM {
		s.obs.blocked = &metav1.Condition{Reason: koalav1.VolumeReasonInUse,
			Message: fmt.Sprintf("The volume is the root volume of instance %s: it is deleted when the instance is terminated", d.instanceID)}
		return ctrl.Result{}, nil
	}
	attachments := append([]attachmentObservation(nil), s.obs.leaving...)
	if s.obs.desired != nil {
		attachments = append(attachments, *s.obs.desired)
	}
	for _, a := range attachments {
		if a.inVM || a.inVMI {
			// The Instance reconciler takes a deleted volume out of the VirtualMachine.
			s.obs.blocked = &metav1.Condition{Reason: koalav1.VolumeReasonInUse,
				Message: fmt.Sprintf("The volume is being detached from instance %s before it is deleted", a.instanceID)}
			return ctrl.Result{}, nil
		}
	}
	if s.dv != nil && metav1.IsControlledBy(s.dv, vol) {
		if s.dv.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, s.dv, client.Preconditions{UID: &s.dv.UID}); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting DataVolume: %w", err)
			}
		}
		return ctrl.Result{}, nil // its deletion event brings us back
	}
	base := vol.DeepCopy()
	controllerutil.RemoveFinalizer(vol, VolumeFinalizer)
	if err := r.Client.Patch(ctx, vol, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}
