package kubevirtsim

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	virtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func volumeStatusOf(ns, vmiName, volume string) func() *virtv1.VolumeStatus {
	return func() *virtv1.VolumeStatus {
		vmi := vmiOf(ns, vmiName)
		if vmi == nil {
			return nil
		}
		for i := range vmi.Status.VolumeStatus {
			if vmi.Status.VolumeStatus[i].Name == volume {
				return &vmi.Status.VolumeStatus[i]
			}
		}
		return nil
	}
}

func TestAHotpluggableVolumeAddedToARunningVMIsAttachedAndDetachedWithoutARestart(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "hot"))
	g.Eventually(vmPrintableStatus(ns, "hot")).Should(Equal(virtv1.VirtualMachineStatusRunning))
	uid := vmiOf(ns, "hot").UID
	create(t, testDataVolume(ns, "extra"))

	vm := vmOf(ns, "hot")
	p := client.MergeFrom(vm.DeepCopy())
	vm.Spec.Template.Spec.Volumes = append(vm.Spec.Template.Spec.Volumes, virtv1.Volume{
		Name: "extra", VolumeSource: virtv1.VolumeSource{DataVolume: &virtv1.DataVolumeSource{Name: "extra", Hotpluggable: true}},
	})
	g.Expect(k8s.Patch(context.Background(), vm, p)).To(Succeed())

	g.Eventually(volumeStatusOf(ns, "hot", "extra")).Should(And(Not(BeNil()),
		HaveField("Phase", virtv1.VolumeReady),
		HaveField("Target", "sda"),
		HaveField("HotplugVolume", Not(BeNil())),
		HaveField("PersistentVolumeClaimInfo.ClaimName", "extra")))
	g.Expect(vmiOf(ns, "hot").UID).To(Equal(uid))
	g.Eventually(func() int64 { return vmOf(ns, "hot").Status.ObservedGeneration }).Should(Equal(vmOf(ns, "hot").Generation))
	g.Expect(vmCondition(vmOf(ns, "hot"), virtv1.VirtualMachineRestartRequired)).To(BeNil())

	vm = vmOf(ns, "hot")
	p = client.MergeFrom(vm.DeepCopy())
	vm.Spec.Template.Spec.Volumes = nil
	g.Expect(k8s.Patch(context.Background(), vm, p)).To(Succeed())
	g.Eventually(volumeStatusOf(ns, "hot", "extra")).Should(BeNil())
	g.Expect(vmiOf(ns, "hot").Spec.Domain.Devices.Disks).To(BeEmpty())
	g.Expect(vmiOf(ns, "hot").UID).To(Equal(uid))
}
