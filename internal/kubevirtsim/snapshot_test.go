package kubevirtsim

import (
	"context"
	"testing"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	virtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func testVolumeSnapshot(ns, name, claim string) *snapshotv1.VolumeSnapshot {
	return &snapshotv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       snapshotv1.VolumeSnapshotSpec{Source: snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: &claim}},
	}
}

func vsOf(ns, name string) *snapshotv1.VolumeSnapshot {
	vs := &snapshotv1.VolumeSnapshot{}
	if err := k8s.Get(context.Background(), key(ns, name), vs); err != nil {
		return nil
	}
	return vs
}

// vsReady reports whether the VolumeSnapshot is readyToUse.
func vsReady(ns, name string) func() bool {
	return func() bool {
		vs := vsOf(ns, name)
		return vs != nil && vs.Status != nil && vs.Status.ReadyToUse != nil && *vs.Status.ReadyToUse
	}
}

// restoring makes the DataVolume restore a VolumeSnapshot, with the snapshot's size.
func restoring(snapshotNS, snapshot string) dvOption {
	return func(dv *cdiv1.DataVolume) {
		dv.Spec.Source = &cdiv1.DataVolumeSource{Snapshot: &cdiv1.DataVolumeSourceSnapshot{Namespace: snapshotNS, Name: snapshot}}
		dv.Spec.Storage = &cdiv1.StorageSpec{}
	}
}

func TestTheSimulatedDriversStorageClassAndSnapshotClassAreTheDefaultsAndAllowExpansion(t *testing.T) {
	g := newG(t)
	sc := &storagev1.StorageClass{}
	g.Eventually(func() error { return k8s.Get(context.Background(), key("", DefaultStorageClass), sc) }).Should(Succeed())
	g.Expect(sc.Annotations).To(HaveKeyWithValue("storageclass.kubernetes.io/is-default-class", "true"))
	g.Expect(sc.Annotations).To(HaveKeyWithValue(SimulatedAnnotation, "true"))
	g.Expect(sc.AllowVolumeExpansion).To(HaveValue(BeTrue()))
	vsc := &snapshotv1.VolumeSnapshotClass{}
	g.Expect(k8s.Get(context.Background(), key("", DefaultStorageClass), vsc)).To(Succeed())
	g.Expect(vsc.Driver).To(Equal(sc.Provisioner))
	g.Expect(vsc.DeletionPolicy).To(Equal(snapshotv1.VolumeSnapshotContentDelete))
	g.Expect(vsc.Annotations).To(HaveKeyWithValue("snapshot.storage.kubernetes.io/is-default-class", "true"))
}

func TestAVolumeSnapshotOfABoundClaimGetsAContentAndBecomesReadyAndItsDeletionDeletesTheContent(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testDataVolume(ns, "data"))
	g.Eventually(dvPhase(ns, "data")).Should(Equal(cdiv1.Succeeded))
	create(t, testVolumeSnapshot(ns, "snap", "data"))

	g.Eventually(vsReady(ns, "snap")).Should(BeTrue())
	vs := vsOf(ns, "snap")
	g.Expect(vs.Annotations).To(HaveKeyWithValue(SimulatedAnnotation, "true"))
	g.Expect(vs.Status.CreationTime).NotTo(BeNil())
	g.Expect(vs.Status.RestoreSize.String()).To(Equal("2Gi"), "the claim's capacity")
	g.Expect(vs.Status.Error).To(BeNil())
	g.Expect(vs.Status.BoundVolumeSnapshotContentName).NotTo(BeNil())
	content := &snapshotv1.VolumeSnapshotContent{}
	g.Expect(k8s.Get(context.Background(), key("", *vs.Status.BoundVolumeSnapshotContentName), content)).To(Succeed())
	g.Expect(content.Annotations).To(HaveKeyWithValue(SimulatedAnnotation, "true"))
	g.Expect(content.Spec.VolumeSnapshotRef.Name).To(Equal("snap"))
	g.Expect(content.Spec.VolumeSnapshotRef.UID).To(Equal(vs.UID))
	g.Expect(content.Status.ReadyToUse).To(HaveValue(BeTrue()))
	g.Expect(content.Status.RestoreSize).To(HaveValue(Equal(int64(2 << 30))))

	g.Expect(k8s.Delete(context.Background(), vs)).To(Succeed())
	g.Eventually(func() bool { return vsOf(ns, "snap") == nil }).Should(BeTrue())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), key("", content.Name), &snapshotv1.VolumeSnapshotContent{}))
	}).Should(BeTrue(), "a content of policy Delete goes with its snapshot")
}

func TestAVolumeSnapshotOfAClaimThatDoesNotExistReportsAnErrorUntilTheClaimComes(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVolumeSnapshot(ns, "early", "later"))
	g.Eventually(func() string {
		if vs := vsOf(ns, "early"); vs != nil && vs.Status != nil && vs.Status.Error != nil && vs.Status.Error.Message != nil {
			return *vs.Status.Error.Message
		}
		return ""
	}).Should(ContainSubstring("PersistentVolumeClaim later not found"))
	g.Consistently(vsReady(ns, "early"), "300ms").Should(BeFalse())

	create(t, testDataVolume(ns, "later"))
	g.Eventually(vsReady(ns, "early")).Should(BeTrue())
	g.Expect(vsOf(ns, "early").Status.Error).To(BeNil())
}

func TestADataVolumeRestoredFromASnapshotWaitsForItThenSucceedsWithTheSnapshotsSize(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testDataVolume(ns, "restored", restoring(ns, "snap")))
	g.Eventually(func() string {
		c := dvCondition(dvOf(ns, "restored"), cdiv1.DataVolumeRunning)
		if c == nil {
			return ""
		}
		return c.Reason + ": " + c.Message
	}).Should(ContainSubstring("VolumeSnapshot " + ns + "/snap not found"))
	g.Expect(pvcOf(ns, "restored")).To(BeNil(), "no size is known before the snapshot exists")

	create(t, testDataVolume(ns, "source"))
	create(t, testVolumeSnapshot(ns, "snap", "source"))
	g.Eventually(dvPhase(ns, "restored")).Should(Equal(cdiv1.Succeeded))
	dv := dvOf(ns, "restored")
	g.Expect(dv.Status.Progress).To(Equal(cdiv1.DataVolumeProgress("100.0%")))
	pvc := pvcOf(ns, "restored")
	g.Expect(pvc.Status.Phase).To(Equal(corev1.ClaimBound))
	g.Expect(pvc.Spec.Resources.Requests.Storage().String()).To(Equal("2Gi"))
	g.Expect(pvc.Spec.DataSource).NotTo(BeNil())
	g.Expect(pvc.Spec.DataSource.Kind).To(Equal("VolumeSnapshot"))
	g.Expect(pvc.Spec.DataSource.Name).To(Equal("snap"))
}

func TestADataVolumeCloningADataSourceOfASnapshotSucceedsOnceTheSnapshotIsReady(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testDataVolume(ns, "source"))
	create(t, testVolumeSnapshot(ns, "snap", "source"))
	create(t, &cdiv1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "golden"},
		Spec:       cdiv1.DataSourceSpec{Source: cdiv1.DataSourceSource{Snapshot: &cdiv1.DataVolumeSourceSnapshot{Namespace: ns, Name: "snap"}}},
	})
	g.Eventually(dataSourceReady(ns, "golden")).Should(HaveField("Status", corev1.ConditionTrue))
	create(t, testDataVolume(ns, "clone", cloningDataSource(ns, "golden")))
	g.Eventually(dvPhase(ns, "clone")).Should(Equal(cdiv1.Succeeded))
	g.Expect(pvcOf(ns, "clone").Spec.Resources.Requests.Storage().String()).To(Equal("2Gi"))
}

func TestGrowingABoundClaimsRequestExpandsItAndTheGuestSeesTheNewSize(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testVM(ns, "vm", withBlankDisk("vm-disk", "1Gi")))
	g.Eventually(vmPrintableStatus(ns, "vm")).Should(Equal(virtv1.VirtualMachineStatusRunning))
	pvc := pvcOf(ns, "vm-disk")
	g.Expect(pvc.Spec.StorageClassName).To(HaveValue(Equal(DefaultStorageClass)), "the default class")

	p := client.MergeFrom(pvc.DeepCopy())
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("3Gi")
	g.Expect(k8s.Patch(context.Background(), pvc, p)).To(Succeed())
	g.Eventually(func() string {
		q := pvcOf(ns, "vm-disk").Status.Capacity[corev1.ResourceStorage]
		return q.String()
	}).Should(Equal("3Gi"))
	g.Eventually(volumeStatusOf(ns, "vm", "root")).Should(HaveField("Size", int64(3<<30)))
}

func TestAVMStartsWithoutWaitingForAHotpluggableVolumeAndAttachesItOnceItIsReady(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testDataVolume(ns, "slow", restoring(ns, "not-yet")))
	create(t, testVM(ns, "vm", func(vm *virtv1.VirtualMachine) {
		vm.Spec.Template.Spec.Volumes = append(vm.Spec.Template.Spec.Volumes, virtv1.Volume{
			Name: "slow", VolumeSource: virtv1.VolumeSource{DataVolume: &virtv1.DataVolumeSource{Name: "slow", Hotpluggable: true}},
		})
	}))
	g.Eventually(vmPrintableStatus(ns, "vm")).Should(Equal(virtv1.VirtualMachineStatusRunning))
	g.Expect(volumeStatusOf(ns, "vm", "slow")()).To(HaveField("Phase", virtv1.VolumePending))

	create(t, testDataVolume(ns, "source"))
	create(t, testVolumeSnapshot(ns, "not-yet", "source"))
	g.Eventually(volumeStatusOf(ns, "vm", "slow")).Should(And(HaveField("Phase", virtv1.VolumeReady), HaveField("HotplugVolume", Not(BeNil()))))
}
