package kubevirtsim

import (
	"context"
	"errors"
	"fmt"
	"slices"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)

// cloneSource resolves a clone's source (through its DataSource when it has a
// sourceRef): a PVC, or a VolumeSnapshot to restore. It returns nil, with a message,
// when the source does not exist.
func (s *simulator) cloneSource(ctx context.Context, dv *cdiv1.DataVolume) (*cloneSourceState, string, error) {
	var ref *cdiv1.DataVolumeSourcePVC
	var snap *cdiv1.DataVolumeSourceSnapshot
	if r := dv.Spec.SourceRef; r != nil {
		ns := dv.Namespace
		if r.Namespace != nil && *r.Namespace != "" {
			ns = *r.Namespace
		}
		if r.Kind != cdiv1.DataVolumeDataSource {
			return nil, fmt.Sprintf("sourceRef kind %q is not supported", r.Kind), nil
		}
		ds := &cdiv1.DataSource{}
		if err := s.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: r.Name}, ds); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Sprintf("DataSource %s/%s not found", ns, r.Name), nil
			}
			return nil, "", err
		}
		ref, snap = ds.Spec.Source.PVC, ds.Spec.Source.Snapshot
		if ref == nil && snap == nil {
			return nil, fmt.Sprintf("DataSource %s/%s has no source PVC or snapshot", ns, r.Name), nil
		}
		if snap != nil && snap.Namespace == "" {
			snap = &cdiv1.DataVolumeSourceSnapshot{Namespace: ns, Name: snap.Name}
		}
	} else {
		ref, snap = dv.Spec.Source.PVC, dv.Spec.Source.Snapshot
	}
	if snap != nil {
		return s.snapshotSource(ctx, dv, snap)
	}
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	if key.Namespace == "" {
		key.Namespace = dv.Namespace
	}
	pvc := &corev1.PersistentVolumeClaim{}
	if err := s.client.Get(ctx, key, pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("The source pvc %s doesn't exist", key), nil
		}
		return nil, "", err
	}
	src := &cloneSourceState{pvc: pvc}
	srcDV := &cdiv1.DataVolume{}
	err := s.client.Get(ctx, key, srcDV)
	switch {
	case err == nil:
		src.ready = srcDV.Status.Phase == cdiv1.Succeeded
		if !src.ready {
			return src, fmt.Sprintf("source DataVolume %s is in phase %q", key, srcDV.Status.Phase), nil
		}
	case apierrors.IsNotFound(err):
		src.ready = pvcBound(pvc)
		if !src.ready {
			return src, fmt.Sprintf("source PVC %s is not bound", key), nil
		}
	default:
		return nil, "", err
	}
	return src, "", nil
}

// snapshotSource resolves a VolumeSnapshot a DataVolume restores.
func (s *simulator) snapshotSource(ctx context.Context, dv *cdiv1.DataVolume, ref *cdiv1.DataVolumeSourceSnapshot) (*cloneSourceState, string, error) {
	key := types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}
	if key.Namespace == "" {
		key.Namespace = dv.Namespace
	}
	vs := &snapshotv1.VolumeSnapshot{}
	if err := s.client.Get(ctx, key, vs); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("VolumeSnapshot %s not found", key), nil
		}
		return nil, "", err
	}
	src := &cloneSourceState{snapshot: true}
	if key.Namespace == dv.Namespace {
		src.snapshotName = key.Name
	}
	if vs.Status != nil && vs.Status.RestoreSize != nil && !vs.Status.RestoreSize.IsZero() {
		src.size = ptrTo(vs.Status.RestoreSize.DeepCopy())
	}
	ready, msg := volumeSnapshotReady(vs)
	src.ready = ready
	return src, msg, nil
}

func pvcBound(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc != nil && pvc.Status.Phase == corev1.ClaimBound
}

// requestedSize is the size a DataVolume asks for; a clone that asks for none takes its
// source's.
func requestedSize(dv *cdiv1.DataVolume, source *corev1.PersistentVolumeClaim) (resource.Quantity, error) {
	var req corev1.ResourceList
	switch {
	case dv.Spec.Storage != nil:
		req = dv.Spec.Storage.Resources.Requests
	case dv.Spec.PVC != nil:
		req = dv.Spec.PVC.Resources.Requests
	}
	if q, ok := req[corev1.ResourceStorage]; ok && !q.IsZero() {
		return q, nil
	}
	if source != nil {
		if q, ok := source.Status.Capacity[corev1.ResourceStorage]; ok && !q.IsZero() {
			return q, nil
		}
		if q, ok := source.Spec.Resources.Requests[corev1.ResourceStorage]; ok && !q.IsZero() {
			return q, nil
		}
	}
	return resource.Quantity{}, errors.New("the DataVolume requests no storage size")
}

// createDataVolumePVC creates the PVC that holds a DataVolume's data, as CDI does.
func (s *simulator) createDataVolumePVC(ctx context.Context, sc *dvScope, size resource.Quantity) error {
	dv := sc.dv
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:      dv.Name,
			Namespace: dv.Namespace,
			Labels: map[string]string{
				"app":                          "containerized-data-importer",
				"app.kubernetes.io/component":  "storage",
				"app.kubernetes.io/managed-by": "cdi-controller",
			},
			Annotations: map[string]string{
				SimulatedAnnotation:                   simulatedValue,
				"cdi.kubevirt.io/storage.contentType": contentType(dv),
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(dv, cdiv1.SchemeGroupVersion.WithKind(kindDV))},
		},
	}
	spec := &pvc.Spec
	switch {
	case dv.Spec.PVC != nil:
		*spec = *dv.Spec.PVC.DeepCopy()
	case dv.Spec.Storage != nil:
		st := dv.Spec.Storage
		spec.AccessModes = slices.Clone(st.AccessModes)
		spec.StorageClassName = st.StorageClassName
		spec.Selector = st.Selector.DeepCopy()
		if st.VolumeMode != nil && *st.VolumeMode != cdiv1.PersistentVolumeFromStorageProfile {
			spec.VolumeMode = ptrTo(*st.VolumeMode)
		}
	}
	if len(spec.AccessModes) == 0 {
		spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	if spec.VolumeMode != nil && *spec.VolumeMode == cdiv1.PersistentVolumeFromStorageProfile {
		spec.VolumeMode = nil
	}
	spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: size}
	if sc.restoreSnapshot != "" {
		spec.DataSource = &corev1.TypedLocalObjectReference{
			APIGroup: ptrTo(snapshotv1.GroupName), Kind: kindVS, Name: sc.restoreSnapshot,
		}
	}
	if err := s.client.Create(ctx, pvc); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("PVC %s exists and does not belong to DataVolume %s: %w", pvc.Name, dv.Name, err)
		}
		return fmt.Errorf("creating PVC %s: %w", pvc.Name, err)
	}
	sc.pvc = pvc
	return nil
}

func contentType(dv *cdiv1.DataVolume) string {
	if dv.Spec.ContentType == "" {
		return string(cdiv1.DataVolumeKubeVirt)
	}
	return string(dv.Spec.ContentType)
}
