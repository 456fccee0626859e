package netobjects

import (
	"encoding/json"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// bridgeConfig is the bridge CNI plugin's configuration of a subnet's attachment.
type bridgeConfig struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Bridge     string `json:"bridge"`
	VLAN       int32  `json:"vlan,omitempty"`
	// PreserveDefaultVLAN false keeps the port out of the bridge's default VLAN, so a
	// VPC's segment does not leak into the untagged one.
	PreserveDefaultVLAN *bool `json:"preserveDefaultVlan,omitempty"`
	MTU                 int32 `json:"mtu,omitempty"`
	// IPAM is empty: Koala assigns the addresses and gives them to the guest through
	// cloud-init, so the pod's interface needs none (KubeVirt's bridge binding would
	// otherwise take it over), and no CNI IPAM plugin can hand out another's address.
	IPAM struct{} `json:"ipam"`
}

// NADName is the name of a subnet's NetworkAttachmentDefinition: its ID.
func NADName(subnetID string) string { return subnetID }

// NetworkAttachmentDefinition renders a subnet's attachment: the bridge CNI plugin on
// the provider network's bridge, in the VPC's VLAN (0: untagged).
func NetworkAttachmentDefinition(subnet *koalav1.Subnet, pn *koalav1.ProviderNetwork, vlan int32) *nadv1.NetworkAttachmentDefinition {
	cfg := bridgeConfig{
		CNIVersion: "0.3.1",
		Name:       subnet.Namespace + "-" + subnet.EC2ID(),
		Type:       "bridge",
		Bridge:     pn.Spec.Bridge,
		MTU:        pn.Spec.MTU,
	}
	if vlan > 0 {
		preserve := false
		cfg.VLAN, cfg.PreserveDefaultVLAN = vlan, &preserve
	}
	raw, _ := json.Marshal(cfg) // a struct of strings and numbers: cannot fail
	return &nadv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{
			Name:      NADName(subnet.EC2ID()),
			Namespace: subnet.Namespace,
			Labels:    map[string]string{koalav1.SubnetNameLabel: subnet.Name},
		},
		Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: string(raw)},
	}
}
