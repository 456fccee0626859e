package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// attachmentObservation is what the operator sees of a volume's place on one
// instance.
type attachmentObservation struct {
	instanceID, device  string
	deleteOnTermination bool
	// inVM: the instance's VirtualMachine template has the volume (it is, or will be at
	// the next start, the guest's).
	inVM bool
	// inVMI: the running VMI has the volume in its spec.
	inVMI bool
	// ready: the VMI reports the volume Ready.
	ready bool
	// stopped: the instance has no VMI and its VirtualMachine is halted.
	stopped bool
}

// volumeObservation is what the status of a volume is computed from.
type volumeObservation struct {
	spec     koalav1.VolumeSpec
	deleting bool
	// provisioning is the DataVolume's phase ("" when it does not exist yet);
	// failedMessage is CDI's message when it failed.
	provisioning  string
	failedMessage string
	// capacityGiB and storageClass are the claim's (0, "" without a claim).
	capacityGiB  int32
	storageClass string
	// desired is spec.attachment as observed, nil when the volume is not attached.
	desired *attachmentObservation
	// leaving are attachments of the status that the spec no longer asks for, as
	// observed now.
	leaving []attachmentObservation
	// blocked is why the volume cannot be provisioned or attached as asked; nil when
	// nothing blocks.
	blocked *metav1.Condition
	// resizeError is the API server's refusal to grow the claim, if any.
	resizeError string
	// classOf is the StorageClass of a volume type ("" for the cluster's default).
	classOf func(koalav1.VolumeType) string
	// attachTime and modifyTime are when the EC2 endpoint attached and modified the
	// volume (zero when unknown).
	attachTime, modifyTime time.Time
	now                    time.Time
}

// provisioned reports whether the volume's data is in place.
func (o volumeObservation) provisioned() bool { return o.provisioning == "Succeeded" }

// setVolumeStatus computes the status of a volume from the observation, in place. It is
// pure: the same observation and previous status give the same result.
func setVolumeStatus(st *koalav1.VolumeStatus, o volumeObservation) {
	st.Attachments = volumeAttachments(st.Attachments, o)
	st.State = volumeState(st.Attachments, o)
	setVolumeModification(st, o)
	st.Capacity = o.capacityGiB
	st.StorageClassName = o.storageClass
	meta.SetStatusCondition(&st.Conditions, volumeReadyCondition(st, o))
}

// volumeAttachments is the attachment list: the desired attachment (attaching until the
// guest has the disk, then attached), then those on their way out (detaching while the
// VirtualMachine or its VMI still has the disk, gone after).
func volumeAttachments(prev []koalav1.VolumeAttachmentStatus, o volumeObservation) []koalav1.VolumeAttachmentStatus {
	find := func(instanceID, device string) *koalav1.VolumeAttachmentStatus {
		for i := range prev {
			if prev[i].InstanceID == instanceID && prev[i].Device == device {
				return &prev[i]
			}
		}
		return nil
	}
	var out []koalav1.VolumeAttachmentStatus
	if d := o.desired; d != nil {
		p := find(d.instanceID, d.device)
		a := koalav1.VolumeAttachmentStatus{
			InstanceID: d.instanceID, Device: d.device, DeleteOnTermination: d.deleteOnTermination,
			State: koalav1.AttachmentStateAttaching,
		}
		switch {
		case o.blocked != nil || o.deleting:
		case d.ready:
			a.State = koalav1.AttachmentStateAttached
		case d.inVM && p != nil && p.State == koalav1.AttachmentStateAttached:
			// Once attached, a disk stays attached across stops, starts and reboots.
			a.State = koalav1.AttachmentStateAttached
		case d.inVM && d.stopped:
			// A stopped instance gets the disk at its next start: nothing more to wait for.
			a.State = koalav1.AttachmentStateAttached
		}
		switch {
		case p != nil && p.AttachTime != nil:
			a.AttachTime = p.AttachTime
		case !o.attachTime.IsZero():
			a.AttachTime = &metav1.Time{Time: o.attachTime}
		default:
			a.AttachTime = &metav1.Time{Time: o.now}
		}
		out = append(out, a)
	}
	for _, l := range o.leaving {
		if !l.inVM && !l.inVMI {
			continue // detached
		}
		a := koalav1.VolumeAttachmentStatus{InstanceID: l.instanceID, Device: l.device, DeleteOnTermination: l.deleteOnTermination, State: koalav1.AttachmentStateDetaching}
		if p := find(l.instanceID, l.device); p != nil {
			a.AttachTime = p.AttachTime
		}
		out = append(out, a)
	}
	return out
}

// volumeState maps the observation to EC2's volume state.
func volumeState(attachments []koalav1.VolumeAttachmentStatus, o volumeObservation) koalav1.VolumeStateName {
	switch {
	case o.deleting:
		return koalav1.VolumeStateDeleting
	case o.provisioning == "Failed":
		return koalav1.VolumeStateError
	case len(attachments) > 0:
		return koalav1.VolumeStateInUse
	case !o.provisioned():
		return koalav1.VolumeStateCreating
	}
	return koalav1.VolumeStateAvailable
}

// setVolumeModification keeps the volume's current size, type, IOPS and throughput and
// its last modification: a spec that differs from what the volume has starts one, which
// completes once the claim has grown to the new size (a change of type that needs
// another StorageClass fails: a claim cannot change class).
func setVolumeModification(st *koalav1.VolumeStatus, o volumeObservation) {
	spec := o.spec
	typ := spec.VolumeType
	if typ == "" {
		typ = koalav1.VolumeTypeGP2
	}
	if st.Size == 0 {
		// First seen: the volume has what it was created with.
		st.Size, st.VolumeType, st.Iops, st.Throughput = spec.Size, typ, copyInt32(spec.Iops), copyInt32(spec.Throughput)
		return
	}
	m := st.Modification
	differs := spec.Size != st.Size || typ != st.VolumeType || !equality.Semantic.DeepEqual(spec.Iops, st.Iops) ||
		!equality.Semantic.DeepEqual(spec.Throughput, st.Throughput)
	targeted := m != nil && m.TargetSize == spec.Size && m.TargetVolumeType == typ &&
		equality.Semantic.DeepEqual(m.TargetIops, spec.Iops) && equality.Semantic.DeepEqual(m.TargetThroughput, spec.Throughput)
	if differs && !targeted {
		start := o.now
		if !o.modifyTime.IsZero() {
			start = o.modifyTime
		}
		m = &koalav1.VolumeModification{
			State:        koalav1.ModificationStateModifying,
			OriginalSize: st.Size, TargetSize: spec.Size,
			OriginalVolumeType: st.VolumeType, TargetVolumeType: typ,
			OriginalIops: copyInt32(st.Iops), TargetIops: copyInt32(spec.Iops),
			OriginalThroughput: copyInt32(st.Throughput), TargetThroughput: copyInt32(spec.Throughput),
			StartTime: &metav1.Time{Time: start},
		}
		st.Modification = m
	}
	if m == nil || m.State != koalav1.ModificationStateModifying {
		return
	}
	classOf := o.classOf
	if classOf == nil {
		classOf = func(koalav1.VolumeType) string { return "" }
	}
	switch {
	case m.TargetVolumeType != m.OriginalVolumeType && classOf(m.TargetVolumeType) != classOf(m.OriginalVolumeType):
		m.State = koalav1.ModificationStateFailed
		m.Message = fmt.Sprintf("%s volumes are of StorageClass %q and %s volumes of %q: a claim cannot change its class",
			m.OriginalVolumeType, orDefaultClass(classOf(m.OriginalVolumeType)), m.TargetVolumeType, orDefaultClass(classOf(m.TargetVolumeType)))
		m.EndTime = &metav1.Time{Time: o.now}
		// The size part of a failed modification is not applied either.
		return
	case o.resizeError != "":
		m.State = koalav1.ModificationStateFailed
		m.Message = o.resizeError
		m.EndTime = &metav1.Time{Time: o.now}
		return
	case o.capacityGiB >= m.TargetSize || (!o.provisioned() && o.capacityGiB == 0):
		// Grown (or not provisioned yet: it will be made at the new size).
		m.State, m.Progress, m.EndTime = koalav1.ModificationStateCompleted, 100, &metav1.Time{Time: o.now}
		st.Size, st.VolumeType, st.Iops, st.Throughput = m.TargetSize, m.TargetVolumeType, copyInt32(m.TargetIops), copyInt32(m.TargetThroughput)
	default:
		if grow := m.TargetSize - m.OriginalSize; grow > 0 {
			m.Progress = min(99, max(0, (o.capacityGiB-m.OriginalSize)*100/grow))
		}
	}
}

func orDefaultClass(name string) string {
	if name == "" {
		return "(the cluster's default)"
	}
	return name
}

// volumeReadyCondition is True when the volume is available, or attached as asked.
func volumeReadyCondition(st *koalav1.VolumeStatus, o volumeObservation) metav1.Condition {
	c := metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse}
	switch {
	case o.deleting && o.blocked != nil:
		c.Reason, c.Message = o.blocked.Reason, o.blocked.Message
	case o.deleting:
		c.Reason, c.Message = koalav1.VolumeReasonDeleting, "The volume is being deleted"
	case st.State == koalav1.VolumeStateError:
		c.Reason, c.Message = koalav1.VolumeReasonProvisioningFailed, orText(o.failedMessage, "CDI failed to provision the volume")
	case o.blocked != nil:
		c.Reason, c.Message = o.blocked.Reason, o.blocked.Message
	case len(st.Attachments) > 0 && st.Attachments[0].State == koalav1.AttachmentStateAttached:
		c.Status, c.Reason = metav1.ConditionTrue, koalav1.VolumeReasonAttached
		c.Message = fmt.Sprintf("The volume is attached to %s at %s", st.Attachments[0].InstanceID, st.Attachments[0].Device)
	case len(st.Attachments) > 0 && st.Attachments[0].State == koalav1.AttachmentStateAttaching:
		c.Reason, c.Message = koalav1.VolumeReasonAttaching, fmt.Sprintf("The volume is being attached to %s", st.Attachments[0].InstanceID)
	case len(st.Attachments) > 0:
		c.Reason, c.Message = koalav1.VolumeReasonDetaching, fmt.Sprintf("The volume is being detached from %s", st.Attachments[0].InstanceID)
	case st.State == koalav1.VolumeStateCreating:
		c.Reason, c.Message = koalav1.VolumeReasonCreating, "The volume's storage is being provisioned"
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, koalav1.VolumeReasonAvailable, "The volume is available"
	}
	return c
}

// volumeSettled reports whether a status says something a client waits for: the
// volume is available, attached as asked, in error, or held up for a reason. A volume
// the EC2 endpoint created is first reported once it is settled: until then the
// endpoint shows it from its spec, and the operator saves a write per volume (a launch's
// root volume costs one status write). The endpoint creates a launch's volumes before
// its instance, so an instance not found (yet) is no news either.
func volumeSettled(st *koalav1.VolumeStatus) bool {
	c := meta.FindStatusCondition(st.Conditions, koalav1.ReadyCondition)
	if c == nil {
		return false
	}
	switch c.Reason {
	case koalav1.VolumeReasonCreating, koalav1.VolumeReasonAttaching, koalav1.VolumeReasonInstanceNotFound:
		return false
	}
	return true
}

func copyInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
