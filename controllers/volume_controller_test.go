package controllers_test

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/testgen"
)

// volumeState waits until the volume is in state (and, when attachment is not empty,
// its first attachment in that state) and returns it.
func volumeState(t *testing.T, g Gomega, v *koalav1.Volume, state koalav1.VolumeStateName, attachment koalav1.VolumeAttachmentStateName) *koalav1.Volume {
	t.Helper()
	g.EventuallyWithOffset(1, func(g Gomega) {
		get(g, v)
		g.Expect(v.Status.State).To(Equal(state))
		if attachment == "" {
			g.Expect(v.Status.Attachments).To(BeEmpty())
		} else {
			g.Expect(v.Status.Attachments).NotTo(BeEmpty())
			g.Expect(v.Status.Attachments[0].State).To(Equal(attachment))
		}
	}, timeout).Should(Succeed())
	return v
}

// vmCloudInit is the cloud-init disk of the instance's VM as the API server has it.
func vmCloudInit(g Gomega, inst *koalav1.Instance) *kubevirtv1.CloudInitNoCloudSource {
	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	for _, v := range vm.Spec.Template.Spec.Volumes {
		if v.CloudInitNoCloud != nil {
			return v.CloudInitNoCloud
		}
	}
	g.Expect(vm.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("CloudInitNoCloud", Not(BeNil()))), "the VM has a cloud-init disk")
	return nil
}

// vmHotplugVolumes lists the claims of the hotpluggable volumes in the VM's template.
func vmHotplugVolumes(g Gomega, inst *koalav1.Instance) []string {
	vm := &kubevirtv1.VirtualMachine{}
	g.ExpectWithOffset(1, k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	var out []string
	for _, v := range vm.Spec.Template.Spec.Volumes {
		if v.DataVolume != nil && v.DataVolume.Hotpluggable {
			out = append(out, v.DataVolume.Name)
		}
	}
	return out
}

// vmiVolumeReady reports whether the instance's VMI reports a Ready volume on the claim.
func vmiVolumeReady(inst *koalav1.Instance, claim string) func() bool {
	return func() bool {
		vmi := &kubevirtv1.VirtualMachineInstance{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vmi); err != nil {
			return false
		}
		for _, st := range vmi.Status.VolumeStatus {
			if st.PersistentVolumeClaimInfo != nil && st.PersistentVolumeClaimInfo.ClaimName == claim {
				return st.Phase == kubevirtv1.VolumeReady
			}
		}
		return false
	}
}

func patchVolume(g Gomega, v *koalav1.Volume, change func(*koalav1.Volume)) {
	p := client.MergeFrom(v.DeepCopy())
	change(v)
	g.ExpectWithOffset(1, k8s.Patch(context.Background(), v, p)).To(Succeed())
}

func rootVolumeOf(inst *koalav1.Instance) *koalav1.Volume {
	return &koalav1.Volume{ObjectMeta: metav1.ObjectMeta{Namespace: inst.Namespace, Name: inst.Name + "-root"}}
}

func TestAnInstanceMadeWithKubectlGetsARootVolumeAttachedAtTheImagesRootDevice(t *testing.T) {
	g := NewWithT(t)
	inst := running(t, g, namespace(t))
	root := volumeState(t, g, rootVolumeOf(inst), koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)

	g.Expect(ids.Valid(ids.Volume, root.Status.VolumeID)).To(BeTrue(), "volume ID %q", root.Status.VolumeID)
	g.Expect(root.Spec.Attachment).To(Equal(&koalav1.VolumeAttachment{InstanceID: inst.Status.InstanceID, Device: "/dev/xvda", DeleteOnTermination: true}))
	g.Expect(root.Spec.Size).To(Equal(int32(8)), "the image's root volume size")
	g.Expect(root.Spec.VolumeType).To(Equal(koalav1.VolumeTypeGP3))
	g.Expect(root.Spec.AvailabilityZone).To(Equal(inst.Status.AvailabilityZone))
	g.Expect(root.Spec.ImageID).To(Equal(inst.Spec.ImageID))
	g.Expect(root.Status.Attachments[0].AttachTime).NotTo(BeNil())
	g.Expect(root.Status.Capacity).To(Equal(int32(8)))
	g.Expect(root.Status.StorageClassName).To(Equal("kubevirt-simulator"), "the cluster's default class")
	g.Expect(meta(root.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionTrue))
	g.Expect(root.Finalizers).To(ContainElement("cloud.koala.dev/volume"))

	// The VM's root disk is the root volume's DataVolume, which KubeVirt creates.
	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	g.Expect(vm.Spec.DataVolumeTemplates[0].Name).To(Equal(root.Name))
	g.Expect(vm.Spec.DataVolumeTemplates[0].Spec.Storage.Resources.Requests.Storage().String()).To(Equal("8Gi"))
	dv := &cdiv1beta1.DataVolume{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(root), dv)).To(Succeed())
	g.Expect(metav1.IsControlledBy(dv, vm)).To(BeTrue())
	g.Expect(dv.Labels).To(HaveKeyWithValue(koalav1.VolumeNameLabel, root.Name))
}

func TestAVolumeAttachedToARunningInstanceIsHotpluggedThenDetachedWithoutARestart(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	inst := running(t, g, ns)
	vmi := &kubevirtv1.VirtualMachineInstance{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vmi)).To(Succeed())
	cloudInit := vmCloudInit(g, inst)
	g.Expect(cloudInit.UserDataBase64).NotTo(BeEmpty())
	data := testgen.Volume("data", ns, inst.Status.AvailabilityZone, 4)
	g.Expect(k8s.Create(context.Background(), data)).To(Succeed())
	volumeState(t, g, data, koalav1.VolumeStateAvailable, "")
	g.Expect(data.Status.Size).To(Equal(int32(4)))

	patchVolume(g, data, func(v *koalav1.Volume) {
		v.Spec.Attachment = &koalav1.VolumeAttachment{InstanceID: inst.Status.InstanceID, Device: "/dev/sdf"}
	})
	volumeState(t, g, data, koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)
	g.Expect(vmiVolumeReady(inst, "data")()).To(BeTrue(), "attached only once the VMI reports the disk ready")
	g.Expect(vmHotplugVolumes(g, inst)).To(Equal([]string{"data"}))
	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	var disk *kubevirtv1.Disk
	for i := range vm.Spec.Template.Spec.Domain.Devices.Disks {
		if d := &vm.Spec.Template.Spec.Domain.Devices.Disks[i]; d.Name == data.Status.VolumeID {
			disk = d
		}
	}
	g.Expect(disk).NotTo(BeNil(), "the disk is named after the volume ID")
	g.Expect(disk.Serial).To(Equal(strings.Replace(data.Status.VolumeID, "-", "", 1)), "the guest finds it by the volume ID")
	// The operator's cache holds the cloud-init disk without its contents; the
	// volume list it patches must still carry them.
	g.Expect(vmCloudInit(g, inst)).To(Equal(cloudInit), "the cloud-init disk is kept as it was")

	patchVolume(g, data, func(v *koalav1.Volume) { v.Spec.Attachment = nil })
	volumeState(t, g, data, koalav1.VolumeStateAvailable, "")
	g.Eventually(vmiVolumeReady(inst, "data"), timeout).Should(BeFalse())
	g.Expect(vmHotplugVolumes(g, inst)).To(BeEmpty())
	g.Expect(vmCloudInit(g, inst)).To(Equal(cloudInit), "the cloud-init disk is kept as it was")
	after := &kubevirtv1.VirtualMachineInstance{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), after)).To(Succeed())
	g.Expect(after.UID).To(Equal(vmi.UID), "hotplug does not restart the guest")
}

func TestAVolumeAttachedToAStoppedInstanceIsAttachedAtOnceAndTheGuestHasItWhenItStarts(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	inst := running(t, g, ns)
	setState(g, inst, koalav1.DesiredStateStopped)
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateStopped))
	}, timeout).Should(Succeed())
	data := testgen.Volume("data", ns, inst.Status.AvailabilityZone, 2,
		testgen.AttachedTo(inst.Status.InstanceID, "/dev/sdg", false))
	g.Expect(k8s.Create(context.Background(), data)).To(Succeed())

	volumeState(t, g, data, koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)
	g.Expect(vmHotplugVolumes(g, inst)).To(Equal([]string{"data"}))
	// Stopped is reported once the guest has ended; its VMI object goes a moment later.
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &kubevirtv1.VirtualMachineInstance{}))
	}, timeout).Should(BeTrue(), "the instance stays stopped")

	setState(g, inst, koalav1.DesiredStateRunning)
	g.Eventually(vmiVolumeReady(inst, "data"), timeout).Should(BeTrue())
	g.Consistently(func(g Gomega) {
		get(g, data)
		g.Expect(data.Status.Attachments[0].State).To(Equal(koalav1.AttachmentStateAttached))
	}, "500ms").Should(Succeed(), "a start does not detach and re-attach")
}

func TestTerminationDeletesTheVolumesThatAskForItAndDetachesTheOthers(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	keep := false
	inst := running(t, g, ns, testgen.WithBlockDeviceMappings(
		koalav1.BlockDeviceMapping{DeviceName: "/dev/xvda", EBS: &koalav1.EBSBlockDevice{VolumeSize: 10, DeleteOnTermination: &keep}},
		koalav1.BlockDeviceMapping{DeviceName: "/dev/sdf", EBS: &koalav1.EBSBlockDevice{VolumeSize: 1}},
	))
	root := volumeState(t, g, rootVolumeOf(inst), koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)
	g.Expect(root.Spec.Size).To(Equal(int32(10)))
	g.Expect(root.Spec.Attachment.DeleteOnTermination).To(BeFalse())
	launched := volumeState(t, g, &koalav1.Volume{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: inst.Name + "-sdf"}},
		koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)
	g.Expect(launched.Spec.Attachment.DeleteOnTermination).To(BeTrue(), "volumes made at launch are deleted with the instance by default")
	kept := testgen.Volume("kept", ns, inst.Status.AvailabilityZone, 1, testgen.AttachedTo(inst.Status.InstanceID, "/dev/sdh", false))
	g.Expect(k8s.Create(context.Background(), kept)).To(Succeed())
	volumeState(t, g, kept, koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)

	setState(g, inst, koalav1.DesiredStateTerminated)
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateTerminated))
	}, timeout).Should(Succeed())

	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(launched), &koalav1.Volume{}))
	}, timeout).Should(BeTrue(), "deleteOnTermination true: deleted")
	volumeState(t, g, kept, koalav1.VolumeStateAvailable, "")
	g.Expect(kept.Spec.Attachment).To(BeNil())
	volumeState(t, g, root, koalav1.VolumeStateAvailable, "")
	// The root volume's data outlives the VM: its DataVolume is now the volume's.
	dv := &cdiv1beta1.DataVolume{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(root), dv)).To(Succeed())
	g.Expect(metav1.IsControlledBy(dv, root)).To(BeTrue())
	g.Expect(dv.Status.Phase).To(Equal(cdiv1beta1.Succeeded))
	g.Consistently(func() error { return k8s.Get(context.Background(), client.ObjectKeyFromObject(root), dv) }, "500ms").Should(Succeed())
}

func TestAVolumeGrowsItsClaimAndTheModificationCompletesButItNeverShrinks(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	v := testgen.Volume("grow", ns, "zone-a", 2)
	g.Expect(k8s.Create(context.Background(), v)).To(Succeed())
	volumeState(t, g, v, koalav1.VolumeStateAvailable, "")

	patchVolume(g, v, func(v *koalav1.Volume) { v.Spec.Size = 5 })
	g.Eventually(func(g Gomega) {
		get(g, v)
		g.Expect(v.Status.Modification).NotTo(BeNil())
		g.Expect(v.Status.Modification.State).To(Equal(koalav1.ModificationStateCompleted))
	}, timeout).Should(Succeed())
	m := v.Status.Modification
	g.Expect(m.OriginalSize).To(Equal(int32(2)))
	g.Expect(m.TargetSize).To(Equal(int32(5)))
	g.Expect(m.Progress).To(Equal(int32(100)))
	g.Expect(m.StartTime).NotTo(BeNil())
	g.Expect(m.EndTime).NotTo(BeNil())
	g.Expect(v.Status.Size).To(Equal(int32(5)))
	g.Expect(v.Status.Capacity).To(Equal(int32(5)))
	pvc := &corev1.PersistentVolumeClaim{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(v), pvc)).To(Succeed())
	g.Expect(pvc.Status.Capacity.Storage().String()).To(Equal("5Gi"))

	shrink := v.DeepCopy()
	shrink.Spec.Size = 3
	err := k8s.Update(context.Background(), shrink)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "error %v", err)
	g.Expect(err.Error()).To(ContainSubstring("a volume's size can only grow"))
}

func TestASnapshotCompletesAndAVolumeRestoredFromItAndACopyOfItBecomeUsable(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	src := testgen.Volume("src", ns, "zone-a", 3)
	g.Expect(k8s.Create(context.Background(), src)).To(Succeed())
	volumeState(t, g, src, koalav1.VolumeStateAvailable, "")
	snap := testgen.Snapshot("snap", ns, src.Status.VolumeID)
	g.Expect(k8s.Create(context.Background(), snap)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, snap)
		g.Expect(snap.Status.State).To(Equal(koalav1.SnapshotStateCompleted))
	}, timeout).Should(Succeed())
	g.Expect(ids.Valid(ids.Snapshot, snap.Status.SnapshotID)).To(BeTrue())
	g.Expect(snap.Status.Progress).To(Equal("100%"))
	g.Expect(snap.Status.VolumeSize).To(Equal(int32(3)))
	g.Expect(snap.Status.StartTime).NotTo(BeNil())
	g.Expect(snap.Status.CompletionTime).NotTo(BeNil())
	g.Expect(meta(snap.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionTrue))

	restored := testgen.Volume("restored", ns, "zone-b", 3, testgen.FromSnapshot(snap.Status.SnapshotID))
	g.Expect(k8s.Create(context.Background(), restored)).To(Succeed())
	volumeState(t, g, restored, koalav1.VolumeStateAvailable, "")
	dv := &cdiv1beta1.DataVolume{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(restored), dv)).To(Succeed())
	g.Expect(dv.Spec.Source.Snapshot).NotTo(BeNil())
	g.Expect(dv.Spec.Source.Snapshot.Name).To(Equal(snap.Status.VolumeSnapshotName))

	cp := &koalav1.Snapshot{ObjectMeta: metav1.ObjectMeta{Name: "copy", Namespace: ns}, Spec: koalav1.SnapshotSpec{SourceSnapshotID: snap.Status.SnapshotID}}
	g.Expect(k8s.Create(context.Background(), cp)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, cp)
		g.Expect(cp.Status.State).To(Equal(koalav1.SnapshotStateCompleted))
		g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "copy-copy"}, &cdiv1beta1.DataVolume{}))).
			To(BeTrue(), "the copy's temporary volume is gone once the copy is taken")
	}, timeout).Should(Succeed())
	g.Expect(cp.Status.VolumeSize).To(Equal(int32(3)))
	g.Expect(cp.Status.SnapshotID).NotTo(Equal(snap.Status.SnapshotID))
}

func TestAnImageOfASnapshotBecomesAvailableLaunchesInstancesAndHoldsItsSnapshot(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	src := testgen.Volume("disk", ns, "zone-a", 9)
	g.Expect(k8s.Create(context.Background(), src)).To(Succeed())
	volumeState(t, g, src, koalav1.VolumeStateAvailable, "")
	snap := testgen.Snapshot("snap", ns, src.Status.VolumeID)
	g.Expect(k8s.Create(context.Background(), snap)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, snap)
		g.Expect(snap.Status.State).To(Equal(koalav1.SnapshotStateCompleted))
	}, timeout).Should(Succeed())

	img := testgen.Image("mine", ns)
	img.Spec.Source = koalav1.ImageSource{Snapshot: &koalav1.SnapshotImageSource{SnapshotID: snap.Status.SnapshotID}}
	img.Spec.RootVolumeSize = 9
	g.Expect(k8s.Create(context.Background(), img)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, img)
		g.Expect(img.Status.State).To(Equal(koalav1.ImageStateAvailable))
	}, timeout).Should(Succeed())

	inst := testgen.Instance("from-snap", ns, img.Status.ImageID)
	g.Expect(k8s.Create(context.Background(), inst)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())
	root := volumeState(t, g, rootVolumeOf(inst), koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)
	g.Expect(root.Spec.Size).To(Equal(int32(9)))

	// The snapshot stays while the image is registered.
	g.Expect(k8s.Delete(context.Background(), snap)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, snap)
		c := readyCond(snap.Status.Conditions)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(koalav1.SnapshotReasonInUse))
		g.Expect(c.Message).To(ContainSubstring(img.Status.ImageID))
	}, timeout).Should(Succeed())
	g.Expect(k8s.Delete(context.Background(), img)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(snap), &koalav1.Snapshot{}))
	}, timeout).Should(BeTrue(), "deregistered, the image lets its snapshot go")
}

func TestAVolumeInAnotherZoneOrAtATakenDeviceIsNotAttachedAndSaysWhy(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	inst := running(t, g, ns, testgen.WithZone("zone-a"))
	first := testgen.Volume("first", ns, "zone-a", 1, testgen.AttachedTo(inst.Status.InstanceID, "/dev/sdf", false))
	g.Expect(k8s.Create(context.Background(), first)).To(Succeed())
	volumeState(t, g, first, koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)

	cases := map[string]struct {
		volume *koalav1.Volume
		reason string
	}{
		"a volume of another zone": {
			testgen.Volume("elsewhere", ns, "zone-b", 1, testgen.AttachedTo(inst.Status.InstanceID, "/dev/sdg", false)), koalav1.VolumeReasonZoneMismatch,
		},
		"a volume at the device of another (as /dev/xvdf)": {
			testgen.Volume("second", ns, "zone-a", 1, testgen.AttachedTo(inst.Status.InstanceID, "/dev/xvdf", false)), koalav1.VolumeReasonDeviceInUse,
		},
		"a volume at the root device": {
			testgen.Volume("rooted", ns, "zone-a", 1, testgen.AttachedTo(inst.Status.InstanceID, "/dev/xvda", false)), koalav1.VolumeReasonDeviceInUse,
		},
		"a volume of an instance that does not exist": {
			testgen.Volume("lost", ns, "zone-a", 1, testgen.AttachedTo("i-0123456789abcdef0", "/dev/sdf", false)), koalav1.VolumeReasonInstanceNotFound,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(k8s.Create(context.Background(), tc.volume)).To(Succeed())
			g.Eventually(func(g Gomega) {
				get(g, tc.volume)
				c := readyCond(tc.volume.Status.Conditions)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Reason).To(Equal(tc.reason))
				g.Expect(tc.volume.Status.Attachments).To(ConsistOf(HaveField("State", koalav1.AttachmentStateAttaching)))
			}, timeout).Should(Succeed())
		})
	}
	g.Expect(vmHotplugVolumes(g, inst)).To(Equal([]string{"first"}))
}

func TestDeletingAnAttachedVolumeDetachesItFirstButARootVolumeWaitsForItsInstance(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	inst := running(t, g, ns)
	data := testgen.Volume("data", ns, inst.Status.AvailabilityZone, 1, testgen.AttachedTo(inst.Status.InstanceID, "/dev/sdf", false))
	g.Expect(k8s.Create(context.Background(), data)).To(Succeed())
	volumeState(t, g, data, koalav1.VolumeStateInUse, koalav1.AttachmentStateAttached)

	g.Expect(k8s.Delete(context.Background(), data)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(data), &koalav1.Volume{}))
	}, timeout).Should(BeTrue())
	g.Expect(vmHotplugVolumes(g, inst)).To(BeEmpty())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(data), &cdiv1beta1.DataVolume{}))
	}, timeout).Should(BeTrue(), "its DataVolume goes with it")

	root := rootVolumeOf(inst)
	g.Expect(k8s.Delete(context.Background(), root)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, root)
		c := readyCond(root.Status.Conditions)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(koalav1.VolumeReasonInUse))
	}, timeout).Should(Succeed())
	get(g, inst)
	g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning), "the instance keeps its root disk")
	setState(g, inst, koalav1.DesiredStateTerminated)
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(root), &koalav1.Volume{}))
	}, timeout).Should(BeTrue())
}

func TestTheAPIServerRefusesVolumesEC2Refuses(t *testing.T) {
	ns := namespace(t)
	iops := int32(3000)
	for name, tc := range map[string]struct {
		volume *koalav1.Volume
		want   string
	}{
		"a size of zero":                  {testgen.Volume("zero", ns, "zone-a", 0), "spec.size"},
		"a gp3 volume of 20000 GiB":       {testgen.Volume("huge", ns, "zone-a", 20000), "volumes other than io2 are at most 16384 GiB"},
		"an st1 volume of 10 GiB":         {testgen.Volume("small", ns, "zone-a", 10, func(v *koalav1.Volume) { v.Spec.VolumeType = koalav1.VolumeTypeST1 }), "st1 and sc1 volumes are at least 125 GiB"},
		"an io1 volume without iops":      {testgen.Volume("io", ns, "zone-a", 10, func(v *koalav1.Volume) { v.Spec.VolumeType = koalav1.VolumeTypeIO1 }), "io1 and io2 volumes need iops"},
		"iops on a gp2 volume":            {testgen.Volume("gp2", ns, "zone-a", 10, func(v *koalav1.Volume) { v.Spec.VolumeType = koalav1.VolumeTypeGP2; v.Spec.Iops = &iops }), "iops can be set only for io1, io2 and gp3 volumes"},
		"a device EC2 does not name":      {testgen.Volume("dev", ns, "zone-a", 1, testgen.AttachedTo("i-0123456789abcdef0", "/dev/vdb", false)), "spec.attachment.device"},
		"a snapshot and an image at once": {testgen.Volume("both", ns, "zone-a", 1, testgen.FromSnapshot("snap-0123456789abcdef0"), func(v *koalav1.Volume) { v.Spec.ImageID = "ami-0123456789abcdef0" }), "not both"},
	} {
		t.Run(name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.volume)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
	t.Run("moving an attached volume without detaching it", func(t *testing.T) {
		g := NewWithT(t)
		v := testgen.Volume("moved", ns, "zone-a", 1, testgen.AttachedTo("i-0123456789abcdef0", "/dev/sdf", false))
		g.Expect(k8s.Create(context.Background(), v)).To(Succeed())
		p := client.MergeFrom(v.DeepCopy())
		v.Spec.Attachment.InstanceID = "i-0123456789abcdef1"
		g.Expect(k8s.Patch(context.Background(), v, p)).To(MatchError(ContainSubstring("must be detached")))
	})
}

func readyCond(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == koalav1.ReadyCondition {
			return &conds[i]
		}
	}
	return nil
}

// io1SnapshotClass is the VolumeSnapshotClass the suite's operator gives snapshots of
// io1 volumes (the other types keep the driver's default class).
const io1SnapshotClass = "io1-snapshots"

func TestASnapshotOfAVolumeTypeWithASnapshotClassOfItsOwnIsTakenInThatClass(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	class := &snapshotv1.VolumeSnapshotClass{
		ObjectMeta:     metav1.ObjectMeta{Name: io1SnapshotClass},
		Driver:         "csi.kubevirt-simulator.koala.dev",
		DeletionPolicy: snapshotv1.VolumeSnapshotContentDelete,
	}
	if err := k8s.Create(context.Background(), class); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	iops := int32(200)
	vol := testgen.Volume("fast", ns, "zone-a", 4, func(v *koalav1.Volume) { v.Spec.VolumeType = koalav1.VolumeTypeIO1; v.Spec.Iops = &iops })
	g.Expect(k8s.Create(context.Background(), vol)).To(Succeed())
	volumeState(t, g, vol, koalav1.VolumeStateAvailable, "")
	snap := testgen.Snapshot("fast", ns, vol.Status.VolumeID)
	g.Expect(k8s.Create(context.Background(), snap)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, snap)
		g.Expect(snap.Status.State).To(Equal(koalav1.SnapshotStateCompleted))
	}, timeout).Should(Succeed())
	vs := &snapshotv1.VolumeSnapshot{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: snap.Status.VolumeSnapshotName}, vs)).To(Succeed())
	g.Expect(vs.Spec.VolumeSnapshotClassName).To(HaveValue(Equal(io1SnapshotClass)))
}
