package kubevirtsim

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	virtv1 "kubevirt.io/api/core/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Fixture builders: a default object and modifiers.

type vmOption func(*virtv1.VirtualMachine)

func testVM(ns, name string, opts ...vmOption) *virtv1.VirtualMachine {
	vm := &virtv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: virtv1.VirtualMachineSpec{
			RunStrategy: ptrTo(virtv1.RunStrategyAlways),
			Template: &virtv1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: virtv1.VirtualMachineInstanceSpec{
					Domain: virtv1.DomainSpec{
						Devices: virtv1.Devices{},
						Resources: virtv1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceMemory: resource.MustParse("128Mi"),
						}},
					},
				},
			},
		},
	}
	for _, o := range opts {
		o(vm)
	}
	return vm
}

func withRunStrategy(rs virtv1.VirtualMachineRunStrategy) vmOption {
	return func(vm *virtv1.VirtualMachine) { vm.Spec.RunStrategy = &rs }
}

// withBlankDisk adds a blank DataVolume template and a disk using it.
func withBlankDisk(dvName, size string) vmOption {
	return withDataVolumeDisk(dvName, cdiv1.DataVolumeSpec{
		Source:  &cdiv1.DataVolumeSource{Blank: &cdiv1.DataVolumeBlankImage{}},
		Storage: &cdiv1.StorageSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
	})
}

func withDataVolumeDisk(dvName string, spec cdiv1.DataVolumeSpec) vmOption {
	return func(vm *virtv1.VirtualMachine) {
		vm.Spec.DataVolumeTemplates = append(vm.Spec.DataVolumeTemplates, virtv1.DataVolumeTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Name: dvName, Labels: map[string]string{"disk": dvName}},
			Spec:       spec,
		})
		t := &vm.Spec.Template.Spec
		t.Domain.Devices.Disks = append(t.Domain.Devices.Disks, virtv1.Disk{Name: "root", DiskDevice: virtv1.DiskDevice{Disk: &virtv1.DiskTarget{Bus: virtv1.DiskBusVirtio}}})
		t.Volumes = append(t.Volumes, virtv1.Volume{Name: "root", VolumeSource: virtv1.VolumeSource{DataVolume: &virtv1.DataVolumeSource{Name: dvName}}})
	}
}

func withInstancetype(kind, name string) vmOption {
	return func(vm *virtv1.VirtualMachine) {
		vm.Spec.Instancetype = &virtv1.InstancetypeMatcher{Kind: kind, Name: name}
		vm.Spec.Template.Spec.Domain.Resources = virtv1.ResourceRequirements{}
	}
}

func withNodeSelector(sel map[string]string) vmOption {
	return func(vm *virtv1.VirtualMachine) { vm.Spec.Template.Spec.NodeSelector = sel }
}

func testVMI(ns, name string) *virtv1.VirtualMachineInstance {
	vm := testVM(ns, name)
	return &virtv1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       vm.Spec.Template.Spec,
	}
}

func testClusterInstancetype(name string, cpus uint32, memory string) *instancetypev1beta1.VirtualMachineClusterInstancetype {
	return &instancetypev1beta1.VirtualMachineClusterInstancetype{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: instancetypev1beta1.VirtualMachineInstancetypeSpec{
			CPU:    instancetypev1beta1.CPUInstancetype{Guest: cpus},
			Memory: instancetypev1beta1.MemoryInstancetype{Guest: resource.MustParse(memory)},
		},
	}
}

func testInstancetype(ns, name string, cpus uint32, memory string) *instancetypev1beta1.VirtualMachineInstancetype {
	return &instancetypev1beta1.VirtualMachineInstancetype{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       testClusterInstancetype(name, cpus, memory).Spec,
	}
}

type dvOption func(*cdiv1.DataVolume)

func testDataVolume(ns, name string, opts ...dvOption) *cdiv1.DataVolume {
	dv := &cdiv1.DataVolume{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cdiv1.DataVolumeSpec{
			Source:  &cdiv1.DataVolumeSource{HTTP: &cdiv1.DataVolumeSourceHTTP{URL: "http://images.example/disk.qcow2"}},
			Storage: &cdiv1.StorageSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}}},
		},
	}
	for _, o := range opts {
		o(dv)
	}
	return dv
}

func cloningDataSource(ns, name string) dvOption {
	return func(dv *cdiv1.DataVolume) {
		dv.Spec.Source = nil
		dv.Spec.SourceRef = &cdiv1.DataVolumeSourceRef{Kind: cdiv1.DataVolumeDataSource, Namespace: &ns, Name: name}
		dv.Spec.Storage = &cdiv1.StorageSpec{}
	}
}

func testDataSource(ns, name, pvcNamespace, pvcName string) *cdiv1.DataSource {
	return &cdiv1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       cdiv1.DataSourceSpec{Source: cdiv1.DataSourceSource{PVC: &cdiv1.DataVolumeSourcePVC{Namespace: pvcNamespace, Name: pvcName}}},
	}
}

// create creates obj or fails the test.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// get reads a fresh copy of obj (by its key) from the API server.
func get[T client.Object](obj T) (T, error) {
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	return obj, err
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// vmiOf fetches the VMI with the given key (nil if absent).
func vmiOf(ns, name string) *virtv1.VirtualMachineInstance {
	vmi := &virtv1.VirtualMachineInstance{}
	if err := k8s.Get(context.Background(), key(ns, name), vmi); err != nil {
		return nil
	}
	return vmi
}

func vmOf(ns, name string) *virtv1.VirtualMachine {
	vm := &virtv1.VirtualMachine{}
	if err := k8s.Get(context.Background(), key(ns, name), vm); err != nil {
		return nil
	}
	return vm
}

func dvOf(ns, name string) *cdiv1.DataVolume {
	dv := &cdiv1.DataVolume{}
	if err := k8s.Get(context.Background(), key(ns, name), dv); err != nil {
		return nil
	}
	return dv
}

func pvcOf(ns, name string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := k8s.Get(context.Background(), key(ns, name), pvc); err != nil {
		return nil
	}
	return pvc
}

func vmiPhase(ns, name string) func() virtv1.VirtualMachineInstancePhase {
	return func() virtv1.VirtualMachineInstancePhase {
		if vmi := vmiOf(ns, name); vmi != nil {
			return vmi.Status.Phase
		}
		return "<none>"
	}
}

func vmPrintableStatus(ns, name string) func() virtv1.VirtualMachinePrintableStatus {
	return func() virtv1.VirtualMachinePrintableStatus {
		if vm := vmOf(ns, name); vm != nil {
			return vm.Status.PrintableStatus
		}
		return "<none>"
	}
}

func dvPhase(ns, name string) func() cdiv1.DataVolumePhase {
	return func() cdiv1.DataVolumePhase {
		if dv := dvOf(ns, name); dv != nil {
			return dv.Status.Phase
		}
		return "<none>"
	}
}

// vmiUID returns the UID of the VMI with the key ("" if absent).
func vmiUID(ns, name string) func() types.UID {
	return func() types.UID {
		if vmi := vmiOf(ns, name); vmi != nil {
			return vmi.UID
		}
		return ""
	}
}

func vmCondition(vm *virtv1.VirtualMachine, t virtv1.VirtualMachineConditionType) *virtv1.VirtualMachineCondition {
	if vm == nil {
		return nil
	}
	for i := range vm.Status.Conditions {
		if vm.Status.Conditions[i].Type == t {
			return &vm.Status.Conditions[i]
		}
	}
	return nil
}

func metaNS(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

// watchStart opens a watch on the objects of list's kind in ns; events from the moment
// it returns (and the objects that exist then, as Added) are seen by watchUntil.
func watchStart(t *testing.T, list client.ObjectList, ns string) watch.Interface {
	t.Helper()
	w, err := watcher.Watch(context.Background(), list, client.InNamespace(ns))
	if err != nil {
		t.Fatalf("watching: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// watchUntil feeds w's events to fn until it returns true; it fails the test after the
// suite's timeout.
func watchUntil(t *testing.T, w watch.Interface, fn func(watch.Event) bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch ended")
			}
			if ev.Type == watch.Error {
				continue
			}
			if fn(ev) {
				return
			}
		case <-timer.C:
			t.Fatal("timed out watching")
		}
	}
}
