package kubevirtsim

import (
	"context"
	"net/netip"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/watch"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestAlwaysVMWithBlankDataVolumeGetsSucceededDiskThenRunningVMIWithAddressAndNode(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "web", withBlankDisk("web-root", "1Gi")))

	g.Eventually(dvPhase(ns, "web-root")).Should(Equal(cdiv1.Succeeded))
	dv := dvOf(ns, "web-root")
	g.Expect(dv.Status.Progress).To(Equal(cdiv1.DataVolumeProgress("100.0%")))
	g.Expect(dv.Labels).To(HaveKeyWithValue("disk", "web-root"))
	g.Expect(dv.OwnerReferences).To(ContainElement(And(
		HaveField("Kind", "VirtualMachine"), HaveField("Name", "web"), HaveField("Controller", Equal(ptrTo(true))))))
	pvc := pvcOf(ns, "web-root")
	g.Expect(pvc).NotTo(BeNil())
	g.Expect(pvc.Status.Phase).To(Equal(corev1.ClaimBound))
	g.Expect(pvc.Status.Capacity.Storage().Equal(resource.MustParse("1Gi"))).To(BeTrue())

	g.Eventually(vmiPhase(ns, "web")).Should(Equal(virtv1.Running))
	vmi := vmiOf(ns, "web")
	g.Expect(vmi.Labels).To(HaveKeyWithValue("app", "web"))
	g.Expect(vmi.Finalizers).To(ContainElement(virtv1.VirtualMachineInstanceFinalizer))
	g.Expect(vmi.Status.NodeName).To(BeElementOf("sim-a1", "sim-a2", "sim-b1"))
	g.Expect(vmi.Labels).To(HaveKeyWithValue(virtv1.NodeNameLabel, vmi.Status.NodeName))
	g.Expect(vmi.Status.Interfaces).To(HaveLen(1))
	iface := vmi.Status.Interfaces[0]
	g.Expect(iface.Name).To(Equal("default"))
	g.Expect(iface.InterfaceName).To(Equal("eth0"))
	g.Expect(iface.InfoSource).To(Equal("domain, guest-agent"))
	g.Expect(iface.MAC).To(MatchRegexp(`^02(:[0-9a-f]{2}){5}$`))
	g.Expect(iface.IPs).To(Equal([]string{iface.IP}))
	addr, err := netip.ParseAddr(iface.IP)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(netip.MustParsePrefix(simOpts.PodCIDR).Contains(addr)).To(BeTrue())
	g.Expect(vmi.Status.GuestOSInfo.Name).To(Equal("Simulated Linux"))
	g.Expect(vmi.Status.LauncherContainerImageVersion).To(Equal("simulated"))
	g.Expect(vmi.Status.VolumeStatus).To(ContainElement(And(
		HaveField("Name", "root"), HaveField("Target", "vda"), HaveField("Phase", virtv1.VolumeReady))))
	g.Expect(vmi.Status.Conditions).To(ContainElements(
		And(HaveField("Type", virtv1.VirtualMachineInstanceReady), HaveField("Status", corev1.ConditionTrue)),
		And(HaveField("Type", virtv1.VirtualMachineInstanceAgentConnected), HaveField("Status", corev1.ConditionTrue)),
		And(HaveField("Type", virtv1.VirtualMachineInstanceIsMigratable), HaveField("Status", corev1.ConditionFalse),
			HaveField("Reason", virtv1.VirtualMachineInstanceReasonDisksNotMigratable)),
	))
	phases := []virtv1.VirtualMachineInstancePhase{}
	for _, ts := range vmi.Status.PhaseTransitionTimestamps {
		phases = append(phases, ts.Phase)
	}
	g.Expect(phases).To(Equal([]virtv1.VirtualMachineInstancePhase{virtv1.Pending, virtv1.Scheduling, virtv1.Scheduled, virtv1.Running}))

	g.Eventually(vmPrintableStatus(ns, "web")).Should(Equal(virtv1.VirtualMachineStatusRunning))
	vm := vmOf(ns, "web")
	g.Expect(vm.Finalizers).To(ContainElement(virtv1.VirtualMachineControllerFinalizer))
	g.Expect(vm.Status.Created).To(BeTrue())
	g.Expect(vm.Status.Ready).To(BeTrue())
	g.Expect(vm.Status.RunStrategy).To(Equal(virtv1.RunStrategyAlways))
	g.Expect(vm.Status.ObservedGeneration).To(Equal(vm.Generation))
	g.Expect(vmCondition(vm, virtv1.VirtualMachineReady)).To(HaveField("Status", corev1.ConditionTrue))
}

func TestHaltedVMStopsItsVMIAfterTheGuestShutdownAndReportsStopped(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "db"))
	g.Eventually(vmPrintableStatus(ns, "db")).Should(Equal(virtv1.VirtualMachineStatusRunning))

	// Every state the VMI goes through, as a watch sees it.
	w := watchStart(t, &virtv1.VirtualMachineInstanceList{}, ns)
	halted := time.Now()
	vm := vmOf(ns, "db")
	patch := client.MergeFrom(vm.DeepCopy())
	vm.Spec.RunStrategy = ptrTo(virtv1.RunStrategyHalted)
	g.Expect(k8s.Patch(context.Background(), vm, patch)).To(Succeed())

	var states []string
	watchUntil(t, w, func(ev watch.Event) bool {
		vmi := ev.Object.(*virtv1.VirtualMachineInstance)
		state := string(vmi.Status.Phase)
		if vmi.DeletionTimestamp != nil {
			state = "deleting/" + state
		}
		if ev.Type == watch.Deleted {
			state = "gone"
		}
		if len(states) == 0 || states[len(states)-1] != state {
			states = append(states, state)
		}
		return ev.Type == watch.Deleted
	})
	// The guest shut down while the VMI was being deleted, then it went.
	g.Expect(states).To(Equal([]string{"Running", "deleting/Running", "deleting/Succeeded", "gone"}))
	g.Expect(time.Since(halted)).To(BeNumerically(">=", simOpts.StopDelay))

	g.Eventually(func() virtv1.VirtualMachineStatus { return vmOf(ns, "db").Status }).Should(And(
		HaveField("PrintableStatus", virtv1.VirtualMachineStatusStopped),
		HaveField("Created", false),
		HaveField("Ready", false)))
	g.Expect(vmCondition(vmOf(ns, "db"), virtv1.VirtualMachineReady)).To(And(
		HaveField("Status", corev1.ConditionFalse), HaveField("Reason", "VMINotExists")))
	g.Consistently(func() *virtv1.VirtualMachineInstance { return vmiOf(ns, "db") }, 500*time.Millisecond).Should(BeNil())
}

func TestDeletingTheVMIOfAnAlwaysVMRecreatesItWithANewUID(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "app"))
	g.Eventually(vmiPhase(ns, "app")).Should(Equal(virtv1.Running))
	first := vmiOf(ns, "app")

	g.Expect(k8s.Delete(context.Background(), first)).To(Succeed())

	g.Eventually(func() bool {
		vmi := vmiOf(ns, "app")
		return vmi != nil && vmi.UID != first.UID && vmi.Status.Phase == virtv1.Running
	}).Should(BeTrue())
	g.Eventually(vmPrintableStatus(ns, "app")).Should(Equal(virtv1.VirtualMachineStatusRunning))
}

func TestRerunOnFailureVMStaysStoppedAfterGuestShutdownButAlwaysVMRestarts(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "once", withRunStrategy(virtv1.RunStrategyRerunOnFailure)))
	create(t, testVM(ns, "always"))
	g.Eventually(vmiPhase(ns, "once")).Should(Equal(virtv1.Running))
	g.Eventually(vmiPhase(ns, "always")).Should(Equal(virtv1.Running))
	onceUID, alwaysUID := vmiOf(ns, "once").UID, vmiOf(ns, "always").UID

	for _, name := range []string{"once", "always"} {
		shutdownGuest(t, ns, name, GuestShutdownAnnotation)
	}

	g.Eventually(func() bool {
		vmi := vmiOf(ns, "always")
		return vmi != nil && vmi.UID != alwaysUID && vmi.Status.Phase == virtv1.Running
	}).Should(BeTrue(), "the Always VM restarts its guest")
	g.Eventually(vmPrintableStatus(ns, "once")).Should(Equal(virtv1.VirtualMachineStatusStopped))
	g.Consistently(func() bool {
		vmi := vmiOf(ns, "once")
		return vmi == nil || vmi.UID == onceUID
	}, time.Second).Should(BeTrue(), "the RerunOnFailure VM does not start a new guest")
}

func TestRerunOnFailureVMRestartsAfterGuestCrash(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "crashy", withRunStrategy(virtv1.RunStrategyRerunOnFailure)))
	g.Eventually(vmiPhase(ns, "crashy")).Should(Equal(virtv1.Running))
	uid := vmiOf(ns, "crashy").UID

	shutdownGuest(t, ns, "crashy", GuestCrashAnnotation)

	g.Eventually(func() bool {
		vmi := vmiOf(ns, "crashy")
		return vmi != nil && vmi.UID != uid && vmi.Status.Phase == virtv1.Running
	}).Should(BeTrue())
	g.Eventually(func() []virtv1.VirtualMachineStateChangeRequest { return vmOf(ns, "crashy").Status.StateChangeRequests }).Should(BeEmpty())
}

// shutdownGuest sets a guest annotation on a running VMI.
func shutdownGuest(t *testing.T, ns, name, annotation string) {
	t.Helper()
	g := newG(t)
	g.Eventually(func() error {
		vmi := vmiOf(ns, name)
		if vmi == nil {
			return context.Canceled
		}
		p := client.MergeFrom(vmi.DeepCopy())
		if vmi.Annotations == nil {
			vmi.Annotations = map[string]string{}
		}
		vmi.Annotations[annotation] = "now"
		return k8s.Patch(context.Background(), vmi, p)
	}).Should(Succeed())
}

func TestInstancetypeCPUAndMemoryAreExpandedIntoTheVMI(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testInstancetype(ns, "medium", 2, "4Gi"))
	create(t, testVM(ns, "typed", withInstancetype("VirtualMachineInstancetype", "medium")))

	g.Eventually(vmiPhase(ns, "typed")).Should(Equal(virtv1.Running))
	vmi := vmiOf(ns, "typed")
	g.Expect(vmi.Spec.Domain.CPU).To(Equal(&virtv1.CPU{Sockets: 2, Cores: 1, Threads: 1}))
	g.Expect(vmi.Spec.Domain.Memory.Guest.Equal(resource.MustParse("4Gi"))).To(BeTrue())
	g.Expect(vmi.Annotations).To(HaveKeyWithValue(virtv1.InstancetypeAnnotation, "medium"))
	g.Expect(vmi.Status.CurrentCPUTopology).To(Equal(&virtv1.CPUTopology{Sockets: 2, Cores: 1, Threads: 1}))
	g.Expect(vmi.Status.Memory.GuestCurrent.Equal(resource.MustParse("4Gi"))).To(BeTrue())
	g.Eventually(func() *virtv1.InstancetypeStatusRef { return vmOf(ns, "typed").Status.InstancetypeRef }).
		Should(Equal(&virtv1.InstancetypeStatusRef{Name: "medium", Kind: "VirtualMachineInstancetype"}))
}

func TestClusterInstancetypeCPUAndMemoryAreExpandedIntoTheVMI(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	it := testClusterInstancetype("sim-"+ns+"-large", 4, "8Gi")
	if namespaced, err := k8s.IsObjectNamespaced(it); err != nil || namespaced {
		t.Skipf("the installed VirtualMachineClusterInstancetype CRD is not cluster-scoped (namespaced=%v, err=%v); KubeVirt's is", namespaced, err)
	}
	create(t, it)
	create(t, testVM(ns, "typed", withInstancetype("VirtualMachineClusterInstancetype", it.Name)))

	g.Eventually(vmiPhase(ns, "typed")).Should(Equal(virtv1.Running))
	vmi := vmiOf(ns, "typed")
	g.Expect(vmi.Spec.Domain.CPU).To(Equal(&virtv1.CPU{Sockets: 4, Cores: 1, Threads: 1}))
	g.Expect(vmi.Spec.Domain.Memory.Guest.Equal(resource.MustParse("8Gi"))).To(BeTrue())
	g.Expect(vmi.Annotations).To(HaveKeyWithValue(virtv1.ClusterInstancetypeAnnotation, it.Name))
}

func TestMissingInstancetypeIsReportedAndNoVMIAppearsUntilItExists(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "untyped", withInstancetype("VirtualMachineInstancetype", "missing")))

	g.Eventually(func() *virtv1.VirtualMachineCondition {
		return vmCondition(vmOf(ns, "untyped"), virtv1.VirtualMachineFailure)
	}).Should(And(
		Not(BeNil()),
		HaveField("Status", corev1.ConditionTrue),
		HaveField("Reason", "FailedFindInstancetype"),
		HaveField("Message", ContainSubstring(`"missing" not found`)),
	))
	g.Expect(vmPrintableStatus(ns, "untyped")()).To(Equal(virtv1.VirtualMachineStatusStopped))
	g.Consistently(func() *virtv1.VirtualMachineInstance { return vmiOf(ns, "untyped") }, 500*time.Millisecond).Should(BeNil())

	create(t, testInstancetype(ns, "missing", 1, "1Gi"))
	g.Eventually(vmiPhase(ns, "untyped")).Should(Equal(virtv1.Running))
	g.Eventually(func() *virtv1.VirtualMachineCondition {
		return vmCondition(vmOf(ns, "untyped"), virtv1.VirtualMachineFailure)
	}).Should(BeNil())
}

func TestZoneNodeSelectorPicksAMatchingNodeAndAnUnmatchedZoneStaysUnschedulable(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "in-b", withNodeSelector(map[string]string{zoneLabel: "zone-b"})))
	create(t, testVM(ns, "in-c", withNodeSelector(map[string]string{zoneLabel: "zone-c"})))

	g.Eventually(vmiPhase(ns, "in-b")).Should(Equal(virtv1.Running))
	g.Expect(vmiOf(ns, "in-b").Status.NodeName).To(Equal("sim-b1"))

	g.Eventually(func() *virtv1.VirtualMachineInstanceCondition {
		return vmiConditionObj(vmiOf(ns, "in-c"), virtv1.VirtualMachineInstanceConditionType(corev1.PodScheduled))
	}).Should(And(Not(BeNil()),
		HaveField("Status", corev1.ConditionFalse),
		HaveField("Reason", corev1.PodReasonUnschedulable),
		HaveField("Message", ContainSubstring("didn't match Pod's node affinity/selector"))))
	g.Expect(vmiPhase(ns, "in-c")()).To(Equal(virtv1.Scheduling))
	g.Eventually(vmPrintableStatus(ns, "in-c")).Should(Equal(virtv1.VirtualMachineStatusUnschedulable))
	g.Consistently(vmiPhase(ns, "in-c"), 500*time.Millisecond).Should(Equal(virtv1.Scheduling))

	node := &corev1.Node{}
	g.Expect(k8s.Get(context.Background(), key("", "sim-b1"), node)).To(Succeed())
	g.Expect(node.Labels).To(HaveKeyWithValue(zoneLabel, "zone-b"))
	g.Expect(node.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
}

func TestHundredVMIsStartedAtOnceAllGetDistinctAddresses(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	const n = 100
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- k8s.Create(context.Background(), testVMI(ns, "vmi-"+string(rune('a'+i/26))+string(rune('a'+i%26))))
		}()
	}
	for range n {
		g.Expect(<-errs).To(Succeed())
	}
	g.Eventually(func() int {
		var list virtv1.VirtualMachineInstanceList
		g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
		running := 0
		for _, vmi := range list.Items {
			if vmi.Status.Phase == virtv1.Running {
				running++
			}
		}
		return running
	}, 60*time.Second).Should(Equal(n))

	var list virtv1.VirtualMachineInstanceList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	seen := map[string]string{}
	for _, vmi := range list.Items {
		g.Expect(vmi.Status.Interfaces).To(HaveLen(1))
		ip := vmi.Status.Interfaces[0].IP
		g.Expect(ip).NotTo(BeEmpty())
		g.Expect(seen).NotTo(HaveKey(ip), "address %s of %s is also %s's", ip, vmi.Name, seen[ip])
		seen[ip] = vmi.Name
	}
}

func TestDeletingAVMRemovesItsVMIAndDataVolumesAndThenTheVM(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	vm := testVM(ns, "gone", withBlankDisk("gone-root", "1Gi"))
	create(t, vm)
	g.Eventually(vmPrintableStatus(ns, "gone")).Should(Equal(virtv1.VirtualMachineStatusRunning))
	g.Expect(pvcOf(ns, "gone-root").Finalizers).To(ContainElement(pvcProtectionFinalizer))

	g.Expect(k8s.Delete(context.Background(), vmOf(ns, "gone"))).To(Succeed())

	g.Eventually(vmPrintableStatus(ns, "gone")).Should(Or(Equal(virtv1.VirtualMachineStatusTerminating), Equal(virtv1.VirtualMachinePrintableStatus("<none>"))))
	g.Eventually(func() *virtv1.VirtualMachineInstance { return vmiOf(ns, "gone") }).Should(BeNil())
	g.Eventually(func() *cdiv1.DataVolume { return dvOf(ns, "gone-root") }).Should(BeNil())
	g.Eventually(func() *corev1.PersistentVolumeClaim { return pvcOf(ns, "gone-root") }).Should(BeNil())
	g.Eventually(func() *virtv1.VirtualMachine { return vmOf(ns, "gone") }).Should(BeNil())
}

func TestVMIWithAWrongPVCWaitsInPendingAndTheVMSaysPvcNotFound(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	vm := testVM(ns, "nopvc")
	vm.Spec.Template.Spec.Volumes = []virtv1.Volume{{Name: "data", VolumeSource: virtv1.VolumeSource{
		PersistentVolumeClaim: &virtv1.PersistentVolumeClaimVolumeSource{PersistentVolumeClaimVolumeSource: corev1.PersistentVolumeClaimVolumeSource{ClaimName: "absent"}},
	}}}
	create(t, vm)
	g.Eventually(vmPrintableStatus(ns, "nopvc")).Should(Equal(virtv1.VirtualMachineStatusPvcNotFound))
	g.Expect(vmiPhase(ns, "nopvc")()).To(Equal(virtv1.Pending))
}

func TestChangingTheTemplateOfARunningVMAsksForARestart(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "edit"))
	g.Eventually(vmPrintableStatus(ns, "edit")).Should(Equal(virtv1.VirtualMachineStatusRunning))

	vm := vmOf(ns, "edit")
	p := client.MergeFrom(vm.DeepCopy())
	vm.Spec.Template.ObjectMeta.Labels["tier"] = "gold"
	g.Expect(k8s.Patch(context.Background(), vm, p)).To(Succeed())

	g.Eventually(func() *virtv1.VirtualMachineCondition {
		return vmCondition(vmOf(ns, "edit"), virtv1.VirtualMachineRestartRequired)
	}).
		Should(HaveField("Status", corev1.ConditionTrue))
	g.Expect(vmOf(ns, "edit").Status.ObservedGeneration).To(BeNumerically("<", vm.Generation))

	// A restart (deleting the VMI) picks the change up.
	g.Expect(k8s.Delete(context.Background(), vmiOf(ns, "edit"))).To(Succeed())
	g.Eventually(func() map[string]string {
		if vmi := vmiOf(ns, "edit"); vmi != nil && vmi.DeletionTimestamp == nil {
			return vmi.Labels
		}
		return nil
	}).Should(HaveKeyWithValue("tier", "gold"))
	g.Eventually(func() *virtv1.VirtualMachineCondition {
		return vmCondition(vmOf(ns, "edit"), virtv1.VirtualMachineRestartRequired)
	}).Should(BeNil())
	g.Eventually(func() int64 { return vmOf(ns, "edit").Status.ObservedGeneration }).Should(Equal(vmOf(ns, "edit").Generation))
}

func TestARestartedSimulatorKeepsAddressesAndNeverHandsOutOneInUse(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	for _, name := range []string{"r1", "r2", "r3"} {
		create(t, testVMI(ns, name))
	}
	before := map[string]string{}
	for _, name := range []string{"r1", "r2", "r3"} {
		g.Eventually(vmiPhase(ns, name)).Should(Equal(virtv1.Running))
		before[name] = vmiOf(ns, name).Status.Interfaces[0].IP
	}

	stopSimulator()
	if err := startSimulator(); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"n1", "n2", "n3", "n4"} {
		create(t, testVMI(ns, name))
	}
	seen := map[string]string{}
	for _, name := range []string{"r1", "r2", "r3", "n1", "n2", "n3", "n4"} {
		g.Eventually(vmiPhase(ns, name)).Should(Equal(virtv1.Running))
		ip := vmiOf(ns, name).Status.Interfaces[0].IP
		g.Expect(seen).NotTo(HaveKey(ip), "%s has %s's address %s", name, seen[ip], ip)
		seen[ip] = name
		if old, ok := before[name]; ok {
			g.Expect(ip).To(Equal(old), "%s kept its address", name)
		}
	}
}
