package controllers

import (
	"flag"
	"io"
	"testing"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

var (
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

func attached(instance, device string) koalav1.VolumeAttachmentStatus {
	return koalav1.VolumeAttachmentStatus{InstanceID: instance, Device: device, State: koalav1.AttachmentStateAttached, AttachTime: &metav1.Time{Time: t0}}
}

func TestSetVolumeStatus(t *testing.T) {
	spec := koalav1.VolumeSpec{Size: 4, VolumeType: koalav1.VolumeTypeGP3, AvailabilityZone: "z"}
	desired := func(mod func(*attachmentObservation)) *attachmentObservation {
		a := &attachmentObservation{instanceID: "i-1", device: "/dev/sdf"}
		mod(a)
		return a
	}
	cases := map[string]struct {
		prev       koalav1.VolumeStatus
		obs        volumeObservation
		state      koalav1.VolumeStateName
		attachment koalav1.VolumeAttachmentStateName // "" for none
		reason     string
	}{
		"a volume whose DataVolume is still importing is creating": {
			obs: volumeObservation{spec: spec, provisioning: "ImportInProgress"}, state: koalav1.VolumeStateCreating, reason: koalav1.VolumeReasonCreating,
		},
		"a volume whose DataVolume succeeded is available": {
			obs: volumeObservation{spec: spec, provisioning: "Succeeded"}, state: koalav1.VolumeStateAvailable, reason: koalav1.VolumeReasonAvailable,
		},
		"a volume whose DataVolume failed is in error": {
			obs: volumeObservation{spec: spec, provisioning: "Failed", failedMessage: "no space"}, state: koalav1.VolumeStateError, reason: koalav1.VolumeReasonProvisioningFailed,
		},
		"a volume asked to attach to a running instance is attaching until the VMI reports it ready": {
			obs:   volumeObservation{spec: spec, provisioning: "Succeeded", desired: desired(func(a *attachmentObservation) { a.inVM, a.inVMI = true, true })},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttaching, reason: koalav1.VolumeReasonAttaching,
		},
		"a volume the VMI reports ready is attached": {
			obs:   volumeObservation{spec: spec, provisioning: "Succeeded", desired: desired(func(a *attachmentObservation) { a.inVM, a.inVMI, a.ready = true, true, true })},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttached, reason: koalav1.VolumeReasonAttached,
		},
		"a volume in the template of a stopped instance is attached": {
			obs:   volumeObservation{spec: spec, provisioning: "Succeeded", desired: desired(func(a *attachmentObservation) { a.inVM, a.stopped = true, true })},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttached, reason: koalav1.VolumeReasonAttached,
		},
		"an attached volume stays attached while its instance restarts": {
			prev:  koalav1.VolumeStatus{Attachments: []koalav1.VolumeAttachmentStatus{attached("i-1", "/dev/sdf")}},
			obs:   volumeObservation{spec: spec, provisioning: "Succeeded", desired: desired(func(a *attachmentObservation) { a.inVM = true })},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttached, reason: koalav1.VolumeReasonAttached,
		},
		"a root volume being cloned at launch is in use and attaching": {
			obs:   volumeObservation{spec: spec, provisioning: "CloneInProgress", desired: desired(func(a *attachmentObservation) { a.inVM = true })},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttaching, reason: koalav1.VolumeReasonAttaching,
		},
		"a volume in another zone stays attaching and says why": {
			obs: volumeObservation{spec: spec, provisioning: "Succeeded", desired: desired(func(*attachmentObservation) {}),
				blocked: &metav1.Condition{Reason: koalav1.VolumeReasonZoneMismatch, Message: "zones"}},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateAttaching, reason: koalav1.VolumeReasonZoneMismatch,
		},
		"a detached volume the guest still has is detaching": {
			prev:  koalav1.VolumeStatus{Attachments: []koalav1.VolumeAttachmentStatus{attached("i-1", "/dev/sdf")}},
			obs:   volumeObservation{spec: spec, provisioning: "Succeeded", leaving: []attachmentObservation{{instanceID: "i-1", device: "/dev/sdf", inVMI: true}}},
			state: koalav1.VolumeStateInUse, attachment: koalav1.AttachmentStateDetaching, reason: koalav1.VolumeReasonDetaching,
		},
		"a detached volume neither the VM nor the VMI has is available": {
			prev:  koalav1.VolumeStatus{Attachments: []koalav1.VolumeAttachmentStatus{attached("i-1", "/dev/sdf")}},
			obs:   volumeObservation{spec: spec, provisioning: "Succeeded", leaving: []attachmentObservation{{instanceID: "i-1", device: "/dev/sdf"}}},
			state: koalav1.VolumeStateAvailable, reason: koalav1.VolumeReasonAvailable,
		},
		"a deleted volume is deleting": {
			obs: volumeObservation{spec: spec, provisioning: "Succeeded", deleting: true}, state: koalav1.VolumeStateDeleting, reason: koalav1.VolumeReasonDeleting,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			st := tc.prev.DeepCopy()
			tc.obs.now = t1
			setVolumeStatus(st, tc.obs)
			g.Expect(st.State).To(Equal(tc.state))
			if tc.attachment == "" {
				g.Expect(st.Attachments).To(BeEmpty())
			} else {
				g.Expect(st.Attachments).To(HaveLen(1))
				g.Expect(st.Attachments[0].State).To(Equal(tc.attachment))
				g.Expect(st.Attachments[0].AttachTime).NotTo(BeNil())
			}
			c := meta.FindStatusCondition(st.Conditions, koalav1.ReadyCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(tc.reason))
			g.Expect(c.Status == metav1.ConditionTrue).To(Equal(tc.reason == koalav1.VolumeReasonAvailable || tc.reason == koalav1.VolumeReasonAttached))
		})
	}
}

func TestAnAttachmentKeepsTheTimeItBeganAtOrTheEndpointsTime(t *testing.T) {
	g := NewWithT(t)
	spec := koalav1.VolumeSpec{Size: 1}
	st := &koalav1.VolumeStatus{}
	setVolumeStatus(st, volumeObservation{spec: spec, provisioning: "Succeeded", attachTime: t0, now: t1,
		desired: &attachmentObservation{instanceID: "i-1", device: "/dev/sdf"}})
	g.Expect(st.Attachments[0].AttachTime.Time).To(Equal(t0), "the time AttachVolume answered with")
	setVolumeStatus(st, volumeObservation{spec: spec, provisioning: "Succeeded", now: t1.Add(time.Hour),
		desired: &attachmentObservation{instanceID: "i-1", device: "/dev/sdf", ready: true}})
	g.Expect(st.Attachments[0].AttachTime.Time).To(Equal(t0))
}

func TestVolumeModification(t *testing.T) {
	gp3, st1 := koalav1.VolumeTypeGP3, koalav1.VolumeTypeST1
	classes := StorageConfig{Classes: map[koalav1.VolumeType]string{st1: "hdd"}}
	applied := koalav1.VolumeStatus{Size: 4, VolumeType: gp3}
	cases := map[string]struct {
		prev     koalav1.VolumeStatus
		spec     koalav1.VolumeSpec
		capacity int32
		resize   string
		state    koalav1.VolumeModificationStateName // "" for none
		size     int32                               // the size the volume has after
		progress int32
	}{
		"a new volume has what it was created with and no modification": {
			spec: koalav1.VolumeSpec{Size: 4, VolumeType: gp3}, capacity: 4, size: 4,
		},
		"a bigger size starts a modification that waits for the claim": {
			prev: applied, spec: koalav1.VolumeSpec{Size: 8, VolumeType: gp3}, capacity: 6,
			state: koalav1.ModificationStateModifying, size: 4, progress: 50,
		},
		"the modification completes once the claim has grown": {
			prev: applied, spec: koalav1.VolumeSpec{Size: 8, VolumeType: gp3}, capacity: 8,
			state: koalav1.ModificationStateCompleted, size: 8, progress: 100,
		},
		"a type of another StorageClass fails": {
			prev: applied, spec: koalav1.VolumeSpec{Size: 125, VolumeType: st1}, capacity: 4,
			state: koalav1.ModificationStateFailed, size: 4,
		},
		"a claim the API server will not grow fails the modification": {
			prev: applied, spec: koalav1.VolumeSpec{Size: 8, VolumeType: gp3}, capacity: 4, resize: "the class does not allow expansion",
			state: koalav1.ModificationStateFailed, size: 4,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			st := tc.prev.DeepCopy()
			setVolumeStatus(st, volumeObservation{spec: tc.spec, provisioning: "Succeeded", capacityGiB: tc.capacity,
				resizeError: tc.resize, classOf: classes.ClassName, modifyTime: t0, now: t1})
			g.Expect(st.Size).To(Equal(tc.size))
			if tc.state == "" {
				g.Expect(st.Modification).To(BeNil())
				return
			}
			m := st.Modification
			g.Expect(m).NotTo(BeNil())
			g.Expect(m.State).To(Equal(tc.state))
			g.Expect(m.Progress).To(Equal(tc.progress))
			g.Expect(m.OriginalSize).To(Equal(int32(4)))
			g.Expect(m.TargetSize).To(Equal(tc.spec.Size))
			g.Expect(m.StartTime.Time).To(Equal(t0), "the time ModifyVolume answered")
			if tc.state == koalav1.ModificationStateFailed {
				g.Expect(m.Message).NotTo(BeEmpty())
			}
		})
	}
}

func TestAVolumeTheEndpointMadeIsFirstReportedOnceSettled(t *testing.T) {
	for name, tc := range map[string]struct {
		reason  string
		settled bool
	}{
		"creating":                      {koalav1.VolumeReasonCreating, false},
		"attaching":                     {koalav1.VolumeReasonAttaching, false},
		"attached":                      {koalav1.VolumeReasonAttached, true},
		"available":                     {koalav1.VolumeReasonAvailable, true},
		"held up by a snapshot missing": {koalav1.VolumeReasonSnapshotNotFound, true},
		"attached to an instance not seen yet (the endpoint makes the volume first)": {koalav1.VolumeReasonInstanceNotFound, false},
		"in another zone than its instance":                                          {koalav1.VolumeReasonZoneMismatch, true},
	} {
		t.Run(name, func(t *testing.T) {
			st := &koalav1.VolumeStatus{Conditions: []metav1.Condition{{Type: koalav1.ReadyCondition, Reason: tc.reason}}}
			NewWithT(t).Expect(volumeSettled(st)).To(Equal(tc.settled))
		})
	}
}

func TestSetSnapshotStatus(t *testing.T) {
	ready := func(b bool) *snapshotv1.VolumeSnapshot {
		return &snapshotv1.VolumeSnapshot{Status: &snapshotv1.VolumeSnapshotStatus{ReadyToUse: &b, CreationTime: &metav1.Time{Time: t0}}}
	}
	failed := &snapshotv1.VolumeSnapshot{Status: &snapshotv1.VolumeSnapshotStatus{Error: &snapshotv1.VolumeSnapshotError{Message: ptrTo("disk on fire")}}}
	for name, tc := range map[string]struct {
		prev     koalav1.SnapshotStatus
		obs      snapshotObservation
		state    koalav1.SnapshotStateName
		progress string
		reason   string
	}{
		"no VolumeSnapshot yet is pending at 0%":      {obs: snapshotObservation{}, state: koalav1.SnapshotStatePending, progress: "0%", reason: koalav1.SnapshotReasonPending},
		"a cut VolumeSnapshot is pending at 50%":      {obs: snapshotObservation{volumeSnapshot: ready(false)}, state: koalav1.SnapshotStatePending, progress: "50%", reason: koalav1.SnapshotReasonPending},
		"a ready VolumeSnapshot is completed at 100%": {obs: snapshotObservation{volumeSnapshot: ready(true)}, state: koalav1.SnapshotStateCompleted, progress: "100%", reason: koalav1.SnapshotReasonCompleted},
		"a copy restoring its source shows half its progress": {
			obs: snapshotObservation{copyProgress: "40.00%"}, state: koalav1.SnapshotStatePending, progress: "20%", reason: koalav1.SnapshotReasonPending,
		},
		"a VolumeSnapshot in error is in error": {obs: snapshotObservation{volumeSnapshot: failed}, state: koalav1.SnapshotStateError, reason: koalav1.SnapshotReasonFailed},
		"a completed snapshot stays completed": {
			prev: koalav1.SnapshotStatus{State: koalav1.SnapshotStateCompleted, Progress: "100%"}, obs: snapshotObservation{volumeSnapshot: failed},
			state: koalav1.SnapshotStateCompleted, progress: "100%", reason: koalav1.SnapshotReasonCompleted,
		},
		"a snapshot of a volume that does not exist is pending and says why": {
			obs:   snapshotObservation{blocked: &metav1.Condition{Reason: koalav1.SnapshotReasonVolumeNotFound, Message: "gone"}},
			state: koalav1.SnapshotStatePending, progress: "0%", reason: koalav1.SnapshotReasonVolumeNotFound,
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			st := tc.prev.DeepCopy()
			tc.obs.now = t1
			setSnapshotStatus(st, tc.obs)
			g.Expect(st.State).To(Equal(tc.state))
			if tc.progress != "" {
				g.Expect(st.Progress).To(Equal(tc.progress))
			}
			g.Expect(meta.FindStatusCondition(st.Conditions, koalav1.ReadyCondition).Reason).To(Equal(tc.reason))
		})
	}
}

func TestVolumeStorageClassesAreReadFromTheirFlag(t *testing.T) {
	g := NewWithT(t)
	var c StorageConfig
	fs := flag.NewFlagSet("operator", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.BindFlags(fs)
	g.Expect(fs.Parse([]string{"-volume-storage-classes", "gp3=fast, st1=hdd", "-default-storage-class", "standard",
		"-volume-snapshot-classes", "io2=nvme-snaps", "-snapshot-class", "snaps"})).To(Succeed())
	g.Expect(c.ClassName(koalav1.VolumeTypeGP3)).To(Equal("fast"))
	g.Expect(c.ClassName(koalav1.VolumeTypeST1)).To(Equal("hdd"))
	g.Expect(c.ClassName(koalav1.VolumeTypeIO2)).To(Equal("standard"), "a type not named takes the default")
	g.Expect(c.SnapshotClassName(koalav1.VolumeTypeIO2)).To(Equal("nvme-snaps"))
	g.Expect(c.SnapshotClassName(koalav1.VolumeTypeGP3)).To(Equal("snaps"), "a type not named takes the default")
	g.Expect(fs.Parse([]string{"-volume-snapshot-classes", "io2"})).To(MatchError(ContainSubstring("<volume type>=<VolumeSnapshotClass>")))
	g.Expect(fs.Parse([]string{"-volume-storage-classes", "gp9=fast"})).To(MatchError(ContainSubstring("not an EBS volume type")))
	g.Expect(fs.Parse([]string{"-volume-storage-classes", "gp3"})).To(MatchError(ContainSubstring("<volume type>=<StorageClass>")))
}

func TestPlaceVolumes(t *testing.T) {
	g := NewWithT(t)
	inst := &koalav1.Instance{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Status: koalav1.InstanceStatus{AvailabilityZone: "z-a", RootDeviceName: "/dev/xvda"}}
	vol := func(name, zone, device string, age int, mods ...func(*koalav1.Volume)) koalav1.Volume {
		v := koalav1.Volume{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{koalav1.IDAnnotation: "vol-" + name},
			CreationTimestamp: metav1.Time{Time: t0.Add(time.Duration(age) * time.Second)}},
			Spec: koalav1.VolumeSpec{AvailabilityZone: zone, Attachment: &koalav1.VolumeAttachment{InstanceID: "i-1", Device: device}}}
		for _, m := range mods {
			m(&v)
		}
		return v
	}
	image := func(v *koalav1.Volume) { v.Spec.ImageID = "ami-1" }
	deleting := func(v *koalav1.Volume) { v.DeletionTimestamp = &metav1.Time{Time: t1} }
	unconfirmed := func(v *koalav1.Volume) { v.Annotations = nil }
	elsewhere := func(v *koalav1.Volume) { v.Spec.Attachment.InstanceID = "i-2" }
	placed := placeVolumes(inst, "i-1", []koalav1.Volume{
		vol("web-root", "z-a", "/dev/xvda", 0, image),
		vol("b", "z-a", "/dev/sdg", 1),
		vol("a", "z-a", "/dev/sdf", 2),
		vol("late", "z-a", "/dev/xvdf", 3),
		vol("far", "z-b", "/dev/sdh", 4),
		vol("onroot", "z-a", "/dev/sda", 5),
		vol("gone", "z-a", "/dev/sdi", 6, deleting),
		vol("new", "z-a", "/dev/sdj", 7, unconfirmed),
		vol("other", "z-a", "/dev/sdk", 8, elsewhere),
	})
	g.Expect(placed.root).NotTo(BeNil())
	g.Expect(placed.root.Name).To(Equal("web-root"))
	var hot []string
	for _, v := range placed.hotplug {
		hot = append(hot, v.Name)
	}
	g.Expect(hot).To(Equal([]string{"a", "b"}), "by device; the later of two at /dev/sdf and /dev/xvdf is refused")
	g.Expect(placed.refused).To(HaveKeyWithValue("late", HaveField("Reason", koalav1.VolumeReasonDeviceInUse)))
	g.Expect(placed.refused).To(HaveKeyWithValue("far", HaveField("Reason", koalav1.VolumeReasonZoneMismatch)))
	g.Expect(placed.refused).To(HaveKeyWithValue("onroot", HaveField("Reason", koalav1.VolumeReasonDeviceInUse)), "/dev/sda is /dev/xvda")
	g.Expect(placed.refused).NotTo(HaveKey("gone"), "a deleted volume is detached, not refused")
	g.Expect(placed.refused).NotTo(HaveKey("new"), "a volume whose ID is not confirmed waits")
	g.Expect(placed.refused).NotTo(HaveKey("other"))
}
