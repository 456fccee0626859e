// Package instancetypes answers EC2's DescribeInstanceTypes from the
// VirtualMachineClusterInstancetypes the cluster holds: Koala's catalog and any an
// admin adds.
package instancetypes

import (
	"context"

	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"

	"github.com/koala-dev/koala/internal/ec2/action"
)

// Store is what the handlers read.
type Store interface {
	// InstanceTypes returns every VirtualMachineClusterInstancetype, read-only.
	InstanceTypes(ctx context.Context) ([]instancetypev1beta1.VirtualMachineClusterInstancetype, error)
}

// Handlers answers the instance type actions.
type Handlers struct {
	Store Store
}

// Actions returns the instance type actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("DescribeInstanceTypes", false, parseDescribe, h.describe),
	}
}
