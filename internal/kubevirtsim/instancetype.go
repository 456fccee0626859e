package kubevirtsim

import (
	"context"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
)

const (
	instancetypeKindCluster    = "VirtualMachineClusterInstancetype"
	instancetypeKindNamespaced = "VirtualMachineInstancetype"

	// reasonFailedFindInstancetype is KubeVirt's reason on the VM's Failure condition
	// when the referenced instancetype cannot be found.
	reasonFailedFindInstancetype = "FailedFindInstancetype"
)

// instancetypeKind is the kind a matcher names; KubeVirt defaults an empty kind to the
// cluster-wide one.
func instancetypeKind(m *virtv1.InstancetypeMatcher) string {
	if m.Kind == "" {
		return instancetypeKindCluster
	}
	return m.Kind
}

// findInstancetype returns the spec of the instancetype vm references (nil when it
// references none). An instancetype that does not exist is a syncError with KubeVirt's
// reason and the API server's message.
func (s *simulator) findInstancetype(ctx context.Context, vm *virtv1.VirtualMachine) (*instancetypev1beta1.VirtualMachineInstancetypeSpec, error) {
	m := vm.Spec.Instancetype
	if m == nil || m.Name == "" {
		return nil, nil
	}
	var err error
	switch kind := instancetypeKind(m); kind {
	case instancetypeKindCluster:
		it := &instancetypev1beta1.VirtualMachineClusterInstancetype{}
		if err = s.client.Get(ctx, types.NamespacedName{Name: m.Name}, it); err == nil {
			return &it.Spec, nil
		}
	case instancetypeKindNamespaced:
		it := &instancetypev1beta1.VirtualMachineInstancetype{}
		if err = s.client.Get(ctx, types.NamespacedName{Namespace: vm.Namespace, Name: m.Name}, it); err == nil {
			return &it.Spec, nil
		}
	default:
		return nil, &syncError{reason: reasonFailedFindInstancetype, message: fmt.Sprintf("got unexpected kind in InstancetypeMatcher: %s", kind)}
	}
	if apierrors.IsNotFound(err) {
		return nil, &syncError{reason: reasonFailedFindInstancetype, message: err.Error()}
	}
	return nil, fmt.Errorf("getting instancetype %s: %w", m.Name, err)
}

// applyInstancetype expands an instancetype into a VMI spec as KubeVirt does: the guest
// vCPUs become sockets (KubeVirt's default preferred topology, PreferSockets), the guest
// memory becomes domain.memory.guest, and the instancetype's node selector joins the
// VMI's. It returns the annotation KubeVirt puts on the VMI naming the instancetype.
func applyInstancetype(m *virtv1.InstancetypeMatcher, it *instancetypev1beta1.VirtualMachineInstancetypeSpec, spec *virtv1.VirtualMachineInstanceSpec) (annotationKey string) {
	if spec.Domain.CPU == nil {
		spec.Domain.CPU = &virtv1.CPU{}
	}
	spec.Domain.CPU.Sockets = it.CPU.Guest
	spec.Domain.CPU.Cores = 1
	spec.Domain.CPU.Threads = 1
	if it.CPU.Model != nil {
		spec.Domain.CPU.Model = *it.CPU.Model
	}
	if it.CPU.DedicatedCPUPlacement != nil {
		spec.Domain.CPU.DedicatedCPUPlacement = *it.CPU.DedicatedCPUPlacement
	}
	if spec.Domain.Memory == nil {
		spec.Domain.Memory = &virtv1.Memory{}
	}
	guest := it.Memory.Guest.DeepCopy()
	spec.Domain.Memory.Guest = &guest
	if it.Memory.Hugepages != nil {
		spec.Domain.Memory.Hugepages = it.Memory.Hugepages.DeepCopy()
	}
	if len(it.NodeSelector) > 0 {
		if spec.NodeSelector == nil {
			spec.NodeSelector = map[string]string{}
		}
		maps.Copy(spec.NodeSelector, it.NodeSelector)
	}
	if instancetypeKind(m) == instancetypeKindNamespaced {
		return virtv1.InstancetypeAnnotation
	}
	return virtv1.ClusterInstancetypeAnnotation
}

// syncError is a failure to act on a VM that KubeVirt reports in the VM's Failure
// condition (rather than retrying it as an error).
type syncError struct {
	reason  string
	message string
}

func (e *syncError) Error() string { return e.message }
