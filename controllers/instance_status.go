package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// instanceObservation is what the status of an instance is computed from.
type instanceObservation struct {
	desired  koalav1.InstanceDesiredState
	deleting bool
	vm       *kubevirtv1.VirtualMachine         // nil when absent
	vmi      *kubevirtv1.VirtualMachineInstance // nil when absent
	// blocked is why the VM cannot be created yet (image, type or key missing); nil when
	// nothing blocks.
	blocked *metav1.Condition
	// launched is when the instance was created: the launch time of its first launch,
	// which the EC2 endpoint shows before the operator has written any status.
	launched time.Time
	now      time.Time
}

// firstLaunch is the launch time of an instance's first launch: its creation, as the
// EC2 endpoint shows it until the operator has written a status.
func (o instanceObservation) firstLaunch() time.Time {
	if o.launched.IsZero() {
		return o.now
	}
	return o.launched
}

// vmiEnded reports whether the guest has stopped for good (the VMI only waits to be
// removed or replaced).
func vmiEnded(vmi *kubevirtv1.VirtualMachineInstance) bool {
	return vmi.Status.Phase == kubevirtv1.Succeeded || vmi.Status.Phase == kubevirtv1.Failed
}

// instanceState maps what KubeVirt reports to the EC2 state.
func instanceState(prev koalav1.InstanceStateName, o instanceObservation) koalav1.InstanceStateName {
	if o.deleting || o.desired == koalav1.DesiredStateTerminated {
		if o.vm != nil || o.vmi != nil {
			return koalav1.InstanceStateShuttingDown
		}
		return koalav1.InstanceStateTerminated
	}
	if o.desired == koalav1.DesiredStateStopped {
		if o.vmi != nil && !vmiEnded(o.vmi) {
			return koalav1.InstanceStateStopping
		}
		return koalav1.InstanceStateStopped
	}
	// Desired running.
	switch {
	case o.vm == nil:
		return koalav1.InstanceStatePending
	case prev == koalav1.InstanceStateRunning:
		// Once running, an instance stays running until it is stopped or terminated: a
		// reboot or a guest restart replaces the VMI, but EC2 shows such an instance as
		// running (its health is DescribeInstanceStatus's business).
		return koalav1.InstanceStateRunning
	case o.vmi != nil && o.vmi.DeletionTimestamp == nil && o.vmi.Status.Phase == kubevirtv1.Running:
		return koalav1.InstanceStateRunning
	}
	return koalav1.InstanceStatePending
}

// primaryIP is the guest's first IPv4 address that KubeVirt reports.
func primaryIP(vmi *kubevirtv1.VirtualMachineInstance) string {
	if vmi == nil {
		return ""
	}
	for _, iface := range vmi.Status.Interfaces {
		if iface.IP != "" {
			return iface.IP
		}
	}
	return ""
}

// userInitiated is EC2's state transition reason for a change the user asked for.
func userInitiated(now time.Time) string {
	return fmt.Sprintf("User initiated (%s GMT)", now.UTC().Format("2006-01-02 15:04:05"))
}

// setInstanceStatus computes the status of an instance from the observation, in place.
// It is pure: the same observation and previous status give the same result.
func setInstanceStatus(st *koalav1.InstanceStatus, o instanceObservation) {
	prev := st.State
	state := instanceState(prev, o)
	st.State = state
	st.StateCode = state.Code()

	if state != prev {
		switch state {
		case koalav1.InstanceStatePending:
			switch prev {
			case "":
				st.LaunchTime = &metav1.Time{Time: o.firstLaunch()}
			case koalav1.InstanceStateStopped, koalav1.InstanceStateStopping:
				st.LaunchTime = &metav1.Time{Time: o.now}
			}
			st.StateReason = nil
			st.StateTransitionReason = ""
		case koalav1.InstanceStateStopping, koalav1.InstanceStateShuttingDown:
			st.StateTransitionReason = userInitiated(o.now)
			st.StateReason = &koalav1.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		case koalav1.InstanceStateTerminated:
			st.TerminatedAt = &metav1.Time{Time: o.now}
			if st.StateTransitionReason == "" {
				st.StateTransitionReason = userInitiated(o.now)
			}
			st.StateReason = &koalav1.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}
		case koalav1.InstanceStateRunning:
			st.StateReason = nil
			st.StateTransitionReason = ""
		}
	}
	if st.LaunchTime == nil {
		st.LaunchTime = &metav1.Time{Time: o.firstLaunch()}
	}
	// What holds a launch back is the state reason EC2 clients read, as the Ready
	// condition is for kubectl users.
	if state == koalav1.InstanceStatePending {
		st.StateReason = nil
		if o.blocked != nil {
			st.StateReason = &koalav1.StateReason{Code: "Client." + o.blocked.Reason, Message: o.blocked.Message}
		}
	}

	// The address and node are the running guest's. A stopped instance keeps showing
	// its last address, as EC2 does; a terminated one has none. They are recorded only
	// once the guest runs, so that a launch costs two status writes (pending, running).
	switch state {
	case koalav1.InstanceStateRunning:
		// On a subnet the address is Koala's, recorded at launch and kept.
		if ip := primaryIP(o.vmi); ip != "" && !o.vmi.IsFinal() && st.SubnetID == "" {
			st.PrivateIPAddress = ip
		}
		if o.vmi != nil && o.vmi.Status.NodeName != "" {
			st.NodeName = o.vmi.Status.NodeName
		}
	case koalav1.InstanceStateStopped, koalav1.InstanceStatePending:
		st.NodeName = ""
	case koalav1.InstanceStateTerminated:
		st.PrivateIPAddress = ""
		st.NodeName = ""
	}

	meta.SetStatusCondition(&st.Conditions, readyCondition(state, o))
}

// readyCondition is True when the instance is in the state its spec asks for.
func readyCondition(state koalav1.InstanceStateName, o instanceObservation) metav1.Condition {
	if o.blocked != nil && state == koalav1.InstanceStatePending {
		c := *o.blocked
		c.Type = koalav1.ReadyCondition
		c.Status = metav1.ConditionFalse
		return c
	}
	c := metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse}
	switch state {
	case koalav1.InstanceStatePending:
		c.Reason, c.Message = koalav1.InstanceReasonPending, "The instance is starting"
	case koalav1.InstanceStateRunning:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, koalav1.InstanceReasonRunning, "The instance is running"
	case koalav1.InstanceStateStopping:
		c.Reason, c.Message = koalav1.InstanceReasonStopping, "The guest is shutting down"
	case koalav1.InstanceStateStopped:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, koalav1.InstanceReasonStopped, "The instance is stopped"
	case koalav1.InstanceStateShuttingDown:
		c.Reason, c.Message = koalav1.InstanceReasonShuttingDown, "The instance is being terminated"
	case koalav1.InstanceStateTerminated:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, koalav1.InstanceReasonTerminated, "The instance is terminated"
	}
	return c
}
