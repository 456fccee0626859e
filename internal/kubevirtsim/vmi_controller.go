package kubevirtsim

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	kindVMI = "VirtualMachineInstance"
	// clock steps of a VMI besides its phases.
	stepStopping = "Stopping"
)

// The VirtualMachineInstance controller plays virt-controller's VMI loop, the scheduler
// and virt-handler: it moves VMIs through their phases, places them on simulated nodes,
// gives them addresses and reports a simulated guest.
func (s *simulator) setupVMIController(mgr ctrl.Manager) error {
	err := ctrl.NewControllerManagedBy(mgr).
		Named("kubevirtsim-virtualmachineinstance").
		For(&virtv1.VirtualMachineInstance{}).
		Watches(&cdiv1.DataVolume{}, handler.EnqueueRequestsFromMapFunc(s.vmisForClaim)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(s.vmisForClaim)).
		WithOptions(s.controllerOptions()).
		Complete(reconcile.Func(s.reconcileVMI))
	if err != nil {
		return fmt.Errorf("setting up the simulated VirtualMachineInstance controller: %w", err)
	}
	return nil
}

// vmiScope is what one VMI reconcile works on.
type vmiScope struct {
	key    types.NamespacedName
	vmi    *virtv1.VirtualMachineInstance
	status *virtv1.VirtualMachineInstanceStatus // the status being computed
	now    metav1.Time
	// requeue is when to look again (0: only on the next event).
	requeue time.Duration
}

func (s *simulator) reconcileVMI(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if err := s.ipam.loadOnce(func() (map[string]string, error) { return s.podIPsInUse(ctx) }); err != nil {
		return reconcile.Result{}, err
	}
	vmi := &virtv1.VirtualMachineInstance{}
	if err := s.client.Get(ctx, req.NamespacedName, vmi); err != nil {
		if apierrors.IsNotFound(err) {
			s.ipam.Release(req.String())
			s.clock.forget(kindVMI, req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	sc := &vmiScope{key: req.NamespacedName, vmi: vmi, status: vmi.Status.DeepCopy(), now: metav1.Now()}

	if vmi.DeletionTimestamp != nil {
		return done(s.reconcileVMIDelete(ctx, sc))
	}
	if orphaned, err := s.ownerVMGone(ctx, vmi); err != nil || orphaned {
		if err == nil {
			err = s.deleteIgnoringNotFound(ctx, vmi) // playing the garbage collector
		}
		return done(reconcile.Result{}, err)
	}
	if _, err := s.markAndFinalize(ctx, vmi, virtv1.VirtualMachineInstanceFinalizer); err != nil {
		return done(reconcile.Result{}, err)
	}

	var err error
	switch vmi.Status.Phase {
	case virtv1.VmPhaseUnset:
		s.enterPhase(sc, virtv1.Pending)
		sc.status.Conditions = setVMICondition(sc.status.Conditions, virtv1.VirtualMachineInstanceCondition{
			Type: virtv1.VirtualMachineInstanceReady, Status: corev1.ConditionFalse, Reason: reasonPodNotExists, Message: "virt-launcher pod has not yet been scheduled",
		}, sc.now)
		sc.requeue = s.stepDelay()
	case virtv1.Pending:
		err = s.reconcilePending(ctx, sc)
	case virtv1.Scheduling:
		err = s.reconcileScheduling(ctx, sc)
	case virtv1.Scheduled:
		err = s.reconcileScheduled(ctx, sc)
	case virtv1.Running:
		err = s.reconcileRunning(ctx, sc)
	default: // Succeeded, Failed, Unknown: the guest is gone.
		s.ipam.Release(req.String())
	}
	if err != nil {
		return done(reconcile.Result{}, err)
	}
	return done(reconcile.Result{RequeueAfter: sc.requeue}, s.writeVMIStatus(ctx, sc))
}

// stepDelay is the time spent in each of Pending, Scheduling and Scheduled.
func (s *simulator) stepDelay() time.Duration { return s.opts.StartDelay / 3 }

// waitStep reports whether the VMI has spent a step's delay in its phase; when not, it
// sets the requeue to when it will have.
func (s *simulator) waitStep(sc *vmiScope, d time.Duration) bool {
	left := wait(d, s.clock.elapsed(kindVMI, sc.key, sc.vmi.UID, string(sc.status.Phase)))
	if left > 0 {
		sc.requeue = left
		return false
	}
	return true
}

func (s *simulator) enterPhase(sc *vmiScope, phase virtv1.VirtualMachineInstancePhase) {
	setPhase(sc.status, phase, sc.now)
	s.clock.enter(kindVMI, sc.key, sc.vmi.UID, string(phase))
}

// reconcilePending waits for the VMI's volumes (as virt-controller does before it
// creates the pod), then for the step's delay.
func (s *simulator) reconcilePending(ctx context.Context, sc *vmiScope) error {
	ready, err := s.volumesReady(ctx, sc)
	if err != nil || !ready {
		return err
	}
	if !s.waitStep(sc, s.stepDelay()) {
		return nil
	}
	s.enterPhase(sc, virtv1.Scheduling)
	sc.requeue = s.stepDelay()
	return nil
}

// volumesReady checks the VMI's PVC and DataVolume volumes and reports it in the
// DataVolumesReady and Synchronized conditions, with KubeVirt's reasons. Hotpluggable
// volumes do not hold the start: they are attached once the guest runs, as KubeVirt
// does (their status says when).
func (s *simulator) volumesReady(ctx context.Context, sc *vmiScope) (bool, error) {
	vmi := sc.vmi
	var missing, notReady []string
	hasDV := false
	for _, v := range vmi.Spec.Volumes {
		claim := claimName(v)
		if claim == "" || isHotplug(v) {
			continue
		}
		key := types.NamespacedName{Namespace: vmi.Namespace, Name: claim}
		if v.DataVolume != nil {
			hasDV = true
			dv := &cdiv1.DataVolume{}
			if err := s.client.Get(ctx, key, dv); err != nil {
				if !apierrors.IsNotFound(err) {
					return false, err
				}
				notReady = append(notReady, claim)
				continue
			}
			if dv.Status.Phase != cdiv1.Succeeded && dv.Status.Phase != cdiv1.WaitForFirstConsumer {
				notReady = append(notReady, claim)
			}
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{}
		if err := s.client.Get(ctx, key, pvc); err != nil {
			if !apierrors.IsNotFound(err) {
				return false, err
			}
			missing = append(missing, claim)
		}
	}
	conds := sc.status.Conditions
	if len(missing) > 0 {
		conds = setVMICondition(conds, virtv1.VirtualMachineInstanceCondition{
			Type: virtv1.VirtualMachineInstanceSynchronized, Status: corev1.ConditionFalse, Reason: reasonFailedPvcNotFound,
			Message: fmt.Sprintf("PVC %s/%s does not exist, waiting for it to appear", vmi.Namespace, missing[0]),
		}, sc.now)
	} else {
		conds = removeVMICondition(conds, virtv1.VirtualMachineInstanceSynchronized)
	}
	if hasDV {
		if len(notReady) > 0 {
			conds = setVMICondition(conds, virtv1.VirtualMachineInstanceCondition{
				Type: virtv1.VirtualMachineInstanceDataVolumesReady, Status: corev1.ConditionFalse, Reason: virtv1.VirtualMachineInstanceReasonNotAllDVsReady,
				Message: fmt.Sprintf("Not all of the VMI's DVs are ready: %v", notReady),
			}, sc.now)
		} else {
			conds = setVMICondition(conds, virtv1.VirtualMachineInstanceCondition{
				Type: virtv1.VirtualMachineInstanceDataVolumesReady, Status: corev1.ConditionTrue, Reason: virtv1.VirtualMachineInstanceReasonAllDVsReady,
				Message: "All of the VMI's DVs are bound and ready",
			}, sc.now)
		}
	}
	sc.status.Conditions = conds
	return len(missing) == 0 && len(notReady) == 0, nil
}

// reconcileScheduling places the VMI on a simulated node, or reports it unschedulable.
func (s *simulator) reconcileScheduling(ctx context.Context, sc *vmiScope) error {
	if !s.waitStep(sc, s.stepDelay()) {
		return nil
	}
	node, ok, message := s.nodes.schedule(sc.vmi)
	if !ok {
		sc.status.Conditions = setVMICondition(sc.status.Conditions, virtv1.VirtualMachineInstanceCondition{
			Type: virtv1.VirtualMachineInstanceConditionType(corev1.PodScheduled), Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: message,
		}, sc.now)
		return nil // the nodes never change; a changed VMI comes back here
	}
	if sc.vmi.Labels[virtv1.NodeNameLabel] != node {
		base := sc.vmi.DeepCopy()
		if sc.vmi.Labels == nil {
			sc.vmi.Labels = map[string]string{}
		}
		sc.vmi.Labels[virtv1.NodeNameLabel] = node
		if err := s.client.Patch(ctx, sc.vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
	}
	sc.status.NodeName = node
	sc.status.Conditions = removeVMICondition(sc.status.Conditions, virtv1.VirtualMachineInstanceConditionType(corev1.PodScheduled))
	sc.status.Conditions = setVMICondition(sc.status.Conditions, virtv1.VirtualMachineInstanceCondition{
		Type: virtv1.VirtualMachineInstanceReady, Status: corev1.ConditionFalse, Reason: reasonGuestNotRunning, Message: "Guest VM is not reported as running",
	}, sc.now)
	s.enterPhase(sc, virtv1.Scheduled)
	sc.requeue = s.stepDelay()
	return nil
}

// reconcileScheduled boots the simulated guest.
func (s *simulator) reconcileScheduled(ctx context.Context, sc *vmiScope) error {
	if !s.waitStep(sc, s.stepDelay()) {
		return nil
	}
	if err := s.setGuestStatus(ctx, sc); err != nil {
		return err
	}
	s.enterPhase(sc, virtv1.Running)
	return nil
}

// reconcileRunning keeps a running VMI's status current and powers the guest off when
// asked to.
func (s *simulator) reconcileRunning(ctx context.Context, sc *vmiScope) error {
	vmi := sc.vmi
	_, shutdown := vmi.Annotations[GuestShutdownAnnotation]
	_, crash := vmi.Annotations[GuestCrashAnnotation]
	if shutdown || crash {
		s.guestGone(sc, crash)
		return nil
	}
	return s.setGuestStatus(ctx, sc)
}

// guestGone ends the VMI: the guest powered off (Succeeded) or crashed (Failed).
func (s *simulator) guestGone(sc *vmiScope, crashed bool) {
	phase, msg := virtv1.Succeeded, "Guest VM is not reported as running"
	if crashed {
		phase, msg = virtv1.Failed, "Guest VM crashed (simulated)"
	}
	s.enterPhase(sc, phase)
	s.ipam.Release(sc.key.String())
	sc.status.Conditions = removeVMICondition(sc.status.Conditions, virtv1.VirtualMachineInstanceAgentConnected)
	sc.status.Conditions = setVMICondition(sc.status.Conditions, virtv1.VirtualMachineInstanceCondition{
		Type: virtv1.VirtualMachineInstanceReady, Status: corev1.ConditionFalse, Reason: reasonGuestNotRunning, Message: msg,
	}, sc.now)
}

// setGuestStatus sets what virt-handler reports about a running guest.
func (s *simulator) setGuestStatus(ctx context.Context, sc *vmiScope) error {
	vmi := sc.vmi
	podIP := ""
	if podNetworkName(&vmi.Spec) != "" {
		addr, err := s.ipam.Allocate(sc.key.String())
		if err != nil {
			return fmt.Errorf("allocating an address for VMI %s: %w", sc.key, err)
		}
		podIP = addr.String()
	}
	pvcs := map[string]*corev1.PersistentVolumeClaim{}
	populating := map[string]bool{}
	for _, v := range vmi.Spec.Volumes {
		claim := claimName(v)
		if claim == "" {
			continue
		}
		key := types.NamespacedName{Namespace: vmi.Namespace, Name: claim}
		pvc := &corev1.PersistentVolumeClaim{}
		if err := s.client.Get(ctx, key, pvc); err == nil {
			pvcs[claim] = pvc
		} else if !apierrors.IsNotFound(err) {
			return err
		}
		if v.DataVolume != nil {
			dv := &cdiv1.DataVolume{}
			if err := s.client.Get(ctx, key, dv); err != nil && !apierrors.IsNotFound(err) {
				return err
			} else if err != nil || dv.Status.Phase != cdiv1.Succeeded {
				populating[claim] = true
			}
		}
	}
	setRunningStatus(sc.status, vmi, podIP, pvcs, populating, sc.now)
	return nil
}

// reconcileVMIDelete shuts the simulated guest down (StopDelay), ends the VMI and lets it
// go.
func (s *simulator) reconcileVMIDelete(ctx context.Context, sc *vmiScope) (reconcile.Result, error) {
	vmi := sc.vmi
	if !slices.Contains(vmi.Finalizers, virtv1.VirtualMachineInstanceFinalizer) &&
		!slices.Contains(vmi.Finalizers, virtv1.DeprecatedVirtualMachineInstanceFinalizer) {
		if slices.Contains(vmi.Finalizers, foregroundDeletionFinalizer) {
			return reconcile.Result{}, s.removeFinalizers(ctx, vmi, foregroundDeletionFinalizer)
		}
		return reconcile.Result{}, nil
	}
	if !vmi.IsFinal() {
		if vmi.IsRunning() {
			left := wait(s.opts.StopDelay, s.clock.elapsed(kindVMI, sc.key, vmi.UID, stepStopping))
			if left > 0 {
				sc.status.Conditions = setVMICondition(sc.status.Conditions, virtv1.VirtualMachineInstanceCondition{
					Type: virtv1.VirtualMachineInstanceReady, Status: corev1.ConditionFalse, Reason: reasonPodTerminating, Message: "virt-launcher pod is terminating",
				}, sc.now)
				return reconcile.Result{RequeueAfter: left}, s.writeVMIStatus(ctx, sc)
			}
		}
		// The guest has shut down (or never ran).
		s.guestGone(sc, false)
		s.event(vmi, corev1.EventTypeNormal, "Deleted", "StopGuest", "Signaled deletion; the simulated guest shut down")
		// The status event brings the VMI back here to let it go.
		return reconcile.Result{}, s.writeVMIStatus(ctx, sc)
	}
	s.ipam.Release(sc.key.String())
	s.clock.forget(kindVMI, sc.key)
	return reconcile.Result{}, s.removeFinalizers(ctx, vmi,
		virtv1.VirtualMachineInstanceFinalizer, virtv1.DeprecatedVirtualMachineInstanceFinalizer, foregroundDeletionFinalizer)
}

// writeVMIStatus writes the computed status when it changed.
func (s *simulator) writeVMIStatus(ctx context.Context, sc *vmiScope) error {
	if equality.Semantic.DeepEqual(*sc.status, sc.vmi.Status) {
		return nil
	}
	vmi := sc.vmi.DeepCopy()
	vmi.Status = *sc.status
	if err := s.client.Status().Update(ctx, vmi); err != nil {
		return fmt.Errorf("writing the status of VMI %s: %w", sc.key, err)
	}
	return nil
}

// podIPsInUse lists the pod network addresses of the live VMIs, by owner key.
func (s *simulator) podIPsInUse(ctx context.Context) (map[string]string, error) {
	var list virtv1.VirtualMachineInstanceList
	if err := s.client.List(ctx, &list); err != nil {
		return nil, err
	}
	inUse := map[string]string{}
	for _, vmi := range list.Items {
		if vmi.IsFinal() {
			continue
		}
		pod := podNetworkName(&vmi.Spec)
		for _, iface := range vmi.Status.Interfaces {
			if iface.Name == pod && iface.IP != "" {
				if _, err := netip.ParseAddr(iface.IP); err == nil {
					inUse[nsName(vmi.Namespace, vmi.Name)] = iface.IP
				}
			}
		}
	}
	return inUse, nil
}
