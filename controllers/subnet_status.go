package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// subnetObservation is what a subnet's status is computed from.
type subnetObservation struct {
	id, zone, nad string
	// available is the free address count, known when counted.
	available int64
	counted   bool
	blocked   *metav1.Condition
	deleting  bool
}

// setSubnetStatus computes a subnet's status in place. It is pure.
func setSubnetStatus(st *koalav1.SubnetStatus, o subnetObservation) {
	st.SubnetID = o.id
	if o.zone != "" {
		st.AvailabilityZone = o.zone
	}
	if o.nad != "" {
		st.NetworkAttachmentDefinition = o.nad
	}
	if o.counted {
		st.AvailableIPAddressCount = o.available
	}
	cond := condition(true, koalav1.SubnetReasonAvailable, "The subnet is available")
	switch {
	case o.blocked != nil:
		cond = *o.blocked
	case o.deleting:
		cond = condition(false, koalav1.SubnetReasonDeleting, "The subnet is being deleted")
	case o.nad == "":
		cond = condition(false, koalav1.SubnetReasonVPCNotAvailable, "The subnet's attachment is not in place yet")
	}
	st.State = koalav1.NetworkStatePending
	if cond.Status == metav1.ConditionTrue {
		st.State = koalav1.NetworkStateAvailable
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}
