package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

func passes[T client.Object](p predicate.Funcs, old T, change func(T)) bool {
	cur := old.DeepCopyObject().(T)
	change(cur)
	return p.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: cur})
}

// Each launch brings several status updates of the VMI, the DataVolume, the subnet and
// the instance; the watches pass only those that change what the reconcilers read.
func TestTheWatchesPassOnlyTheChangesTheReconcilersRead(t *testing.T) {
	g := NewWithT(t)

	vmi := &kubevirtv1.VirtualMachineInstance{Status: kubevirtv1.VirtualMachineInstanceStatus{Phase: kubevirtv1.Scheduling}}
	scheduled := func(v *kubevirtv1.VirtualMachineInstance) { v.Status.Phase = kubevirtv1.Scheduled }
	runs := func(v *kubevirtv1.VirtualMachineInstance) { v.Status.Phase = kubevirtv1.Running }
	g.Expect(passes(vmiChanged, vmi, scheduled)).To(BeFalse(), "a start's steps before the guest runs")
	g.Expect(passes(vmiDisksChanged, vmi, scheduled)).To(BeFalse())
	g.Expect(passes(vmiChanged, vmi, runs)).To(BeTrue(), "the guest runs")
	g.Expect(passes(vmiDisksChanged, vmi, runs)).To(BeTrue())
	running := vmi.DeepCopy()
	runs(running)
	g.Expect(passes(vmiChanged, running, func(v *kubevirtv1.VirtualMachineInstance) { v.Status.Phase = kubevirtv1.Succeeded })).To(BeTrue(), "the guest stopped")
	g.Expect(passes(vmiChanged, running, func(v *kubevirtv1.VirtualMachineInstance) {
		v.Status.Interfaces = []kubevirtv1.VirtualMachineInstanceNetworkInterface{{IP: "10.0.0.5"}}
	})).To(BeTrue(), "its address")
	g.Expect(passes(vmiDisksChanged, running, func(v *kubevirtv1.VirtualMachineInstance) {
		v.Status.VolumeStatus = []kubevirtv1.VolumeStatus{{Name: "vol-1", Phase: kubevirtv1.VolumeReady}}
	})).To(BeTrue(), "a hotplugged disk is ready")
	g.Expect(passes(vmiDisksChanged, running, func(v *kubevirtv1.VirtualMachineInstance) {
		v.Status.VolumeStatus = []kubevirtv1.VolumeStatus{{Name: "vol-1", Phase: kubevirtv1.VolumePending}}
	})).To(BeFalse(), "a disk on its way")

	dv := &cdiv1beta1.DataVolume{Status: cdiv1beta1.DataVolumeStatus{Phase: cdiv1beta1.CloneScheduled}}
	g.Expect(passes(dataVolumeChanged, dv, func(d *cdiv1beta1.DataVolume) {
		d.Status.Phase, d.Status.Progress = cdiv1beta1.CloneInProgress, "40.0%"
	})).To(BeFalse(), "provisioning's steps and progress")
	g.Expect(passes(dataVolumeChanged, dv, func(d *cdiv1beta1.DataVolume) { d.Status.Phase = cdiv1beta1.Succeeded })).To(BeTrue())
	g.Expect(passes(dataVolumeChanged, dv, func(d *cdiv1beta1.DataVolume) { d.Status.Phase = cdiv1beta1.Failed })).To(BeTrue())
	g.Expect(passes(dataVolumeChanged, dv, func(d *cdiv1beta1.DataVolume) {
		d.OwnerReferences = []metav1.OwnerReference{{Name: "vol", UID: "u"}}
	})).To(BeTrue(), "handed over to its volume")

	pvc := &corev1.PersistentVolumeClaim{Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
	g.Expect(passes(claimChanged, pvc, func(c *corev1.PersistentVolumeClaim) {
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}
	})).To(BeTrue(), "grown")
	g.Expect(passes(claimChanged, pvc, func(c *corev1.PersistentVolumeClaim) {
		c.Status.Conditions = []corev1.PersistentVolumeClaimCondition{{Type: corev1.PersistentVolumeClaimResizing}}
	})).To(BeFalse())

	sub := &koalav1.Subnet{Status: koalav1.SubnetStatus{State: koalav1.NetworkStatePending, AvailableIPAddressCount: 250}}
	g.Expect(passes(subnetChanged, sub, func(s *koalav1.Subnet) { s.Status.AvailableIPAddressCount = 230 })).To(BeFalse(), "its count of free addresses")
	g.Expect(passes(subnetChanged, sub, func(s *koalav1.Subnet) { s.Status.State = koalav1.NetworkStateAvailable })).To(BeTrue())

	inst := &koalav1.Instance{Status: koalav1.InstanceStatus{InstanceID: "i-0123456789abcdef0", AvailabilityZone: "zone-a"}}
	g.Expect(passes(instancePlacementChanged, inst, func(i *koalav1.Instance) {
		i.Status.State, i.Status.PrivateIPAddress = koalav1.InstanceStateRunning, "10.0.0.5"
	})).To(BeFalse(), "the instance's state and address")
	g.Expect(passes(instancePlacementChanged, inst, func(i *koalav1.Instance) { i.Status.RootDeviceName = "/dev/sda1" })).To(BeTrue())
	g.Expect(passes(instancePlacementChanged, inst, func(i *koalav1.Instance) { i.DeletionTimestamp = &metav1.Time{} })).To(BeTrue())
}

func TestOnlyInstancesHeldBackAreRequeuedWhenWhatTheyWaitForChanges(t *testing.T) {
	g := NewWithT(t)
	g.Expect(heldBack(&koalav1.Instance{})).To(BeFalse(), "an endpoint's launch on its way")
	g.Expect(heldBack(&koalav1.Instance{Status: koalav1.InstanceStatus{State: koalav1.InstanceStatePending}})).To(BeFalse())
	g.Expect(heldBack(&koalav1.Instance{Status: koalav1.InstanceStatus{State: koalav1.InstanceStatePending,
		StateReason: &koalav1.StateReason{Code: "Client.SubnetNotFound"}}})).To(BeTrue())
	g.Expect(heldBack(&koalav1.Instance{Status: koalav1.InstanceStatus{State: koalav1.InstanceStateStopped,
		StateReason: &koalav1.StateReason{Code: "Client.UserInitiatedShutdown"}}})).To(BeFalse())
}

func TestAVMCreatedLatelyIsAwaitedRatherThanCreatedAgain(t *testing.T) {
	g := NewWithT(t)
	var c createdObjects
	key := client.ObjectKey{Namespace: "acct", Name: "i-0123456789abcdef0"}
	g.Expect(c.awaiting(key)).To(BeZero(), "none created")
	c.created(key)
	g.Expect(c.awaiting(key)).To(BeNumerically(">", 0), "created, the cache has not shown it yet")
	c.seen(key)
	g.Expect(c.awaiting(key)).To(BeZero(), "the cache shows it")
}

func TestTheRecordsOfWritesAndCreationsLetGoOfTheirRoomOnceEmpty(t *testing.T) {
	g := NewWithT(t)
	var w writtenStatuses
	var c createdObjects
	keys := make([]client.ObjectKey, 1000)
	for i := range keys {
		keys[i] = client.ObjectKey{Namespace: "acct", Name: fmt.Sprintf("i-%017x", i)}
		w.wrote(keys[i], "10")
		c.created(keys[i])
	}
	for _, k := range keys[:999] {
		g.Expect(w.behind(k, "10")).To(BeFalse(), "the cache caught up")
		c.seen(k)
	}
	g.Expect(w.m).To(HaveLen(1))
	g.Expect(c.m).To(HaveLen(1))
	w.forget(keys[999])
	c.seen(keys[999])
	// A map keeps the room of its most entries: an empty one is dropped.
	g.Expect(w.m).To(BeNil())
	g.Expect(c.m).To(BeNil())
	w.wrote(keys[0], "11")
	g.Expect(w.behind(keys[0], "10")).To(BeTrue(), "recorded again after it was dropped")
}
