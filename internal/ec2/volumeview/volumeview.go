// Package volumeview computes what EC2 clients see of a volume: the operator's status,
// overlaid with what the spec already asks for and the operator has not reported yet.
// A volume just attached shows attaching, one just detached detaching, one never
// reported creating (or in use, when it was created attached), as EC2 shows them at
// once. DescribeVolumes and DescribeInstances both show volumes through it.
package volumeview

import (
	"time"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// Attachment is an attachment as EC2 clients see it.
type Attachment struct {
	InstanceID, Device  string
	State               koalav1.VolumeAttachmentStateName
	AttachTime          time.Time
	DeleteOnTermination bool
}

// View is a volume's state and attachments as EC2 clients see them; the attachment the
// spec asks for comes first.
type View struct {
	State       koalav1.VolumeStateName
	Attachments []Attachment
}

// Of computes what a volume shows. It is pure, and reads v without changing it (v may
// be the cache's own copy).
func Of(v *koalav1.Volume) View {
	var out View
	want := v.Spec.Attachment
	for _, a := range v.Status.Attachments {
		av := Attachment{InstanceID: a.InstanceID, Device: a.Device, State: a.State, DeleteOnTermination: a.DeleteOnTermination}
		if a.AttachTime != nil {
			av.AttachTime = a.AttachTime.Time
		}
		if want != nil && want.InstanceID == a.InstanceID && want.Device == a.Device {
			av.DeleteOnTermination = want.DeleteOnTermination
			out.Attachments = append([]Attachment{av}, out.Attachments...)
			want = nil
			continue
		}
		av.State = koalav1.AttachmentStateDetaching // the spec no longer asks for it
		out.Attachments = append(out.Attachments, av)
	}
	if want != nil {
		// Attached by the endpoint (or kubectl) a moment ago: not yet observed.
		out.Attachments = append([]Attachment{{
			InstanceID: want.InstanceID, Device: want.Device, State: koalav1.AttachmentStateAttaching,
			DeleteOnTermination: want.DeleteOnTermination, AttachTime: attachTime(v),
		}}, out.Attachments...)
	}
	switch {
	case !v.DeletionTimestamp.IsZero():
		out.State = koalav1.VolumeStateDeleting
	case v.Status.State == koalav1.VolumeStateError:
		out.State = koalav1.VolumeStateError
	case len(out.Attachments) > 0:
		out.State = koalav1.VolumeStateInUse
	case v.Status.State == "" || v.Status.State == koalav1.VolumeStateCreating:
		out.State = koalav1.VolumeStateCreating
	default:
		out.State = koalav1.VolumeStateAvailable
	}
	return out
}

// attachTime is when the endpoint attached the volume, or when it was created (a volume
// created attached, at launch).
func attachTime(v *koalav1.Volume) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, v.Annotations[koalav1.AttachTimeAnnotation]); err == nil {
		return t
	}
	return v.CreationTimestamp.Time
}

// On returns the volume's attachment to the instance, if it shows one.
func (vv View) On(instanceID string) (Attachment, bool) {
	for _, a := range vv.Attachments {
		if a.InstanceID == instanceID {
			return a, true
		}
	}
	return Attachment{}, false
}
