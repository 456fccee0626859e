package operator

import (
	"reflect"
	"testing"
	"unique"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/intern"
)

func vmiWithLabels() *kubevirtv1.VirtualMachineInstance {
	return &kubevirtv1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{
		Name: "i-0123", Namespace: "acct-a",
		Labels: map[string]string{
			koalav1.InstanceIDLabel: "i-0123", "kubevirt.io/nodeName": "node-1",
			koalav1.SecurityGroupMemberLabel("sg-1"): "true",
		},
		Annotations:   map[string]string{"kubevirt.io/vm-generation": "1", "kubevirt-simulator.koala.dev/simulated": "true"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "virt-handler"}},
		Finalizers:    []string{"kubevirt.io/foregroundDeleteVirtualMachine"},
	}}
}

func TestKubeVirtsObjectsKeepOnlyKoalasLabelsAndAnnotations(t *testing.T) {
	o := vmiWithLabels()
	if _, err := slimVMI(o); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{koalav1.InstanceIDLabel: "i-0123", koalav1.SecurityGroupMemberLabel("sg-1"): "true"}
	if !reflect.DeepEqual(o.Labels, want) {
		t.Errorf("labels %v, want %v (only Koala's)", o.Labels, want)
	}
	if o.Annotations != nil || o.ManagedFields != nil || o.Finalizers != nil {
		t.Errorf("annotations %v, managed fields %v and finalizers %v kept, want none", o.Annotations, o.ManagedFields, o.Finalizers)
	}
}

func TestKeepingKoalasMetadataAgainWritesNothing(t *testing.T) {
	// The informer transforms stored objects again at each resync while readers may
	// copy them: a second pass must leave the maps as they are.
	o := vmiWithLabels()
	keepKoalaMeta(&o.ObjectMeta)
	labels := o.Labels
	keepKoalaMeta(&o.ObjectMeta)
	if reflect.ValueOf(o.Labels).UnsafePointer() != reflect.ValueOf(labels).UnsafePointer() {
		t.Error("the labels map was made again")
	}
}

func TestKoalaKeysAreThoseOfKoalasDomains(t *testing.T) {
	for k, want := range map[string]bool{
		koalav1.InstanceIDLabel: true, koalav1.SecurityGroupMemberLabel("sg-1"): true, "koala.dev/x": false,
		"kubevirt-simulator.koala.dev/simulated": false,
		"kubevirt.io/vm":                         false, "app": false, "notkoala.dev/x": false, "cdi.kubevirt.io/storage.contentType": false,
	} {
		if got := koalaKey(k); got != want {
			t.Errorf("koalaKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestADataVolumeKeepsItsConditionsOnlyOnceItFailed(t *testing.T) {
	conds := []cdiv1beta1.DataVolumeCondition{{Type: cdiv1beta1.DataVolumeRunning, Message: "Import failed: 404"}}
	for phase, keep := range map[cdiv1beta1.DataVolumePhase]bool{cdiv1beta1.Succeeded: false, cdiv1beta1.ImportInProgress: false, cdiv1beta1.Failed: true} {
		dv := &cdiv1beta1.DataVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "vol-1", Labels: map[string]string{koalav1.VolumeNameLabel: "vol-1", "app": "cdi"}},
			Status:     cdiv1beta1.DataVolumeStatus{Phase: phase, Progress: "42.0%", Conditions: conds, ClaimName: "vol-1"},
		}
		if _, err := slimDataVolume(dv); err != nil {
			t.Fatal(err)
		}
		if got := len(dv.Status.Conditions) > 0; got != keep {
			t.Errorf("%s: conditions kept %v, want %v", phase, got, keep)
		}
		if dv.Status.Phase != phase || dv.Status.Progress != "42.0%" {
			t.Errorf("%s: phase %q and progress %q, want both kept", phase, dv.Status.Phase, dv.Status.Progress)
		}
		if !reflect.DeepEqual(dv.Labels, map[string]string{koalav1.VolumeNameLabel: "vol-1"}) {
			t.Errorf("%s: labels %v, want only Koala's", phase, dv.Labels)
		}
	}
}

func TestAClaimKeepsItsRequestOnlyWhileItDiffersFromItsCapacity(t *testing.T) {
	gi := func(n int64) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(n<<30, resource.BinarySI)}
	}
	for name, tc := range map[string]struct {
		requests, capacity corev1.ResourceList
		keep               bool
	}{
		"bound, as asked":       {requests: gi(8), capacity: gi(8), keep: false},
		"growing":               {requests: gi(10), capacity: gi(8), keep: true},
		"given more than asked": {requests: gi(8), capacity: gi(9), keep: true},
		"not bound yet":         {requests: gi(8), keep: true},
	} {
		pvc := &corev1.PersistentVolumeClaim{
			Spec:   corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: tc.requests}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: tc.capacity},
		}
		if _, err := slimPVC(pvc); err != nil {
			t.Fatal(err)
		}
		if kept := pvc.Spec.Resources.Requests != nil; kept != tc.keep {
			t.Errorf("%s: request kept %v, want %v", name, kept, tc.keep)
		}
		if !equality.Semantic.DeepEqual(pvc.Status.Capacity, tc.capacity) {
			t.Errorf("%s: capacity %v, want %v kept", name, pvc.Status.Capacity, tc.capacity)
		}
	}
}

func TestAVMKeepsItsCloudInitDiskWithoutItsContents(t *testing.T) {
	full := &kubevirtv1.CloudInitNoCloudSource{UserDataBase64: "I2Nsb3VkLWNvbmZpZwp7fQo=", NetworkData: "version: 2\n"}
	vols := []kubevirtv1.Volume{
		{Name: "rootdisk", VolumeSource: kubevirtv1.VolumeSource{DataVolume: &kubevirtv1.DataVolumeSource{Name: "i-0123-root"}}},
		{Name: "cloudinitdisk", VolumeSource: kubevirtv1.VolumeSource{CloudInitNoCloud: full}},
	}
	vm := &kubevirtv1.VirtualMachine{Spec: kubevirtv1.VirtualMachineSpec{Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
		Spec: kubevirtv1.VirtualMachineInstanceSpec{Volumes: vols},
	}}}
	if _, err := slimVM(vm); err != nil {
		t.Fatal(err)
	}
	got := vm.Spec.Template.Spec.Volumes
	if len(got) != 2 || got[0].DataVolume == nil || got[0].DataVolume.Name != "i-0123-root" {
		t.Fatalf("volumes %+v, want the root disk kept", got)
	}
	if got[1].Name != "cloudinitdisk" || got[1].CloudInitNoCloud == nil || *got[1].CloudInitNoCloud != (kubevirtv1.CloudInitNoCloudSource{}) {
		t.Errorf("cloud-init disk %+v, want it named and empty", got[1])
	}
	if vols[1].CloudInitNoCloud.UserDataBase64 == "" || vols[1].CloudInitNoCloud.NetworkData == "" {
		t.Error("the decoded object's own list was changed; a copy is slimmed")
	}
	again := withoutCloudInitContents(got)
	if &again[0] != &got[0] {
		t.Error("a second pass made a new list")
	}
}

func TestClaimsOfOneCapacityShareOneCachedList(t *testing.T) {
	claim := func(size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Status: corev1.PersistentVolumeClaimStatus{
			Phase:    corev1.ClaimBound,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
		}}
	}
	list := func(pvc *corev1.PersistentVolumeClaim) unsafe.Pointer {
		if _, err := intern.After(slimPVC)(pvc); err != nil {
			t.Fatal(err)
		}
		return reflect.ValueOf(pvc.Status.Capacity).UnsafePointer()
	}
	a, b, c := claim("8Gi"), claim("8Gi"), claim("9Gi")
	if list(a) != list(b) {
		t.Error("two claims of 8Gi hold a list each")
	}
	if list(c) == list(a) {
		t.Error("a claim of 9Gi shares the list of 8Gi")
	}
	if got := c.Status.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("9Gi")) != 0 {
		t.Errorf("capacity %s, want 9Gi", got.String())
	}
	// A reader's copy is its own: changing it leaves the shared list as it was.
	cp := b.DeepCopy()
	cp.Status.Capacity[corev1.ResourceStorage] = resource.MustParse("1Gi")
	if got := a.Status.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("8Gi")) != 0 {
		t.Errorf("the shared list changed to %s through a copy", got.String())
	}
	// Its key is interned already, so interning another claim that shares it writes
	// nothing to it while other claims' readers may be copying it.
	for k := range a.Status.Capacity {
		if unsafe.StringData(string(k)) != unsafe.StringData(unique.Make(string(k)).Value()) {
			t.Errorf("the shared list's key %q is not the interned copy", k)
		}
	}
}
