package kubevirtsim

import (
	"context"
	"fmt"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	// csiDriver is the simulated CSI driver's name: the provisioner of the simulated
	// StorageClass and the driver of its VolumeSnapshotClass.
	csiDriver = "csi.kubevirt-simulator.koala.dev"

	// defaultStorageClassAnnotation makes a StorageClass the cluster's default (the
	// DefaultStorageClass admission plugin gives it to claims that name none).
	defaultStorageClassAnnotation = "storageclass.kubernetes.io/is-default-class"
	// defaultSnapshotClassAnnotation makes a VolumeSnapshotClass the default of its
	// driver.
	defaultSnapshotClassAnnotation = "snapshot.storage.kubernetes.io/is-default-class"
)

// storageClassRunnable creates the simulated CSI driver's StorageClass and
// VolumeSnapshotClass when the manager starts, as a CSI driver's installation would:
// the StorageClass is the cluster's default and allows volume expansion (the API
// server's PersistentVolumeClaimResize admission refuses to grow a claim of a class
// that does not), the VolumeSnapshotClass is the default for the driver. An existing
// class of the same name is left as it is.
type storageClassRunnable struct {
	sim *simulator
}

func (r *storageClassRunnable) Start(ctx context.Context) error {
	name := r.sim.opts.StorageClassName
	expand := true
	binding := storagev1.VolumeBindingImmediate
	reclaim := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			SimulatedAnnotation:           simulatedValue,
			defaultStorageClassAnnotation: "true",
		}},
		Provisioner:          csiDriver,
		AllowVolumeExpansion: &expand,
		VolumeBindingMode:    &binding,
		ReclaimPolicy:        &reclaim,
	}
	if err := r.sim.client.Create(ctx, sc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the simulated StorageClass %s: %w", name, err)
	}
	vsc := &snapshotv1.VolumeSnapshotClass{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			SimulatedAnnotation:            simulatedValue,
			defaultSnapshotClassAnnotation: "true",
		}},
		Driver:         csiDriver,
		DeletionPolicy: snapshotv1.VolumeSnapshotContentDelete,
	}
	if err := r.sim.client.Create(ctx, vsc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the simulated VolumeSnapshotClass %s: %w", name, err)
	}
	logf.FromContext(ctx).WithName(componentName).Info("simulated storage classes ready", "storageClass", name)
	return nil
}

// NeedLeaderElection is false: creating the classes is idempotent.
func (r *storageClassRunnable) NeedLeaderElection() bool { return false }

// snapshotClass is the VolumeSnapshotClass a VolumeSnapshot uses: the one it names, or
// the default class of the simulated driver. nil (and a message) when there is none.
func (s *simulator) snapshotClass(ctx context.Context, vs *snapshotv1.VolumeSnapshot) (*snapshotv1.VolumeSnapshotClass, string, error) {
	if name := vs.Spec.VolumeSnapshotClassName; name != nil && *name != "" {
		c := &snapshotv1.VolumeSnapshotClass{}
		if err := s.client.Get(ctx, client.ObjectKey{Name: *name}, c); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Sprintf("failed to get input parameters to create snapshot %s: VolumeSnapshotClass %q not found", vs.Name, *name), nil
			}
			return nil, "", err
		}
		return c, "", nil
	}
	var list snapshotv1.VolumeSnapshotClassList
	if err := s.client.List(ctx, &list); err != nil {
		return nil, "", err
	}
	for i := range list.Items {
		c := &list.Items[i]
		if c.Driver == csiDriver && c.Annotations[defaultSnapshotClassAnnotation] == "true" {
			return c, "", nil
		}
	}
	return nil, fmt.Sprintf("cannot find default snapshot class for driver %s", csiDriver), nil
}
