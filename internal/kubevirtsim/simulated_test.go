package kubevirtsim

import (
	"context"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestEveryObjectTheSimulatorCreatedOrUpdatedIsMarkedSimulated(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testDataVolume(ns, "golden"))
	create(t, testDataSource(ns, "golden", ns, "golden"))
	create(t, testVM(ns, "vm", withDataVolumeDisk("vm-root", cdiv1.DataVolumeSpec{
		SourceRef: &cdiv1.DataVolumeSourceRef{Kind: cdiv1.DataVolumeDataSource, Name: "golden"},
		Storage:   &cdiv1.StorageSpec{},
	})))
	g.Eventually(vmPrintableStatus(ns, "vm")).Should(Equal(virtv1.VirtualMachineStatusRunning))

	ctx := context.Background()
	var objects []client.Object
	lists := []client.ObjectList{
		&virtv1.VirtualMachineList{}, &virtv1.VirtualMachineInstanceList{}, &cdiv1.DataVolumeList{},
		&cdiv1.DataSourceList{}, &corev1.PersistentVolumeClaimList{},
	}
	for _, l := range lists {
		g.Expect(k8s.List(ctx, l, client.InNamespace(ns))).To(Succeed())
	}
	for i := range lists[0].(*virtv1.VirtualMachineList).Items {
		objects = append(objects, &lists[0].(*virtv1.VirtualMachineList).Items[i])
	}
	for i := range lists[1].(*virtv1.VirtualMachineInstanceList).Items {
		objects = append(objects, &lists[1].(*virtv1.VirtualMachineInstanceList).Items[i])
	}
	for i := range lists[2].(*cdiv1.DataVolumeList).Items {
		objects = append(objects, &lists[2].(*cdiv1.DataVolumeList).Items[i])
	}
	for i := range lists[3].(*cdiv1.DataSourceList).Items {
		objects = append(objects, &lists[3].(*cdiv1.DataSourceList).Items[i])
	}
	for i := range lists[4].(*corev1.PersistentVolumeClaimList).Items {
		objects = append(objects, &lists[4].(*corev1.PersistentVolumeClaimList).Items[i])
	}
	for _, n := range simOpts.Nodes {
		node := &corev1.Node{}
		g.Expect(k8s.Get(ctx, key("", n.Name), node)).To(Succeed())
		objects = append(objects, node)
	}
	// 1 VM, 1 VMI, 2 DataVolumes, 1 DataSource, 2 PVCs and the nodes.
	g.Expect(objects).To(HaveLen(7 + len(simOpts.Nodes)))
	for _, o := range objects {
		g.Expect(o.GetAnnotations()).To(HaveKeyWithValue(SimulatedAnnotation, "true"), "%T %s", o, o.GetName())
	}

	g.Eventually(func() []eventsv1.Event {
		var events eventsv1.EventList
		g.Expect(k8s.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
		return events.Items
	}).Should(ContainElement(HaveField("ReportingController", componentName)))
	var events eventsv1.EventList
	g.Expect(k8s.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
	for _, e := range events.Items {
		if e.ReportingController == componentName {
			g.Expect(e.Annotations).To(HaveKeyWithValue(SimulatedAnnotation, "true"))
			g.Expect(e.Note).To(HavePrefix("Simulated: "))
		}
	}
}

func TestASettledVMIsNotWrittenAgain(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "calm", withBlankDisk("calm-root", "1Gi")))
	g.Eventually(vmPrintableStatus(ns, "calm")).Should(Equal(virtv1.VirtualMachineStatusRunning))

	versions := func() []string {
		var v []string
		for _, o := range []client.Object{vmOf(ns, "calm"), vmiOf(ns, "calm"), dvOf(ns, "calm-root"), pvcOf(ns, "calm-root")} {
			v = append(v, o.GetResourceVersion())
		}
		return v
	}
	// The last events of the start (a fixed sleep was too short on a loaded machine):
	// wait until nothing changed for half a second, then nothing may change for a
	// second. A simulator that never settles fails the first, one that writes again
	// later the second.
	var before []string
	g.Eventually(func() bool {
		now := versions()
		settled := slices.Equal(now, before)
		before = now
		return settled
	}).WithPolling(500*time.Millisecond).Should(BeTrue(), "the VM's objects never settled")
	g.Consistently(versions, time.Second).Should(Equal(before))
}
