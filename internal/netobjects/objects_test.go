package netobjects

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

func TestNetworkAttachmentDefinitionPutsTheSubnetOnTheProviderBridge(t *testing.T) {
	subnet := &koalav1.Subnet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
		Status:     koalav1.SubnetStatus{SubnetID: "subnet-0000000000000000a"},
	}
	cases := map[string]struct {
		pn   koalav1.ProviderNetworkSpec
		vlan int32
		want map[string]any
	}{
		"a vlan network tags the VPC's VLAN and leaves the default VLAN": {
			pn:   koalav1.ProviderNetworkSpec{Type: koalav1.ProviderNetworkVLAN, Bridge: "br-provider", MTU: 9000},
			vlan: 101,
			want: map[string]any{"cniVersion": "0.3.1", "name": "team-a-subnet-0000000000000000a", "type": "bridge", "bridge": "br-provider",
				"vlan": float64(101), "preserveDefaultVlan": false, "mtu": float64(9000), "ipam": map[string]any{}},
		},
		"a bridge network is untagged": {
			pn:   koalav1.ProviderNetworkSpec{Type: koalav1.ProviderNetworkBridge, Bridge: "br-flat"},
			want: map[string]any{"cniVersion": "0.3.1", "name": "team-a-subnet-0000000000000000a", "type": "bridge", "bridge": "br-flat", "ipam": map[string]any{}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			nad := NetworkAttachmentDefinition(subnet, &koalav1.ProviderNetwork{Spec: tc.pn}, tc.vlan)
			if nad.Name != "subnet-0000000000000000a" || nad.Namespace != "team-a" || nad.Labels[koalav1.SubnetNameLabel] != "web" {
				t.Errorf("metadata %s/%s %v", nad.Namespace, nad.Name, nad.Labels)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(nad.Spec.Config), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForwardedPorts(t *testing.T) {
	web := group([]koalav1.SecurityGroupRule{
		rule("tcp", 22, 22, "0.0.0.0/0", ""),
		rule("tcp", 80, 81, "0.0.0.0/0", ""),
		rule("udp", 53, 53, "10.0.0.0/8", ""),
		rule("tcp", 5432, 5432, "", lbID), // members only: not through the Elastic IP
		rule("-1", 0, 0, "0.0.0.0/0", ""), // every protocol: no port in particular
		rule("icmp", -1, -1, "0.0.0.0/0", ""),
	}, nil)
	other := group([]koalav1.SecurityGroupRule{rule("tcp", 22, 22, "10.0.0.0/8", "")}, nil)
	got, truncated := ForwardedPorts([]*koalav1.SecurityGroup{web, other})
	want := []corev1.ServicePort{
		{Name: "tcp-22", Protocol: corev1.ProtocolTCP, Port: 22, TargetPort: intstr.FromInt32(22)},
		{Name: "udp-53", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
		{Name: "tcp-80", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)},
		{Name: "tcp-81", Protocol: corev1.ProtocolTCP, Port: 81, TargetPort: intstr.FromInt32(81)},
	}
	if diff := cmp.Diff(want, got); diff != "" || truncated {
		t.Errorf("ports (-want +got), truncated %v:\n%s", truncated, diff)
	}
	wide := group([]koalav1.SecurityGroupRule{rule("tcp", 1024, 65535, "0.0.0.0/0", "")}, nil)
	got, truncated = ForwardedPorts([]*koalav1.SecurityGroup{wide})
	if !truncated || len(got) != MaxForwardedPorts || got[0].Port != 1024 {
		t.Errorf("a wide range gave %d ports from %d, truncated %v", len(got), got[0].Port, truncated)
	}
}

func TestLoadBalancerServiceAsksMetalLBForTheAddress(t *testing.T) {
	addr := &koalav1.Address{ObjectMeta: metav1.ObjectMeta{Name: "eip-web", Namespace: "team-a"},
		Status: koalav1.AddressStatus{AllocationID: "eipalloc-0000000000000000a"}}
	ports := []corev1.ServicePort{{Name: "tcp-22", Protocol: corev1.ProtocolTCP, Port: 22, TargetPort: intstr.FromInt32(22)}}
	svc := LoadBalancerService(addr, "203.0.113.7", "web", ports, "koala-public")
	single := corev1.IPFamilyPolicySingleStack
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "eipalloc-0000000000000000a", Namespace: "team-a",
			Labels: map[string]string{"cloud.koala.dev/address": "eip-web"},
			Annotations: map[string]string{"metallb.universe.tf/loadBalancerIPs": "203.0.113.7",
				"metallb.universe.tf/address-pool": "koala-public"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"cloud.koala.dev/instance": "web"},
			Ports: ports, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: &single,
		},
	}
	if diff := cmp.Diff(want, svc); diff != "" {
		t.Errorf("Service (-want +got):\n%s", diff)
	}
}

func TestNetworkDataGivesTheGuestItsAddressWithTheVPCsPrefix(t *testing.T) {
	got, err := NetworkData("i-0000000000000000a", "10.0.1.5", "10.0.0.0/16", 9000)
	if err != nil {
		t.Fatal(err)
	}
	want := "version: 2\nethernets:\n" +
		"  default:\n    match:\n      macaddress: \"" + MACAddress("i-0000000000000000a", "default") + "\"\n    dhcp4: true\n" +
		"  vpc:\n    match:\n      macaddress: \"" + MACAddress("i-0000000000000000a", "vpc") + "\"\n    dhcp4: false\n" +
		"    addresses:\n      - 10.0.1.5/16\n    mtu: 9000\n"
	if got != want {
		t.Errorf("network data:\n%s\nwant:\n%s", got, want)
	}
	if _, err := NetworkData("i-0000000000000000a", "10.1.0.5", "10.0.0.0/16", 0); err == nil {
		t.Error("an address outside the VPC was accepted")
	}
	mac := MACAddress("i-0000000000000000a", "vpc")
	if !strings.HasPrefix(mac, "02:") || mac == MACAddress("i-0000000000000000b", "vpc") || mac != MACAddress("i-0000000000000000a", "vpc") {
		t.Errorf("MAC %s is not stable, local and distinct", mac)
	}
}
