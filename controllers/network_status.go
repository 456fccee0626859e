package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// networkObservation is what a VPC's status is computed from.
type networkObservation struct {
	id              string
	providerNetwork *koalav1.ProviderNetwork // nil when not settled
	vlan            int32
	// blocked says why the VPC is not available; nil when nothing does.
	blocked  *metav1.Condition
	deleting bool
}

// setNetworkStatus computes a VPC's status in place. It is pure.
func setNetworkStatus(st *koalav1.NetworkStatus, o networkObservation) {
	st.VPCID = o.id
	if o.providerNetwork != nil {
		st.ProviderNetwork = o.providerNetwork.Name
		st.VLAN = o.vlan
	}
	cond := condition(true, koalav1.NetworkReasonAvailable, "The VPC is available")
	switch {
	case o.blocked != nil:
		cond = *o.blocked
	case o.deleting:
		cond = condition(false, koalav1.NetworkReasonDeleting, "The VPC is being deleted")
	}
	st.State = koalav1.NetworkStatePending
	if cond.Status == metav1.ConditionTrue {
		st.State = koalav1.NetworkStateAvailable
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}
