package volumeview

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

func TestOf(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	attach := &koalav1.VolumeAttachment{InstanceID: "i-1", Device: "/dev/sdf"}
	observed := func(state koalav1.VolumeAttachmentStateName) []koalav1.VolumeAttachmentStatus {
		return []koalav1.VolumeAttachmentStatus{{InstanceID: "i-1", Device: "/dev/sdf", State: state, AttachTime: &metav1.Time{Time: t0}}}
	}
	cases := map[string]struct {
		spec       *koalav1.VolumeAttachment
		status     koalav1.VolumeStatus
		deleting   bool
		state      koalav1.VolumeStateName
		attachment koalav1.VolumeAttachmentStateName // "" for none
	}{
		"a volume the operator has not reported is creating": {
			state: koalav1.VolumeStateCreating,
		},
		"a volume created attached and not reported is in use and attaching": {
			spec: attach, state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttaching,
		},
		"an available volume just attached is in use and attaching": {
			spec: attach, status: koalav1.VolumeStatus{State: koalav1.VolumeStateAvailable},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttaching,
		},
		"an attached volume shows the operator's attachment": {
			spec: attach, status: koalav1.VolumeStatus{State: koalav1.VolumeStateInUse, Attachments: observed(koalav1.AttachmentStateAttached)},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttached,
		},
		"a volume just detached is in use and detaching": {
			status: koalav1.VolumeStatus{State: koalav1.VolumeStateInUse, Attachments: observed(koalav1.AttachmentStateAttached)},
			state:  koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateDetaching,
		},
		"a detached volume the operator reports available is available": {
			status: koalav1.VolumeStatus{State: koalav1.VolumeStateAvailable}, state: koalav1.VolumeStateAvailable,
		},
		"a deleted volume is deleting": {
			status: koalav1.VolumeStatus{State: koalav1.VolumeStateAvailable}, deleting: true, state: koalav1.VolumeStateDeleting,
		},
		"a volume in error stays in error": {
			status: koalav1.VolumeStatus{State: koalav1.VolumeStateError}, state: koalav1.VolumeStateError,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			v := &koalav1.Volume{Spec: koalav1.VolumeSpec{Attachment: tc.spec}, Status: tc.status}
			v.CreationTimestamp = metav1.Time{Time: t0}
			if tc.deleting {
				v.DeletionTimestamp = &metav1.Time{Time: t0}
			}
			before := v.DeepCopy()
			vv := Of(v)
			g.Expect(v).To(Equal(before), "Of changes nothing")
			g.Expect(vv.State).To(Equal(tc.state))
			if tc.attachment == "" {
				g.Expect(vv.Attachments).To(BeEmpty())
				return
			}
			g.Expect(vv.Attachments).To(HaveLen(1))
			g.Expect(vv.Attachments[0].State).To(Equal(tc.attachment))
			g.Expect(vv.Attachments[0].AttachTime).To(Equal(t0))
			_, ok := vv.On("i-1")
			g.Expect(ok).To(BeTrue())
		})
	}
}

func TestAnAttachmentShowsTheTimeTheEndpointAttachedAt(t *testing.T) {
	g := NewWithT(t)
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	v := &koalav1.Volume{Spec: koalav1.VolumeSpec{Attachment: &koalav1.VolumeAttachment{InstanceID: "i-1", Device: "/dev/sdf"}}}
	v.Annotations = map[string]string{koalav1.AttachTimeAnnotation: at.Format(time.RFC3339Nano)}
	g.Expect(Of(v).Attachments[0].AttachTime).To(Equal(at))
}
