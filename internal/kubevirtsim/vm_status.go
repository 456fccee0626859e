package kubevirtsim

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)

// vmStatusInput is what a VM's status is computed from.
type vmStatusInput struct {
	vmi         *virtv1.VirtualMachineInstance
	dataVolumes map[string]*cdiv1.DataVolume
	// startWanted: the run strategy wants a VMI that does not exist yet.
	startWanted     bool
	syncErr         *syncError
	restartRequired bool
	now             metav1.Time
}

// computeVMStatus is the status KubeVirt's VM controller would write for vm. It starts
// from vm.Status, so that what it does not manage is kept and unchanged conditions keep
// their times.
func computeVMStatus(vm *virtv1.VirtualMachine, in vmStatusInput) virtv1.VirtualMachineStatus {
	st := *vm.Status.DeepCopy()
	vmi := in.vmi

	st.Created = vmi != nil
	st.Ready = vmi != nil && !vmi.IsFinal() && vmiCondition(vmi, virtv1.VirtualMachineInstanceReady) == corev1.ConditionTrue
	if rs, err := vm.RunStrategy(); err == nil {
		st.RunStrategy = rs
	}
	st.DesiredGeneration = vm.Generation
	st.ObservedGeneration = vm.Generation
	if vmi != nil {
		if g, err := strconv.ParseInt(vmi.Annotations[virtv1.VirtualMachineGenerationAnnotation], 10, 64); err == nil {
			st.ObservedGeneration = g
		}
	}
	if m := vm.Spec.Instancetype; m != nil && m.Name != "" {
		st.InstancetypeRef = &virtv1.InstancetypeStatusRef{Name: m.Name, Kind: instancetypeKind(m)}
	} else {
		st.InstancetypeRef = nil
	}
	st.StateChangeRequests = trimStateChangeRequests(st.StateChangeRequests, vmi)

	st.Conditions = syncVMConditions(st.Conditions, vmi, in)
	st.PrintableStatus = printableStatus(vm, in)
	return st
}

// trimStateChangeRequests drops the first request once it has been acted upon.
func trimStateChangeRequests(reqs []virtv1.VirtualMachineStateChangeRequest, vmi *virtv1.VirtualMachineInstance) []virtv1.VirtualMachineStateChangeRequest {
	if len(reqs) == 0 {
		return reqs
	}
	switch r := reqs[0]; r.Action {
	case virtv1.StopRequest:
		if vmi == nil || r.UID == nil || *r.UID != vmi.UID {
			reqs = reqs[1:]
		}
	case virtv1.StartRequest:
		if vmi != nil && vmi.DeletionTimestamp == nil && !vmi.IsFinal() {
			reqs = reqs[1:]
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	return reqs
}

// syncVMConditions sets Ready from the VMI, Failure from the sync error, RestartRequired,
// and copies the VMI's other conditions, as KubeVirt's syncConditions does.
func syncVMConditions(conds []virtv1.VirtualMachineCondition, vmi *virtv1.VirtualMachineInstance, in vmStatusInput) []virtv1.VirtualMachineCondition {
	own := map[virtv1.VirtualMachineConditionType]bool{
		virtv1.VirtualMachineReady:           true,
		virtv1.VirtualMachineFailure:         true,
		virtv1.VirtualMachineRestartRequired: true,
		virtv1.VirtualMachinePaused:          false, // copied from the VMI
	}
	// Ready.
	switch ready := vmiConditionObj(vmi, virtv1.VirtualMachineInstanceReady); {
	case vmi == nil:
		conds = setVMCondition(conds, virtv1.VirtualMachineCondition{Type: virtv1.VirtualMachineReady, Status: corev1.ConditionFalse, Reason: "VMINotExists", Message: "VMI does not exist"}, in.now)
	case ready == nil:
		conds = setVMCondition(conds, virtv1.VirtualMachineCondition{Type: virtv1.VirtualMachineReady, Status: corev1.ConditionFalse, Reason: "VMIConditionMissing", Message: "VMI is missing the Ready condition"}, in.now)
	default:
		conds = setVMCondition(conds, virtv1.VirtualMachineCondition{
			Type: virtv1.VirtualMachineReady, Status: ready.Status, Reason: ready.Reason, Message: ready.Message,
			LastProbeTime: ready.LastProbeTime, LastTransitionTime: ready.LastTransitionTime,
		}, in.now)
	}
	// Failure.
	if in.syncErr != nil {
		conds = setVMCondition(conds, virtv1.VirtualMachineCondition{Type: virtv1.VirtualMachineFailure, Status: corev1.ConditionTrue, Reason: in.syncErr.reason, Message: in.syncErr.message}, in.now)
	} else {
		conds = removeVMCondition(conds, virtv1.VirtualMachineFailure)
	}
	// RestartRequired.
	if in.restartRequired {
		conds = setVMCondition(conds, virtv1.VirtualMachineCondition{Type: virtv1.VirtualMachineRestartRequired, Status: corev1.ConditionTrue, Message: "a non-live-updatable field was changed in the template spec"}, in.now)
	} else {
		conds = removeVMCondition(conds, virtv1.VirtualMachineRestartRequired)
	}
	// The VMI's other conditions.
	fromVMI := map[virtv1.VirtualMachineConditionType]bool{}
	if vmi != nil {
		for _, c := range vmi.Status.Conditions {
			t := virtv1.VirtualMachineConditionType(c.Type)
			if own[t] {
				continue
			}
			fromVMI[t] = true
			conds = setVMCondition(conds, virtv1.VirtualMachineCondition{
				Type: t, Status: c.Status, Reason: c.Reason, Message: c.Message,
				LastProbeTime: c.LastProbeTime, LastTransitionTime: c.LastTransitionTime,
			}, in.now)
		}
	}
	kept := conds[:0]
	for _, c := range conds {
		if own[c.Type] || fromVMI[c.Type] {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

// setVMCondition sets c in conds; an unchanged status keeps the existing transition time,
// and a condition copied with its own times keeps them.
func setVMCondition(conds []virtv1.VirtualMachineCondition, c virtv1.VirtualMachineCondition, now metav1.Time) []virtv1.VirtualMachineCondition {
	for i, old := range conds {
		if old.Type != c.Type {
			continue
		}
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = old.LastTransitionTime
			if old.Status != c.Status || c.LastTransitionTime.IsZero() {
				c.LastTransitionTime = now
			}
		}
		conds[i] = c
		return conds
	}
	if c.LastTransitionTime.IsZero() {
		c.LastTransitionTime = now
	}
	return append(conds, c)
}

func removeVMCondition(conds []virtv1.VirtualMachineCondition, t virtv1.VirtualMachineConditionType) []virtv1.VirtualMachineCondition {
	out := conds[:0]
	for _, c := range conds {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

// printableStatus is KubeVirt's printable status: the first of these that holds.
func printableStatus(vm *virtv1.VirtualMachine, in vmStatusInput) virtv1.VirtualMachinePrintableStatus {
	vmi := in.vmi
	halted := false
	if rs, err := vm.RunStrategy(); err == nil {
		halted = rs == virtv1.RunStrategyHalted
	}
	switch {
	case vm.DeletionTimestamp != nil:
		return virtv1.VirtualMachineStatusTerminating
	case vmi != nil && !vmi.IsFinal() && (vmi.DeletionTimestamp != nil || halted):
		return virtv1.VirtualMachineStatusStopping
	case vmi != nil && vmi.IsRunning() && vmiCondition(vmi, virtv1.VirtualMachineInstancePaused) == corev1.ConditionTrue:
		return virtv1.VirtualMachineStatusPaused
	case vmi != nil && vmi.IsRunning():
		return virtv1.VirtualMachineStatusRunning
	case vmiConditionIs(vmi, virtv1.VirtualMachineInstanceSynchronized, corev1.ConditionFalse, reasonFailedPvcNotFound):
		return virtv1.VirtualMachineStatusPvcNotFound
	case dataVolumeFailed(vm, in.dataVolumes):
		return virtv1.VirtualMachineStatusDataVolumeError
	case vmiConditionIs(vmi, virtv1.VirtualMachineInstanceConditionType(corev1.PodScheduled), corev1.ConditionFalse, corev1.PodReasonUnschedulable):
		return virtv1.VirtualMachineStatusUnschedulable
	case dataVolumeProvisioning(vm, in.dataVolumes):
		return virtv1.VirtualMachineStatusProvisioning
	case vmi == nil && in.startWanted && in.syncErr == nil:
		return virtv1.VirtualMachineStatusStarting
	case vmi != nil && (vmi.IsUnprocessed() || vmi.Status.Phase == virtv1.Pending || vmi.IsScheduling() || vmi.IsScheduled()):
		return virtv1.VirtualMachineStatusStarting
	case vmi != nil && vmi.IsFinal(), vmi == nil:
		return virtv1.VirtualMachineStatusStopped
	}
	return virtv1.VirtualMachineStatusUnknown
}

// templateDataVolumes are the names of the DataVolumes vm's template volumes use.
func templateDataVolumes(vm *virtv1.VirtualMachine) []string {
	var names []string
	if vm.Spec.Template == nil {
		return nil
	}
	for _, v := range vm.Spec.Template.Spec.Volumes {
		if v.DataVolume != nil {
			names = append(names, v.DataVolume.Name)
		}
	}
	return names
}

func dataVolumeFailed(vm *virtv1.VirtualMachine, dvs map[string]*cdiv1.DataVolume) bool {
	for _, name := range templateDataVolumes(vm) {
		if dv := dvs[name]; dv != nil && dv.Status.Phase == cdiv1.Failed {
			return true
		}
	}
	return false
}

// dataVolumeProvisioning: a DataVolume of the template is still being populated (or is
// about to be created from a dataVolumeTemplate).
func dataVolumeProvisioning(vm *virtv1.VirtualMachine, dvs map[string]*cdiv1.DataVolume) bool {
	templated := map[string]bool{}
	for _, t := range vm.Spec.DataVolumeTemplates {
		templated[t.Name] = true
	}
	for _, name := range templateDataVolumes(vm) {
		dv, known := dvs[name]
		if !known {
			continue
		}
		if dv == nil {
			if templated[name] {
				return true
			}
			continue
		}
		switch dv.Status.Phase {
		case cdiv1.Succeeded, cdiv1.Failed, cdiv1.WaitForFirstConsumer, cdiv1.PendingPopulation:
		default:
			return true
		}
	}
	return false
}

func vmiConditionObj(vmi *virtv1.VirtualMachineInstance, t virtv1.VirtualMachineInstanceConditionType) *virtv1.VirtualMachineInstanceCondition {
	if vmi == nil {
		return nil
	}
	for i := range vmi.Status.Conditions {
		if vmi.Status.Conditions[i].Type == t {
			return &vmi.Status.Conditions[i]
		}
	}
	return nil
}

func vmiCondition(vmi *virtv1.VirtualMachineInstance, t virtv1.VirtualMachineInstanceConditionType) corev1.ConditionStatus {
	if c := vmiConditionObj(vmi, t); c != nil {
		return c.Status
	}
	return ""
}

func vmiConditionIs(vmi *virtv1.VirtualMachineInstance, t virtv1.VirtualMachineInstanceConditionType, status corev1.ConditionStatus, reason string) bool {
	c := vmiConditionObj(vmi, t)
	return c != nil && c.Status == status && c.Reason == reason
}
