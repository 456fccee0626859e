package kubevirtsim

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/watch"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)

func dataSourceReady(ns, name string) func() *cdiv1.DataSourceCondition {
	return func() *cdiv1.DataSourceCondition {
		ds := &cdiv1.DataSource{}
		if err := k8s.Get(context.Background(), key(ns, name), ds); err != nil {
			return nil
		}
		for i := range ds.Status.Conditions {
			if ds.Status.Conditions[i].Type == cdiv1.DataSourceReady {
				return &ds.Status.Conditions[i]
			}
		}
		return nil
	}
}

func dvCondition(dv *cdiv1.DataVolume, t cdiv1.DataVolumeConditionType) *cdiv1.DataVolumeCondition {
	if dv == nil {
		return nil
	}
	for i := range dv.Status.Conditions {
		if dv.Status.Conditions[i].Type == t {
			return &dv.Status.Conditions[i]
		}
	}
	return nil
}

func TestImportedDataVolumeGoesThroughCDIPhasesToSucceededWithABoundPVC(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	w := watchStart(t, &cdiv1.DataVolumeList{}, ns)
	create(t, testDataVolume(ns, "image"))

	var phases []cdiv1.DataVolumePhase
	var progress []cdiv1.DataVolumeProgress
	watchUntil(t, w, func(ev watch.Event) bool {
		dv := ev.Object.(*cdiv1.DataVolume)
		if len(phases) == 0 || phases[len(phases)-1] != dv.Status.Phase {
			phases = append(phases, dv.Status.Phase)
		}
		if dv.Status.Phase == cdiv1.ImportInProgress && (len(progress) == 0 || progress[len(progress)-1] != dv.Status.Progress) {
			progress = append(progress, dv.Status.Progress)
		}
		return dv.Status.Phase == cdiv1.Succeeded
	})
	g.Expect(phases).To(Equal([]cdiv1.DataVolumePhase{"", cdiv1.Pending, cdiv1.ImportScheduled, cdiv1.ImportInProgress, cdiv1.Succeeded}))
	// Progress starts at 0 and only goes up (a busy machine may skip a step).
	g.Expect(progress).NotTo(BeEmpty())
	g.Expect(progress[0]).To(Equal(cdiv1.DataVolumeProgress("0.00%")))
	last := -1.0
	for _, p := range progress {
		g.Expect(string(p)).To(MatchRegexp(`^\d+\.\d\d%$`))
		var v float64
		_, err := fmt.Sscanf(string(p), "%f%%", &v)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(v).To(BeNumerically(">", last))
		last = v
	}

	dv := dvOf(ns, "image")
	g.Expect(dv.Status.ClaimName).To(Equal("image"))
	g.Expect(dv.Status.Progress).To(Equal(cdiv1.DataVolumeProgress("100.0%")))
	g.Expect(dvCondition(dv, cdiv1.DataVolumeBound)).To(And(HaveField("Status", corev1.ConditionTrue), HaveField("Reason", "Bound")))
	g.Expect(dvCondition(dv, cdiv1.DataVolumeReady)).To(HaveField("Status", corev1.ConditionTrue))
	g.Expect(dvCondition(dv, cdiv1.DataVolumeRunning)).To(And(HaveField("Status", corev1.ConditionFalse), HaveField("Reason", "Completed")))

	pvc := pvcOf(ns, "image")
	g.Expect(pvc.Spec.AccessModes).To(Equal([]corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}))
	g.Expect(pvc.Spec.Resources.Requests.Storage().Equal(resource.MustParse("2Gi"))).To(BeTrue())
	g.Expect(pvc.OwnerReferences).To(ContainElement(And(HaveField("Kind", "DataVolume"), HaveField("Name", "image"))))
	g.Expect(pvc.Status.Phase).To(Equal(corev1.ClaimBound))
}

func TestBlockDataVolumeWithAStorageClassGetsAMatchingPVC(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testDataVolume(ns, "raw", func(dv *cdiv1.DataVolume) {
		dv.Spec.Storage.VolumeMode = ptrTo(corev1.PersistentVolumeBlock)
		dv.Spec.Storage.StorageClassName = ptrTo("fast")
		dv.Spec.Storage.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	}))
	g.Eventually(dvPhase(ns, "raw")).Should(Equal(cdiv1.Succeeded))
	pvc := pvcOf(ns, "raw")
	g.Expect(pvc.Spec.VolumeMode).To(Equal(ptrTo(corev1.PersistentVolumeBlock)))
	g.Expect(pvc.Spec.StorageClassName).To(Equal(ptrTo("fast")))
	g.Expect(pvc.Spec.AccessModes).To(Equal([]corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}))
}

func TestDataSourceBecomesReadyOnceItsDataVolumeSucceedsAndACloneFromItSucceeds(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	golden := newNamespace(t)
	// The clone is asked for before its source exists: it waits.
	create(t, testDataVolume(ns, "disk", cloningDataSource(golden, "ubuntu")))
	g.Eventually(dvPhase(ns, "disk")).Should(Equal(cdiv1.CloneScheduled))
	g.Consistently(dvPhase(ns, "disk"), 300*time.Millisecond).Should(Equal(cdiv1.CloneScheduled))

	create(t, testDataSource(golden, "ubuntu", golden, "ubuntu-img"))
	g.Eventually(dataSourceReady(golden, "ubuntu")).Should(And(Not(BeNil()),
		HaveField("Status", corev1.ConditionFalse), HaveField("Reason", "NotFound")))

	create(t, testDataVolume(golden, "ubuntu-img"))
	g.Eventually(dataSourceReady(golden, "ubuntu")).Should(And(Not(BeNil()),
		HaveField("Status", corev1.ConditionTrue), HaveField("Reason", "Ready")))
	ds := &cdiv1.DataSource{}
	g.Expect(k8s.Get(context.Background(), key(golden, "ubuntu"), ds)).To(Succeed())
	g.Expect(ds.Status.Source.PVC).To(Equal(&cdiv1.DataVolumeSourcePVC{Namespace: golden, Name: "ubuntu-img"}))

	g.Eventually(dvPhase(ns, "disk")).Should(Equal(cdiv1.Succeeded))
	dv := dvOf(ns, "disk")
	g.Expect(dvCondition(dv, cdiv1.DataVolumeRunning)).To(HaveField("Message", "Clone Complete"))
	// A clone that asks for no size gets its source's.
	g.Expect(pvcOf(ns, "disk").Spec.Resources.Requests.Storage().Equal(resource.MustParse("2Gi"))).To(BeTrue())
}

func TestCloneOfAPVCWaitsWhileItsSourceDataVolumeImports(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	w := watchStart(t, &cdiv1.DataVolumeList{}, ns)
	create(t, testDataVolume(ns, "src"))
	create(t, testDataVolume(ns, "copy", func(dv *cdiv1.DataVolume) {
		dv.Spec.Source = &cdiv1.DataVolumeSource{PVC: &cdiv1.DataVolumeSourcePVC{Namespace: ns, Name: "src"}}
	}))
	var order []string
	watchUntil(t, w, func(ev watch.Event) bool {
		dv := ev.Object.(*cdiv1.DataVolume)
		step := dv.Name + "/" + string(dv.Status.Phase)
		if len(order) == 0 || order[len(order)-1] != step {
			order = append(order, step)
		}
		return dv.Name == "copy" && dv.Status.Phase == cdiv1.Succeeded
	})
	g.Expect(order).To(ContainElements("copy/CloneScheduled", "src/Succeeded", "copy/CloneInProgress", "copy/Succeeded"))
	// The clone starts only once its source is done.
	g.Expect(indexOf(order, "src/Succeeded")).To(BeNumerically("<", indexOf(order, "copy/CloneInProgress")))
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func TestDeletingADataVolumeDeletesItsPVC(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, testDataVolume(ns, "tmp"))
	g.Eventually(dvPhase(ns, "tmp")).Should(Equal(cdiv1.Succeeded))
	g.Expect(k8s.Delete(context.Background(), dvOf(ns, "tmp"))).To(Succeed())
	g.Eventually(func() *corev1.PersistentVolumeClaim { return pvcOf(ns, "tmp") }).Should(BeNil())
}

func TestAPVCCreatedWithoutADataVolumeIsBound(t *testing.T) {
	g, ns := newG(t), newNamespace(t)
	create(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metaNS(ns, "plain"),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}},
		},
	})
	g.Eventually(func() corev1.PersistentVolumeClaimPhase {
		if pvc := pvcOf(ns, "plain"); pvc != nil {
			return pvc.Status.Phase
		}
		return ""
	}).Should(Equal(corev1.ClaimBound))
	g.Expect(pvcOf(ns, "plain").Status.Capacity.Storage().Equal(resource.MustParse("3Gi"))).To(BeTrue())
}
