package kubevirtsim

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ownerVMGone reports whether obj is controlled by a VirtualMachine that no longer
// exists.
func (s *simulator) ownerVMGone(ctx context.Context, obj client.Object) (bool, error) {
	return s.ownerGone(ctx, obj, "VirtualMachine", &virtv1.VirtualMachine{})
}

// ownerGone reports whether obj's controller, of kind, no longer exists (a different
// object of the same name counts as gone). Absence in the cache is confirmed with an
// uncached read before it is believed.
func (s *simulator) ownerGone(ctx context.Context, obj client.Object, kind string, owner client.Object) (bool, error) {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != kind {
		return false, nil
	}
	key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: ref.Name}
	err := s.client.Get(ctx, key, owner)
	if err == nil && owner.GetUID() == ref.UID {
		return false, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	err = s.reader.Get(ctx, key, owner)
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, err
	}
	return owner.GetUID() != ref.UID, nil
}
