package kubevirtsim

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)

func TestDiskTargetsAreNamedPerBusInDiskOrder(t *testing.T) {
	disks := []virtv1.Disk{
		{Name: "root"},
		{Name: "cloudinit", DiskDevice: virtv1.DiskDevice{Disk: &virtv1.DiskTarget{Bus: virtv1.DiskBusVirtio}}},
		{Name: "iso", DiskDevice: virtv1.DiskDevice{CDRom: &virtv1.CDRomTarget{}}},
		{Name: "legacy", DiskDevice: virtv1.DiskDevice{Disk: &virtv1.DiskTarget{Bus: virtv1.DiskBusSATA}}},
		{Name: "lun", DiskDevice: virtv1.DiskDevice{LUN: &virtv1.LunTarget{}}},
	}
	want := map[string]string{"root": "vda", "cloudinit": "vdb", "iso": "sda", "legacy": "sdb", "lun": "sdc"}
	got := diskTargets(disks)
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i, want := range map[int]string{0: "a", 25: "z", 26: "aa", 27: "ab", 701: "zz", 702: "aaa"} {
		if got := deviceSuffix(i); got != want {
			t.Errorf("deviceSuffix(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestNodeMatching(t *testing.T) {
	node := labels.Set{zoneLabel: "zone-a", hostnameLabel: "n1", "gpu": "yes"}
	in := func(key string, values ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
	}
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	for name, tc := range map[string]struct {
		selector map[string]string
		affinity *corev1.Affinity
		want     bool
	}{
		"no constraints fit any node":                {want: true},
		"a selector on the node's zone fits":         {selector: map[string]string{zoneLabel: "zone-a"}, want: true},
		"a selector on another zone does not fit":    {selector: map[string]string{zoneLabel: "zone-b"}, want: false},
		"a required term on the zone fits":           {affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{in(zoneLabel, "zone-b", "zone-a")}}), want: true},
		"a required term on another zone misses":     {affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{in(zoneLabel, "zone-b")}}), want: false},
		"required terms are ORed":                    {affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{in(zoneLabel, "zone-b")}}, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{in("gpu", "yes")}}), want: true},
		"a field term on the node's name fits":       {affinity: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{in("metadata.name", "n1")}}), want: true},
		"a field term on another node's name misses": {affinity: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{in("metadata.name", "n2")}}), want: false},
		"selector and affinity must both hold":       {selector: map[string]string{"gpu": "no"}, affinity: required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{in(zoneLabel, "zone-a")}}), want: false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := nodeMatches(node, tc.selector, tc.affinity); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSchedulingIsStableForAVMIAndExplainsANoFit(t *testing.T) {
	s := newScheduler([]Node{{Name: "a1", Zone: "a"}, {Name: "a2", Zone: "a"}, {Name: "b1", Zone: "b"}})
	vmi := testVMI("ns", "x")
	vmi.UID = types.UID("0f6a2b1c-uid")
	first, ok, _ := s.schedule(vmi)
	for range 10 {
		if again, _, _ := s.schedule(vmi); !ok || again != first {
			t.Fatalf("placed on %s, then on %s", first, again)
		}
	}
	vmi.Spec.NodeSelector = map[string]string{zoneLabel: "c"}
	if _, ok, msg := s.schedule(vmi); ok || msg != "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling." {
		t.Fatalf("ok=%v msg=%q", ok, msg)
	}
}

func TestApplyInstancetypeSetsSocketsMemoryAndNodeSelector(t *testing.T) {
	spec := testVMI("ns", "x").Spec
	spec.NodeSelector = map[string]string{"a": "1"}
	it := &instancetypev1beta1.VirtualMachineInstancetypeSpec{
		CPU:          instancetypev1beta1.CPUInstancetype{Guest: 8},
		Memory:       instancetypev1beta1.MemoryInstancetype{Guest: resource.MustParse("16Gi")},
		NodeSelector: map[string]string{"b": "2"},
	}
	key := applyInstancetype(&virtv1.InstancetypeMatcher{Name: "big"}, it, &spec)
	if key != virtv1.ClusterInstancetypeAnnotation {
		t.Errorf("annotation %q", key)
	}
	if !equality.Semantic.DeepEqual(spec.Domain.CPU, &virtv1.CPU{Sockets: 8, Cores: 1, Threads: 1}) {
		t.Errorf("cpu %+v", spec.Domain.CPU)
	}
	if !spec.Domain.Memory.Guest.Equal(resource.MustParse("16Gi")) {
		t.Errorf("memory %v", spec.Domain.Memory.Guest)
	}
	if !equality.Semantic.DeepEqual(spec.NodeSelector, map[string]string{"a": "1", "b": "2"}) {
		t.Errorf("node selector %v", spec.NodeSelector)
	}
}

func TestPrintableStatus(t *testing.T) {
	now := metav1.Now()
	vmi := func(phase virtv1.VirtualMachineInstancePhase, mods ...func(*virtv1.VirtualMachineInstance)) *virtv1.VirtualMachineInstance {
		v := testVMI("ns", "vm")
		v.Status.Phase = phase
		for _, m := range mods {
			m(v)
		}
		return v
	}
	deleting := func(v *virtv1.VirtualMachineInstance) { v.DeletionTimestamp = &now }
	unschedulable := func(v *virtv1.VirtualMachineInstance) {
		v.Status.Conditions = []virtv1.VirtualMachineInstanceCondition{{Type: "PodScheduled", Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	}
	withDV := func(vm *virtv1.VirtualMachine) {
		vm.Spec.Template.Spec.Volumes = []virtv1.Volume{{Name: "root", VolumeSource: virtv1.VolumeSource{DataVolume: &virtv1.DataVolumeSource{Name: "root"}}}}
	}
	dv := func(phase cdiv1.DataVolumePhase) map[string]*cdiv1.DataVolume {
		return map[string]*cdiv1.DataVolume{"root": {Status: cdiv1.DataVolumeStatus{Phase: phase}}}
	}
	for name, tc := range map[string]struct {
		strategy virtv1.VirtualMachineRunStrategy
		vmMods   []vmOption
		in       vmStatusInput
		want     virtv1.VirtualMachinePrintableStatus
	}{
		"a running VMI is Running":                    {in: vmStatusInput{vmi: vmi(virtv1.Running)}, want: virtv1.VirtualMachineStatusRunning},
		"a VMI being deleted is Stopping":             {in: vmStatusInput{vmi: vmi(virtv1.Running, deleting)}, want: virtv1.VirtualMachineStatusStopping},
		"a halted VM with a live VMI is Stopping":     {strategy: virtv1.RunStrategyHalted, in: vmStatusInput{vmi: vmi(virtv1.Running)}, want: virtv1.VirtualMachineStatusStopping},
		"a scheduling VMI is Starting":                {in: vmStatusInput{vmi: vmi(virtv1.Scheduling)}, want: virtv1.VirtualMachineStatusStarting},
		"an unschedulable VMI is ErrorUnschedulable":  {in: vmStatusInput{vmi: vmi(virtv1.Scheduling, unschedulable)}, want: virtv1.VirtualMachineStatusUnschedulable},
		"a finished VMI is Stopped":                   {in: vmStatusInput{vmi: vmi(virtv1.Succeeded)}, want: virtv1.VirtualMachineStatusStopped},
		"no VMI and none wanted is Stopped":           {strategy: virtv1.RunStrategyHalted, want: virtv1.VirtualMachineStatusStopped},
		"no VMI but one wanted is Starting":           {in: vmStatusInput{startWanted: true}, want: virtv1.VirtualMachineStatusStarting},
		"no VMI because of a sync error is Stopped":   {in: vmStatusInput{startWanted: true, syncErr: &syncError{reason: "x"}}, want: virtv1.VirtualMachineStatusStopped},
		"a DataVolume being imported is Provisioning": {vmMods: []vmOption{withDV}, in: vmStatusInput{startWanted: true, dataVolumes: dv(cdiv1.ImportInProgress)}, want: virtv1.VirtualMachineStatusProvisioning},
		"a failed DataVolume is DataVolumeError":      {vmMods: []vmOption{withDV}, in: vmStatusInput{startWanted: true, dataVolumes: dv(cdiv1.Failed)}, want: virtv1.VirtualMachineStatusDataVolumeError},
		"a VM being deleted is Terminating":           {vmMods: []vmOption{func(vm *virtv1.VirtualMachine) { vm.DeletionTimestamp = &now }}, in: vmStatusInput{vmi: vmi(virtv1.Running)}, want: virtv1.VirtualMachineStatusTerminating},
	} {
		t.Run(name, func(t *testing.T) {
			vm := testVM("ns", "vm", tc.vmMods...)
			if tc.strategy != "" {
				vm.Spec.RunStrategy = &tc.strategy
			}
			if got := printableStatus(vm, tc.in); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestComputedVMStatusIsStableOnceNothingChanges(t *testing.T) {
	vm := testVM("ns", "vm")
	vm.Generation = 3
	v := testVMI("ns", "vm")
	v.Annotations = map[string]string{virtv1.VirtualMachineGenerationAnnotation: "3"}
	v.Status.Phase = virtv1.Running
	v.Status.Conditions = []virtv1.VirtualMachineInstanceCondition{
		{Type: virtv1.VirtualMachineInstanceReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
		{Type: virtv1.VirtualMachineInstanceAgentConnected, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
	}
	first := computeVMStatus(vm, vmStatusInput{vmi: v, now: metav1.Now()})
	vm.Status = first
	later := metav1.NewTime(time.Now().Add(time.Hour))
	second := computeVMStatus(vm, vmStatusInput{vmi: v, now: later})
	if !equality.Semantic.DeepEqual(first, second) {
		t.Fatalf("the status changed without a cause:\n%+v\n%+v", first, second)
	}
	if !first.Ready || !first.Created || first.ObservedGeneration != 3 || first.PrintableStatus != virtv1.VirtualMachineStatusRunning {
		t.Fatalf("status %+v", first)
	}
}

func TestStateChangeRequestsAreTrimmedOnceActedUpon(t *testing.T) {
	uid := types.UID("u1")
	start := []virtv1.VirtualMachineStateChangeRequest{{Action: virtv1.StartRequest}}
	stop := []virtv1.VirtualMachineStateChangeRequest{{Action: virtv1.StopRequest, UID: &uid}}
	running := testVMI("ns", "vm")
	running.UID = uid
	running.Status.Phase = virtv1.Running
	for name, tc := range map[string]struct {
		reqs []virtv1.VirtualMachineStateChangeRequest
		vmi  *virtv1.VirtualMachineInstance
		want int
	}{
		"a start request stays until a VMI runs":  {reqs: start, want: 1},
		"a start request goes once a VMI exists":  {reqs: start, vmi: running, want: 0},
		"a stop request stays while its VMI runs": {reqs: stop, vmi: running, want: 1},
		"a stop request goes with its VMI":        {reqs: stop, want: 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got := trimStateChangeRequests(tc.reqs, tc.vmi); len(got) != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func TestMACsAreDeterministicPerVMIAndInterface(t *testing.T) {
	a := macFor("uid-1", virtv1.Interface{Name: "default"})
	if a != macFor("uid-1", virtv1.Interface{Name: "default"}) {
		t.Fatal("not deterministic")
	}
	if a == macFor("uid-2", virtv1.Interface{Name: "default"}) || a == macFor("uid-1", virtv1.Interface{Name: "lan"}) {
		t.Fatal("not distinct")
	}
	if got := macFor("uid-1", virtv1.Interface{Name: "lan", MacAddress: "de:ad:00:00:be:af"}); got != "de:ad:00:00:be:af" {
		t.Fatalf("the spec's MAC was not kept: %s", got)
	}
}

func TestSecondaryNetworkInterfacesAreReportedWithoutAddress(t *testing.T) {
	v := testVMI("ns", "vm")
	v.Spec.Domain.Devices.Interfaces = []virtv1.Interface{
		{Name: "pod", InterfaceBindingMethod: virtv1.InterfaceBindingMethod{Masquerade: &virtv1.InterfaceMasquerade{}}},
		{Name: "lan", InterfaceBindingMethod: virtv1.InterfaceBindingMethod{Bridge: &virtv1.InterfaceBridge{}}},
	}
	v.Spec.Networks = []virtv1.Network{
		{Name: "pod", NetworkSource: virtv1.NetworkSource{Pod: &virtv1.PodNetwork{}}},
		{Name: "lan", NetworkSource: virtv1.NetworkSource{Multus: &virtv1.MultusNetwork{NetworkName: "lan"}}},
	}
	got := vmiInterfaces(v, "10.0.0.5")
	if len(got) != 2 || got[0].IP != "10.0.0.5" || got[0].InterfaceName != "eth0" || got[1].IP != "" || got[1].InterfaceName != "eth1" {
		t.Fatalf("%+v", got)
	}
}
