package volumes

import (
	"context"
	"fmt"
	"regexp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/zones"
)

// attachableDevice are the device names AttachVolume takes: EC2's recommended
// /dev/sdf to /dev/sdp, and the Xen names /dev/xvdb and on.
var attachableDevice = regexp.MustCompile(`^/dev/(sd[f-p]|xvd[b-z][a-z]?)$`)

type attachInput struct{ volumeID, instanceID, device string }

func parseInstanceID(p *protocol.Params, required bool) (string, error) {
	id, ok := p.String("InstanceId")
	if !ok || id == "" {
		if required {
			return "", protocol.MissingParameter("InstanceId")
		}
		return "", nil
	}
	if !ids.Valid(ids.Instance, id) {
		return "", protocol.Errorf(protocol.CodeInvalidInstanceIDMalformed, "Invalid id: \"%s\" (expecting \"i-...\")", id)
	}
	return id, nil
}

func parseAttach(p *protocol.Params) (attachInput, error) {
	var in attachInput
	var err error
	if in.volumeID, err = parseVolumeID(p); err != nil {
		return in, err
	}
	if in.instanceID, err = parseInstanceID(p, true); err != nil {
		return in, err
	}
	if in.device, err = p.Required("Device"); err != nil {
		return in, err
	}
	if !attachableDevice.MatchString(in.device) {
		return in, protocol.Errorf(protocol.CodeInvalidParameterValue,
			"Value (%s) for parameter device is invalid. %s is not a valid EBS device name.", in.device, in.device)
	}
	if err := refuseUnsupported(p, "EbsCardIndex"); err != nil {
		return in, err
	}
	return in, nil
}

// instanceState is the instance's state as EC2 clients see it (as DescribeInstances
// shows it: the spec's ask wins over a status that has not caught up).
func instanceState(inst *koalav1.Instance) koalav1.InstanceStateName {
	st := inst.Status.State
	switch inst.Spec.State {
	case koalav1.DesiredStateTerminated:
		if st != koalav1.InstanceStateTerminated {
			return koalav1.InstanceStateShuttingDown
		}
	case koalav1.DesiredStateStopped:
		if st != koalav1.InstanceStateStopped {
			return koalav1.InstanceStateStopping
		}
	case koalav1.DesiredStateRunning:
		if st == koalav1.InstanceStateStopped || st == koalav1.InstanceStateStopping {
			return koalav1.InstanceStatePending
		}
	}
	if st == "" {
		return koalav1.InstanceStatePending
	}
	return st
}

// instanceZone is the instance's zone: the operator's record, the zone asked for, or
// the one the operator will choose (as DescribeInstances shows it).
func (h *Handlers) instanceZone(ctx context.Context, inst *koalav1.Instance) (string, error) {
	if inst.Status.AvailabilityZone != "" {
		return inst.Status.AvailabilityZone, nil
	}
	if inst.Spec.Placement.AvailabilityZone != "" {
		return inst.Spec.Placement.AvailabilityZone, nil
	}
	labels, err := h.Store.NodeLabels(ctx)
	if err != nil {
		return "", err
	}
	rid := inst.Status.ReservationID
	if rid == "" {
		rid = inst.Annotations[koalav1.ReservationIDAnnotation]
	}
	z, _ := zones.Assign(h.Region, labels, rid)
	return z, nil
}

func rootDeviceOf(inst *koalav1.Instance) string {
	if inst.Status.RootDeviceName != "" {
		return inst.Status.RootDeviceName
	}
	return blockdevice.DefaultRootDevice
}

type attachmentResponse struct {
	protocol.Meta
	attachmentXML
}

func (h *Handlers) attach(ctx context.Context, c *action.Call, in attachInput) (protocol.Body, error) {
	v, err := h.volume(ctx, c, in.volumeID)
	if err != nil {
		return nil, err
	}
	inst, err := h.Store.Instance(ctx, c.Account, in.instanceID)
	if err != nil {
		return nil, err
	}
	if inst == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist", in.instanceID)
	}
	vv := view(v)
	if len(vv.Attachments) > 0 {
		return nil, protocol.Errorf(protocol.CodeVolumeInUse, "%s is already attached to an instance", in.volumeID)
	}
	if vv.State != koalav1.VolumeStateAvailable {
		return nil, protocol.Errorf(protocol.CodeIncorrectState, "%s is not 'available'.", in.volumeID)
	}
	if st := instanceState(inst); st != koalav1.InstanceStateRunning && st != koalav1.InstanceStateStopped {
		return nil, protocol.Errorf(protocol.CodeIncorrectInstanceState,
			"The instance '%s' is not in the 'running' or 'stopped' states (it is %s).", in.instanceID, st)
	}
	zone, err := h.instanceZone(ctx, inst)
	if err != nil {
		return nil, err
	}
	if zone != v.Spec.AvailabilityZone {
		return nil, protocol.Errorf(protocol.CodeInvalidVolumeZoneMismatch,
			"The volume '%s' is not in the same availability zone as instance '%s'", in.volumeID, in.instanceID)
	}
	if err := h.checkDeviceFree(ctx, c, inst, in.device); err != nil {
		return nil, err
	}
	now := h.Now()
	base := v.DeepCopy()
	v.Spec.Attachment = &koalav1.VolumeAttachment{InstanceID: in.instanceID, Device: in.device}
	if v.Annotations == nil {
		v.Annotations = map[string]string{}
	}
	v.Annotations[koalav1.AttachTimeAnnotation] = now.UTC().Format("2006-01-02T15:04:05.000000000Z")
	if err := h.Store.Patch(ctx, v, client.MergeFrom(base)); err != nil {
		switch {
		case apierrors.IsInvalid(err):
			// Attached elsewhere a moment ago: the API server refuses a move.
			return nil, protocol.Errorf(protocol.CodeVolumeInUse, "%s is already attached to an instance", in.volumeID)
		case apierrors.IsNotFound(err):
			return nil, volumeNotFound(in.volumeID)
		}
		return nil, fmt.Errorf("attaching volume %s: %w", in.volumeID, err)
	}
	return &attachmentResponse{attachmentXML: attachmentOf(in.volumeID, attachmentView{
		InstanceID: in.instanceID, Device: in.device, State: koalav1.AttachmentStateAttaching, AttachTime: now,
	})}, nil
}

// checkDeviceFree refuses a device the instance's root or another of its volumes has
// (/dev/sdf and /dev/xvdf are one device).
func (h *Handlers) checkDeviceFree(ctx context.Context, c *action.Call, inst *koalav1.Instance, device string) error {
	taken := protocol.Errorf(protocol.CodeInvalidParameterValue,
		"Invalid value '%s' for unixDevice. Attachment point %s is already in use", device, device)
	if blockdevice.SameDevice(device, rootDeviceOf(inst)) {
		return taken
	}
	vols, err := h.Store.VolumesOfInstance(ctx, c.Account, inst.EC2ID())
	if err != nil {
		return err
	}
	for i := range vols {
		for _, a := range view(&vols[i]).Attachments {
			if a.InstanceID == inst.EC2ID() && blockdevice.SameDevice(a.Device, device) {
				return taken
			}
		}
	}
	return nil
}

type detachInput struct {
	volumeID, instanceID, device string
}

func parseDetach(p *protocol.Params) (detachInput, error) {
	var in detachInput
	var err error
	if in.volumeID, err = parseVolumeID(p); err != nil {
		return in, err
	}
	if in.instanceID, err = parseInstanceID(p, false); err != nil {
		return in, err
	}
	in.device, _ = p.String("Device")
	// KubeVirt unplugs a disk the same way whether asked to force or not.
	if _, _, err := p.Bool("Force"); err != nil {
		return in, err
	}
	return in, nil
}

func (h *Handlers) detach(ctx context.Context, c *action.Call, in detachInput) (protocol.Body, error) {
	v, err := h.volume(ctx, c, in.volumeID)
	if err != nil {
		return nil, err
	}
	a := v.Spec.Attachment
	if a == nil {
		return nil, protocol.Errorf(protocol.CodeIncorrectState, "Volume '%s' is in the '%s' state.", in.volumeID, view(v).State)
	}
	if (in.instanceID != "" && in.instanceID != a.InstanceID) || (in.device != "" && !blockdevice.SameDevice(in.device, a.Device)) {
		target := in.instanceID
		if target == "" {
			target = a.InstanceID
		}
		return nil, protocol.Errorf(protocol.CodeInvalidAttachmentNotFound,
			"The volume '%s' is not attached to instance '%s' at '%s'", in.volumeID, target, orText(in.device, a.Device))
	}
	inst, err := h.Store.Instance(ctx, c.Account, a.InstanceID)
	if err != nil {
		return nil, err
	}
	if inst != nil && v.Spec.ImageID != "" && v.Name == blockdevice.RootVolumeName(inst.Name) {
		return nil, protocol.Errorf(protocol.CodeIncorrectState,
			"Unable to detach root volume '%s' from instance '%s'", in.volumeID, a.InstanceID)
	}
	prev := view(v).Attachments[0]
	base := v.DeepCopy()
	v.Spec.Attachment = nil
	if err := h.Store.Patch(ctx, v, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, volumeNotFound(in.volumeID)
		}
		return nil, fmt.Errorf("detaching volume %s: %w", in.volumeID, err)
	}
	prev.State = koalav1.AttachmentStateDetaching
	return &attachmentResponse{attachmentXML: attachmentOf(in.volumeID, prev)}, nil
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
