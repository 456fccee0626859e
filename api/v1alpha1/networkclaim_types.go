package v1alpha1

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkClaimType says what a claim holds.
// +kubebuilder:validation:Enum=PrivateAddress;PublicAddress;VLAN
type NetworkClaimType string

const (
	// ClaimPrivateAddress holds an address of a subnet (scope: the subnet's ID) for an
	// Instance.
	ClaimPrivateAddress NetworkClaimType = "PrivateAddress"
	// ClaimPublicAddress holds an address of an address pool (scope: the pool's name)
	// for an Address.
	ClaimPublicAddress NetworkClaimType = "PublicAddress"
	// ClaimVLAN holds a VLAN ID of a provider network (scope: the network's name) for a
	// Network.
	ClaimVLAN NetworkClaimType = "VLAN"
)

// ClaimHolder names the object a claim is held for.
type ClaimHolder struct {
	// namespace of the holder.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name of the holder.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// id is the holder's EC2 ID, so that a namesake made later is not taken for it.
	// +required
	// +kubebuilder:validation:MaxLength=32
	ID string `json:"id"`
}

// NetworkClaimSpec is one number of a network that one object holds.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a claim cannot be changed"
type NetworkClaimSpec struct {
	// type is what is held.
	// +required
	Type NetworkClaimType `json:"type"`

	// scope is where the value is unique: a subnet's ID, an address pool's name, a
	// provider network's name.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Scope string `json:"scope"`

	// value is the address or VLAN ID held.
	// +required
	// +kubebuilder:validation:MaxLength=45
	Value string `json:"value"`

	// holder is the object that holds the value.
	// +required
	Holder ClaimHolder `json:"holder"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=koala
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Scope",type=string,JSONPath=`.spec.scope`
// +kubebuilder:printcolumn:name="Value",type=string,JSONPath=`.spec.value`
// +kubebuilder:printcolumn:name="Holder",type=string,JSONPath=`.spec.holder.id`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// NetworkClaim holds one address or VLAN for one object. Its name is made of its scope
// and value (ClaimName), so the API server refuses a second claim of the same value:
// that is what keeps two instances, two Elastic IPs or two VPCs from ever getting the
// same one, across every EC2 endpoint replica and the operator. Koala's components make
// and remove claims; nobody else should. It is cluster-scoped because public addresses
// and VLANs are shared by all accounts.
type NetworkClaim struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says what is held, and by whom.
	// +required
	Spec NetworkClaimSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// NetworkClaimList is a list of claims.
type NetworkClaimList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkClaim `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NetworkClaim{}, &NetworkClaimList{})
}

// ClaimName is the object name of the claim on a value: "<subnet-id>.<address>" for a
// private address, "eip.<address>" for a public one (addresses are unique across
// pools), "vlan.<provider network>.<id>" for a VLAN.
func ClaimName(t NetworkClaimType, scope, value string) string {
	switch t {
	case ClaimPublicAddress:
		return "eip." + value
	case ClaimVLAN:
		return "vlan." + scope + "." + value
	default:
		return scope + "." + value
	}
}

// VLANClaimName is the claim name of a VLAN ID.
func VLANClaimName(providerNetwork string, vlan int32) string {
	return ClaimName(ClaimVLAN, providerNetwork, strconv.Itoa(int(vlan)))
}
