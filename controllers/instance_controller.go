package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	kubevirtv1 "kubevirt.io/api/core/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
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
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/zones"
)

// InstanceFinalizer lets the operator delete an instance's VirtualMachine (and wait
// for it to be gone) before the Instance disappears.
const InstanceFinalizer = "cloud.koala.dev/instance"

// InstanceReconciler turns Instances into KubeVirt VirtualMachines and reports their
// state in EC2's terms.
type InstanceReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Region names the region; it gives the default zone when nodes carry no zone label.
	Region string
	// TerminatedRetention is how long a terminated instance stays visible (EC2: about an
	// hour) before the operator removes it.
	TerminatedRetention time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles; 0 uses controller-runtime's 1.
	MaxConcurrentReconciles int
	// Storage maps the root volume's type to its StorageClass.
	Storage StorageConfig
	// Network hands out the instances' private addresses.
	Network NetworkConfig
	// APIReader reads what the operator does not cache (virt-launcher pods) and what
	// its cache may not show yet (a launch's volumes); nil skips relabelling the pods
	// and trusts the cache.
	APIReader client.Reader

	written writtenStatuses
	// vms are the VirtualMachines created lately that the cache may not show yet.
	vms createdObjects
}

// instanceScope is what one reconcile of one instance reads and decides.
type instanceScope struct {
	instance *koalav1.Instance
	id       string
	vm       *kubevirtv1.VirtualMachine
	vmi      *kubevirtv1.VirtualMachineInstance
	blocked  *metav1.Condition
	// volumes are those attached (or being attached or detached) to the instance;
	// placed says where each goes.
	volumes []koalav1.Volume
	placed  instanceAttachments
	// net is the instance's place on its subnet; nil on the pod network alone.
	net *instanceNetwork
}

type instancePhase func(ctx context.Context, s *instanceScope) (ctrl.Result, error)

// SetupWithManager registers the reconciler and what it watches.
func (r *InstanceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Instance{}).
		// Only the changes of a VM or VMI that the instance's status or VM depend on: at
		// 10,000 instances each launch brings about ten status updates of the two, which
		// would each cost a reconcile.
		Owns(&kubevirtv1.VirtualMachine{}, builder.WithPredicates(vmChanged)).
		// The VMI belongs to the VM, not to the instance; its labels name the instance.
		Watches(&kubevirtv1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(instanceOfLabelled), builder.WithPredicates(vmiChanged)).
		Watches(&koalav1.Image{}, handler.EnqueueRequestsFromMapFunc(r.instancesUsingImage)).
		Watches(&koalav1.KeyPair{}, handler.EnqueueRequestsFromMapFunc(r.instancesUsingKey)).
		Watches(&instancetypev1beta1.VirtualMachineClusterInstancetype{}, handler.EnqueueRequestsFromMapFunc(r.instancesOfType)).
		// Only what places a volume on the instance: its attachment (spec), its ID, its
		// deletion. Its status is the Volume reconciler's business.
		Watches(&koalav1.Volume{}, handler.EnqueueRequestsFromMapFunc(r.instancesOfVolume), builder.WithPredicates(volumePlacementChanged)).
		// Instances held back by a quota wait for room: a raised quota, or another
		// instance of the account stopping or going away.
		Watches(&koalav1.Account{}, handler.EnqueueRequestsFromMapFunc(r.instancesOfAccount)).
		// Instances waiting for their subnet or groups to be available. A subnet's count
		// of free addresses, rewritten every few seconds while instances launch, frees
		// nobody: an instance held back by a full subnet looks again on its own.
		Watches(&koalav1.Subnet{}, handler.EnqueueRequestsFromMapFunc(r.pendingInNamespace), builder.WithPredicates(subnetChanged)).
		Watches(&koalav1.SecurityGroup{}, handler.EnqueueRequestsFromMapFunc(r.pendingInNamespace)).
		// Instances waiting for their account's default VPC.
		Watches(&koalav1.Network{}, handler.EnqueueRequestsFromMapFunc(r.pendingInNamespace)).
		// An Elastic IP's association is the instance's public address.
		Watches(&koalav1.Address{}, handler.EnqueueRequestsFromMapFunc(r.instanceOfAddress)).
		Watches(&koalav1.Instance{}, handler.EnqueueRequestsFromMapFunc(r.instancesBesides), builder.WithPredicates(predicate.Funcs{
			CreateFunc:  func(event.CreateEvent) bool { return false },
			UpdateFunc:  func(e event.UpdateEvent) bool { return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() },
			DeleteFunc:  func(event.DeleteEvent) bool { return true },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("instance").
		Complete(r)
}

// vmChanged passes the updates of a VirtualMachine that the instance reconciler acts
// on: its spec (generation) and its deletion. Its status is KubeVirt's report to
// itself; the instance reads the guest's state from the VMI.
var vmChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
			!e.ObjectOld.GetDeletionTimestamp().Equal(e.ObjectNew.GetDeletionTimestamp())
	},
}

// vmiChanged passes the updates of a VirtualMachineInstance that change what the
// instance's status shows or the reconciler acts on: whether the guest runs or has
// ended, its address and node, its deletion. The steps of a start before the guest
// runs (Pending, Scheduling, Scheduled) change none of it.
var vmiChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*kubevirtv1.VirtualMachineInstance)
		cur, okNew := e.ObjectNew.(*kubevirtv1.VirtualMachineInstance)
		if !okOld || !okNew {
			return true
		}
		return guestRuns(old) != guestRuns(cur) || vmiEnded(old) != vmiEnded(cur) || old.Status.NodeName != cur.Status.NodeName ||
			primaryIP(old) != primaryIP(cur) || !old.DeletionTimestamp.Equal(cur.DeletionTimestamp)
	},
}

func guestRuns(vmi *kubevirtv1.VirtualMachineInstance) bool {
	return vmi.Status.Phase == kubevirtv1.Running
}

// subnetChanged passes the updates of a subnet that an instance waiting for it reads
// (its state, attachment, zone, default-ness, ID, deletion), not those of its count of
// free addresses alone.
var subnetChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*koalav1.Subnet)
		cur, okNew := e.ObjectNew.(*koalav1.Subnet)
		if !okOld || !okNew {
			return true
		}
		oldStatus, curStatus := old.Status.DeepCopy(), cur.Status.DeepCopy()
		oldStatus.AvailableIPAddressCount, curStatus.AvailableIPAddressCount = 0, 0
		return old.Generation != cur.Generation || old.EC2ID() != cur.EC2ID() ||
			!old.DeletionTimestamp.Equal(cur.DeletionTimestamp) || !equality.Semantic.DeepEqual(oldStatus, curStatus)
	},
}

func instanceOfLabelled(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[koalav1.InstanceNameLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// pendingInstances maps objects to the instances that wait for them: only instances
// held back before their VM exists can be blocked on an image, key or type.
func (r *InstanceReconciler) pendingInstances(ctx context.Context, field, value string, opts ...client.ListOption) []reconcile.Request {
	var list koalav1.InstanceList
	if err := r.Client.List(ctx, &list, append(opts, client.MatchingFields{field: value})...); err != nil {
		log.FromContext(ctx).Error(err, "listing instances to requeue", "field", field, "value", value)
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if heldBack(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// heldBack reports whether an instance has not launched because something it needs is
// missing: its status says so at once (see launchQuiet). An instance on its way (an
// endpoint's launch has no status until it runs) waits for nothing but KubeVirt; at
// 10,000 instances, requeueing all those on every change of an image, subnet or group
// would be thousands of reconciles that do nothing.
func heldBack(inst *koalav1.Instance) bool {
	st := inst.Status.State
	return (st == "" || st == koalav1.InstanceStatePending) && inst.Status.StateReason != nil
}

// instanceOfAddress maps an Elastic IP to the instance it is associated with. (An
// address moved elsewhere leaves its old instance to its next reconcile, which every
// status change of the instance brings.)
func (r *InstanceReconciler) instanceOfAddress(ctx context.Context, obj client.Object) []reconcile.Request {
	addr := obj.(*koalav1.Address)
	var out []reconcile.Request
	var list koalav1.InstanceList
	if addr.Spec.InstanceID != "" {
		if err := r.Client.List(ctx, &list, client.InNamespace(addr.Namespace), client.MatchingFields{index.EC2ID: addr.Spec.InstanceID}); err != nil {
			log.FromContext(ctx).Error(err, "looking up the instance of an address")
			return nil
		}
		out = requestsOf(list.Items)
	}
	// The instance that shows the address, if it is another (disassociated, moved).
	var all koalav1.InstanceList
	if err := r.Client.List(ctx, &all, client.InNamespace(addr.Namespace)); err == nil {
		for i := range all.Items {
			if ip := addr.IP(); ip != "" && all.Items[i].Status.PublicIPAddress == ip && all.Items[i].EC2ID() != addr.Spec.InstanceID {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&all.Items[i])})
			}
		}
	}
	return out
}

// pendingInNamespace maps a subnet or group to the instances of its account held back
// before launching: only they can wait for one.
func (r *InstanceReconciler) pendingInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	var list koalav1.InstanceList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "listing instances to requeue")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if inst := &list.Items[i]; heldBack(inst) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(inst)})
		}
	}
	return out
}

func (r *InstanceReconciler) instancesUsingImage(ctx context.Context, obj client.Object) []reconcile.Request {
	img := obj.(*koalav1.Image)
	if img.EC2ID() == "" {
		return nil
	}
	if img.Spec.Public {
		return r.pendingInstances(ctx, index.ImageID, img.EC2ID())
	}
	return r.pendingInstances(ctx, index.ImageID, img.EC2ID(), client.InNamespace(img.Namespace))
}

func (r *InstanceReconciler) instancesUsingKey(ctx context.Context, obj client.Object) []reconcile.Request {
	kp := obj.(*koalav1.KeyPair)
	return r.pendingInstances(ctx, index.KeyName, kp.KeyName(), client.InNamespace(kp.Namespace))
}

func (r *InstanceReconciler) instancesOfType(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.pendingInstances(ctx, index.InstanceType, obj.GetName())
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=instances,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=instances/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=instances/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubevirt.io,resources=virtualmachines,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=kubevirt.io,resources=virtualmachineinstances,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networkclaims,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=volumes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=snapshots,verbs=get;list;watch
// +kubebuilder:rbac:groups=cdi.kubevirt.io,resources=datavolumes,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=instancetype.kubevirt.io,resources=virtualmachineclusterinstancetypes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one instance's VirtualMachine in line with its spec and reports
// what KubeVirt observes in its status.
func (r *InstanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	inst := &koalav1.Instance{}
	if err := r.Client.Get(ctx, req.NamespacedName, inst); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.forget(req.NamespacedName)
			r.vms.seen(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	if inst.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(inst, InstanceFinalizer) {
		base := inst.DeepCopy()
		controllerutil.AddFinalizer(inst, InstanceFinalizer)
		if err := r.Client.Patch(ctx, inst, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	s := &instanceScope{instance: inst}
	statusBase := inst.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, statusBase, s, retErr); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	phases := []instancePhase{r.reconcileIdentity, r.observe}
	if !inst.DeletionTimestamp.IsZero() {
		phases = append(phases, r.reconcileDelete)
	} else if inst.Spec.State == koalav1.DesiredStateTerminated {
		phases = append(phases, r.reconcileTermination)
	} else {
		phases = append(phases, r.reconcileNetwork, r.reconcileVM, r.reconcileReboot)
	}
	for _, phase := range phases {
		res, err := phase(ctx, s)
		if err != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{}, nil
}

// patchStatus computes the status from what the phases observed and writes it if it
// changed. observedGeneration moves only when the reconcile succeeded.
func (r *InstanceReconciler) patchStatus(ctx context.Context, base *koalav1.Instance, s *instanceScope, reconcileErr error) error {
	inst := s.instance
	if s.id == "" {
		return nil // nothing known yet
	}
	previous := inst.Status.State
	now := r.Clock.Now()
	setInstanceStatus(&inst.Status, instanceObservation{
		desired:  inst.Spec.State,
		deleting: !inst.DeletionTimestamp.IsZero(),
		vm:       s.vm,
		vmi:      s.vmi,
		blocked:  s.blocked,
		launched: inst.CreationTimestamp.Time,
		now:      now,
	})
	if reconcileErr == nil {
		inst.Status.ObservedGeneration = inst.Generation
	}
	if equality.Semantic.DeepEqual(base.Status, inst.Status) || r.written.behind(client.ObjectKeyFromObject(inst), base.ResourceVersion) {
		return nil
	}
	if launchQuiet(base, inst, s.blocked, reconcileErr) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, inst, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching status: %w", err)
	}
	r.written.wrote(client.ObjectKeyFromObject(inst), inst.ResourceVersion)
	if inst.Status.State != previous && r.Recorder != nil && !launchProgress(previous, &inst.Status, inst.CreationTimestamp.Time) {
		// The VM is the related object while it exists; a nil *VirtualMachine must not
		// reach the recorder as a non-nil interface.
		var related runtime.Object
		if s.vm != nil {
			related = s.vm
		}
		r.Recorder.Eventf(inst, related, corev1.EventTypeNormal, stateEventReason(inst.Status.State), "StateChange",
			"Instance %s is %s", s.id, inst.Status.State)
	}
	return nil
}

// launchProgress reports whether a change of state from previous to st.State is only
// the first launch going its way (none yet to pending, pending to running): the
// object was just created and its status says the rest, so such a change has no
// event. At 10,000 instances an event per launch is 10,000 writes more, and one more
// object for every watcher of events. A start after a stop (its launch time is later
// than the creation), a stop, a termination and a reboot keep theirs.
func launchProgress(previous koalav1.InstanceStateName, st *koalav1.InstanceStatus, created time.Time) bool {
	switch {
	case previous == "":
		return true
	case previous == koalav1.InstanceStatePending && st.State == koalav1.InstanceStateRunning:
		return st.LaunchTime != nil && !st.LaunchTime.Time.After(created)
	}
	return false
}

// launchQuiet says whether to hold back the first status write of an instance that
// the EC2 endpoint launched, while that write would only say "pending": its ID,
// reservation and zone are already in its annotations, and the endpoint shows it as
// pending from its spec. The first write then says "running": one status write per
// launch instead of two. There is no time limit: on a busy cluster the guests of a
// batch launch take minutes to start (at 10,000 instances in the bench, most of them
// more than any limit), and a write that says only "pending" would tell a kubectl user
// nothing that matters (its name is its ID; the endpoint shows the rest). An instance
// that is blocked (its Ready condition says why), failed to reconcile, or is asked to
// stop or terminate is written at once.
func launchQuiet(base, inst *koalav1.Instance, blocked *metav1.Condition, reconcileErr error) bool {
	return base.Status.InstanceID == "" && inst.Annotations[koalav1.IDAnnotation] != "" &&
		inst.Status.State == koalav1.InstanceStatePending && blocked == nil && reconcileErr == nil
}

func stateEventReason(s koalav1.InstanceStateName) string {
	switch s {
	case koalav1.InstanceStatePending:
		return "Pending"
	case koalav1.InstanceStateRunning:
		return "Running"
	case koalav1.InstanceStateStopping:
		return "Stopping"
	case koalav1.InstanceStateStopped:
		return "Stopped"
	case koalav1.InstanceStateShuttingDown:
		return "ShuttingDown"
	default:
		return "Terminated"
	}
}

// reconcileIdentity settles the instance's EC2 ID and reservation ID.
func (r *InstanceReconciler) reconcileIdentity(ctx context.Context, s *instanceScope) (ctrl.Result, error) {
	inst := s.instance
	if inst.Status.InstanceID != "" {
		s.id = inst.Status.InstanceID
		return ctrl.Result{}, nil
	}
	id, err := chooseID(ctx, r.Client, &koalav1.InstanceList{}, inst, ids.Instance, inst.Annotations[koalav1.IDAnnotation])
	if err != nil {
		return ctrl.Result{}, err
	}
	s.id = id
	inst.Status.InstanceID = id
	if rid := inst.Annotations[koalav1.ReservationIDAnnotation]; ids.Valid(ids.Reservation, rid) {
		inst.Status.ReservationID = rid
	} else {
		inst.Status.ReservationID = ids.FromSeed(ids.Reservation, string(inst.UID))
	}
	// An instance lives in one zone for its life, as in EC2: the one it asked for, or
	// one chosen now.
	if az := inst.Spec.Placement.AvailabilityZone; az != "" {
		inst.Status.AvailabilityZone = az
	} else {
		labels, err := r.nodeLabels(ctx)
		if err != nil {
			return ctrl.Result{}, err
		}
		// Seeded by the reservation, so that one launch lands in one zone, and the EC2
		// endpoint, which makes the same choice, shows it before we have confirmed it.
		inst.Status.AvailabilityZone, _ = zones.Assign(r.Region, labels, inst.Status.ReservationID)
	}
	return ctrl.Result{}, nil
}

// nodeLabels returns the labels of every node, from a metadata-only cache.
func (r *InstanceReconciler) nodeLabels(ctx context.Context) ([]map[string]string, error) {
	nodes := &metav1.PartialObjectMetadataList{}
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	if err := r.Client.List(ctx, nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out := make([]map[string]string, len(nodes.Items))
	for i := range nodes.Items {
		out[i] = nodes.Items[i].Labels
	}
	return out, nil
}

// zoneSelector pins an instance's VM to the nodes of its zone, when nodes carry that
// zone as a label (the default zone of a cluster without zone labels pins nothing).
func (r *InstanceReconciler) zoneSelector(ctx context.Context, inst *koalav1.Instance) (string, error) {
	if az := inst.Spec.Placement.AvailabilityZone; az != "" {
		return az, nil
	}
	labels, err := r.nodeLabels(ctx)
	if err != nil {
		return "", err
	}
	if zones.IsLabelled(labels, inst.Status.AvailabilityZone) {
		return inst.Status.AvailabilityZone, nil
	}
	return "", nil
}

// observe reads the VM, its VMI and the node the guest runs on.
func (r *InstanceReconciler) observe(ctx context.Context, s *instanceScope) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(s.instance)
	vm := &kubevirtv1.VirtualMachine{}
	switch err := r.Client.Get(ctx, key, vm); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting VirtualMachine: %w", err)
	case !metav1.IsControlledBy(vm, s.instance):
		// A VM of the same name that is not ours (left over from an earlier instance
		// of that name, or made by hand): never touch it.
		s.blocked = &metav1.Condition{Reason: "VirtualMachineNameTaken", Message: fmt.Sprintf("A VirtualMachine named %s that this instance does not own exists", vm.Name)}
		return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
	default:
		s.vm = vm
		r.vms.seen(key)
	}
	vmi := &kubevirtv1.VirtualMachineInstance{}
	switch err := r.Client.Get(ctx, key, vmi); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("getting VirtualMachineInstance: %w", err)
	default:
		if s.vm != nil && metav1.IsControlledBy(vmi, s.vm) {
			s.vmi = vmi
		}
	}
	return ctrl.Result{}, r.observeVolumes(ctx, s)
}

// reconcileVM creates the VM, or updates what may change on an existing one.
func (r *InstanceReconciler) reconcileVM(ctx context.Context, s *instanceScope) (ctrl.Result, error) {
	inst := s.instance
	if s.blocked != nil {
		return ctrl.Result{}, nil
	}
	if s.vm != nil {
		if !s.vm.DeletionTimestamp.IsZero() {
			return ctrl.Result{}, nil // being deleted; its removal requeues us
		}
		if inst.Status.RootDeviceName == "" {
			// Launched by an operator that stopped before it could record the image's
			// disk layout.
			if image, _, err := r.resolveImage(ctx, inst); err == nil && image != nil {
				inst.Status.Architecture, inst.Status.RootDeviceName = image.Spec.Architecture, image.Spec.RootDeviceName
			}
		}
		if err := r.syncGroupLabels(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		base := s.vm.DeepCopy()
		changed, err := updateVM(s.vm, inst, s.placed.hotplug, s.net)
		if err != nil || !changed {
			return ctrl.Result{}, err
		}
		patch := client.MergeFrom(base)
		if r.APIReader != nil && !equality.Semantic.DeepEqual(templateVolumes(base), templateVolumes(s.vm)) {
			// A merge patch replaces the volume list whole, and the operator's cache
			// holds the VM's cloud-init disk without its contents (they are most of
			// what a cached VM would hold, and the user data is in the instance): the
			// list comes from the VM as the API server has it. Volumes change rarely
			// (an attachment, new user data of a stopped instance).
			live := &kubevirtv1.VirtualMachine{}
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.vm), live); err != nil {
				return ctrl.Result{}, fmt.Errorf("reading VirtualMachine: %w", err)
			}
			base = live.DeepCopy()
			if _, err := updateVM(live, inst, s.placed.hotplug, s.net); err != nil {
				return ctrl.Result{}, err
			}
			s.vm, patch = live, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
		}
		if err := r.Client.Patch(ctx, s.vm, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("updating VirtualMachine: %w", err)
		}
		return ctrl.Result{}, nil
	}

	if wait := r.vms.awaiting(client.ObjectKeyFromObject(inst)); wait > 0 {
		// Created by an earlier reconcile; its event brings us back once the cache has it.
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	image, blocked, err := r.resolveImage(ctx, inst)
	if err != nil || blocked != nil {
		s.blocked = blocked
		return ctrl.Result{}, err
	}
	if blocked, err := r.resolveInstanceType(ctx, inst); err != nil || blocked != nil {
		s.blocked = blocked
		return ctrl.Result{}, err
	}
	key, blocked, err := r.resolveKey(ctx, inst)
	if err != nil || blocked != nil {
		s.blocked = blocked
		return ctrl.Result{}, err
	}
	if st := inst.Status.State; st != "" && st != koalav1.InstanceStatePending && s.placed.root == nil {
		// Launch volumes are made once, at launch; an instance that lost its root volume
		// since cannot start again.
		s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonRootVolumeNotFound,
			Message: fmt.Sprintf("The instance's root volume %s does not exist", s.placed.rootName)}
		return ctrl.Result{}, nil
	}
	if inst.Spec.State == koalav1.DesiredStateRunning {
		if blocked, err := r.quotaBlock(ctx, inst); err != nil || blocked != nil {
			s.blocked = blocked
			return ctrl.Result{}, err // a change in the account brings us back
		}
	}
	root, blocked, err := r.ensureLaunchVolumes(ctx, s, image)
	if err != nil || blocked != nil || root == nil {
		s.blocked = blocked
		return ctrl.Result{}, err // a volume's event brings us back
	}
	zone, err := r.zoneSelector(ctx, inst)
	if err != nil {
		return ctrl.Result{}, err
	}
	vm, err := desiredVM(inst, s.id, zone, image, key, root, s.placed.hotplug, r.Storage, s.net)
	if err != nil {
		s.blocked = &metav1.Condition{Reason: "InvalidUserData", Message: err.Error()}
		return ctrl.Result{}, nil
	}
	// What the image says about the disk, recorded with the launch (an image can be
	// deregistered later; EC2 keeps showing these).
	inst.Status.Architecture = image.Spec.Architecture
	inst.Status.RootDeviceName = image.Spec.RootDeviceName
	if err := controllerutil.SetControllerReference(inst, vm, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Client.Create(ctx, vm); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Our cache had not seen it yet; the VM's own event brings us back.
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("creating VirtualMachine: %w", err)
	}
	r.vms.created(client.ObjectKeyFromObject(inst))
	s.vm = vm
	return ctrl.Result{}, nil
}

// resolveImage finds the image the instance boots from: one of its own account, or a
// public one, and available.
func (r *InstanceReconciler) resolveImage(ctx context.Context, inst *koalav1.Instance) (*koalav1.Image, *metav1.Condition, error) {
	var list koalav1.ImageList
	if err := r.Client.List(ctx, &list, client.MatchingFields{index.EC2ID: inst.Spec.ImageID}); err != nil {
		return nil, nil, fmt.Errorf("looking up image %s: %w", inst.Spec.ImageID, err)
	}
	for i := range list.Items {
		img := &list.Items[i]
		if img.Namespace != inst.Namespace && !img.Spec.Public {
			continue
		}
		if img.Status.State != koalav1.ImageStateAvailable || img.Status.DataSourceName == "" {
			return nil, &metav1.Condition{Reason: koalav1.InstanceReasonImageNotAvailable,
				Message: fmt.Sprintf("Image %s is %s", inst.Spec.ImageID, orUnknown(string(img.Status.State)))}, nil
		}
		return img, nil, nil
	}
	return nil, &metav1.Condition{Reason: koalav1.InstanceReasonImageNotFound,
		Message: fmt.Sprintf("The image %s does not exist or is not shared with this account", inst.Spec.ImageID)}, nil
}

func (r *InstanceReconciler) resolveInstanceType(ctx context.Context, inst *koalav1.Instance) (*metav1.Condition, error) {
	it := &instancetypev1beta1.VirtualMachineClusterInstancetype{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: inst.Spec.InstanceType}, it); err != nil {
		if apierrors.IsNotFound(err) {
			return &metav1.Condition{Reason: koalav1.InstanceReasonInstanceTypeNotFound,
				Message: fmt.Sprintf("The instance type %s does not exist: no VirtualMachineClusterInstancetype has that name", inst.Spec.InstanceType)}, nil
		}
		return nil, fmt.Errorf("getting instance type %s: %w", inst.Spec.InstanceType, err)
	}
	return nil, nil
}

func (r *InstanceReconciler) resolveKey(ctx context.Context, inst *koalav1.Instance) (string, *metav1.Condition, error) {
	if inst.Spec.KeyName == "" {
		return "", nil, nil
	}
	var list koalav1.KeyPairList
	if err := r.Client.List(ctx, &list, client.InNamespace(inst.Namespace), client.MatchingFields{index.KeyName: inst.Spec.KeyName}); err != nil {
		return "", nil, fmt.Errorf("looking up key pair %s: %w", inst.Spec.KeyName, err)
	}
	// Of several key pairs with the name, the oldest is the valid one (see the KeyPair
	// reconciler).
	var oldest *koalav1.KeyPair
	for i := range list.Items {
		kp := &list.Items[i]
		if oldest == nil || kp.Precedes(oldest) {
			oldest = kp
		}
	}
	if oldest == nil {
		return "", &metav1.Condition{Reason: koalav1.InstanceReasonKeyPairNotFound,
			Message: fmt.Sprintf("The key pair '%s' does not exist", inst.Spec.KeyName)}, nil
	}
	return oldest.Spec.PublicKey, nil, nil
}

// reconcileReboot restarts the guest once for each new value of the reboot
// annotation, by deleting its VMI: KubeVirt (runStrategy Always) starts a new one.
func (r *InstanceReconciler) reconcileReboot(ctx context.Context, s *instanceScope) (ctrl.Result, error) {
	inst := s.instance
	want := inst.Annotations[koalav1.RebootRequestedAnnotation]
	if want == "" || want == inst.Status.LastRebootRequest {
		return ctrl.Result{}, nil
	}
	if inst.Spec.State == koalav1.DesiredStateRunning && s.vmi != nil && s.vmi.DeletionTimestamp == nil && s.vmi.Status.Phase == kubevirtv1.Running {
		if err := r.Client.Delete(ctx, s.vmi, client.Preconditions{UID: &s.vmi.UID}); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("restarting the guest: %w", err)
		}
		if r.Recorder != nil {
			r.Recorder.Eventf(inst, s.vmi, corev1.EventTypeNormal, "Rebooting", "Reboot", "Rebooting instance %s", s.id)
		}
	}
	// A reboot asked of an instance that is not running is a no-op, as in EC2.
	inst.Status.LastRebootRequest = want
	return ctrl.Result{}, nil
}

// reconcileTermination deletes the VM of a terminated instance and releases its
// volumes, then removes the instance once the retention period has passed.
func (r *InstanceReconciler) reconcileTermination(ctx context.Context, s *instanceScope) (ctrl.Result, error) {
	if done, err := r.deleteVM(ctx, s); err != nil || !done {
		return ctrl.Result{}, err
	}
	if err := r.releaseVolumes(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.releaseAddresses(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	inst := s.instance
	terminatedAt := r.Clock.Now()
	if inst.Status.TerminatedAt != nil {
		terminatedAt = inst.Status.TerminatedAt.Time
	}
	remaining := terminatedAt.Add(r.TerminatedRetention).Sub(r.Clock.Now())
	if remaining > 0 {
		return ctrl.Result{RequeueAfter: remaining}, nil
	}
	if err := r.Client.Delete(ctx, inst, client.Preconditions{UID: &inst.UID}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing terminated instance: %w", err)
	}
	return ctrl.Result{}, nil
}

// reconcileDelete cleans up before an Instance deleted with kubectl disappears: the VM
// goes first, then its volumes are released, then the finalizer.
func (r *InstanceReconciler) reconcileDelete(ctx context.Context, s *instanceScope) (ctrl.Result, error) {
	if done, err := r.deleteVM(ctx, s); err != nil || !done {
		return ctrl.Result{}, err
	}
	if err := r.releaseVolumes(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.releaseAddresses(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	inst := s.instance
	if !controllerutil.ContainsFinalizer(inst, InstanceFinalizer) {
		return ctrl.Result{}, nil
	}
	base := inst.DeepCopy()
	controllerutil.RemoveFinalizer(inst, InstanceFinalizer)
	if err := r.Client.Patch(ctx, inst, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Nothing left to report on: the object is going away.
	s.id = ""
	return ctrl.Result{}, nil
}

// deleteVM deletes the instance's VM and reports whether it (and its VMI) are gone; a
// root volume that outlives the instance keeps its DataVolume. The VM's own deletion
// event requeues the instance.
func (r *InstanceReconciler) deleteVM(ctx context.Context, s *instanceScope) (bool, error) {
	if s.vm == nil {
		return s.vmi == nil, nil
	}
	if s.vm.DeletionTimestamp.IsZero() {
		if err := r.keepRootDataVolume(ctx, s); err != nil {
			return false, err
		}
		if err := r.Client.Delete(ctx, s.vm, client.Preconditions{UID: &s.vm.UID}); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("deleting VirtualMachine: %w", err)
		}
	}
	return false, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "not ready"
	}
	return s
}
