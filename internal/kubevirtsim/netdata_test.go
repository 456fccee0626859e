package kubevirtsim

import (
	"testing"

	virtv1 "kubevirt.io/api/core/v1"
)

func TestAGuestReportsTheStaticAddressItsNetworkDataGivesTheInterfacesMAC(t *testing.T) {
	vmi := &virtv1.VirtualMachineInstance{}
	vmi.UID = "uid-1"
	vmi.Spec.Networks = []virtv1.Network{
		{Name: "default", NetworkSource: virtv1.NetworkSource{Pod: &virtv1.PodNetwork{}}},
		{Name: "vpc", NetworkSource: virtv1.NetworkSource{Multus: &virtv1.MultusNetwork{NetworkName: "ns/subnet-1"}}},
		{Name: "other", NetworkSource: virtv1.NetworkSource{Multus: &virtv1.MultusNetwork{NetworkName: "ns/other"}}},
	}
	vmi.Spec.Domain.Devices.Interfaces = []virtv1.Interface{
		{Name: "default", MacAddress: "02:00:00:00:00:01"},
		{Name: "vpc", MacAddress: "02:AB:00:00:00:02"},
		{Name: "other", MacAddress: "02:00:00:00:00:03"},
	}
	vmi.Spec.Volumes = []virtv1.Volume{{Name: "cloudinitdisk", VolumeSource: virtv1.VolumeSource{CloudInitNoCloud: &virtv1.CloudInitNoCloudSource{
		NetworkData: "version: 2\nethernets:\n  default:\n    match:\n      macaddress: \"02:00:00:00:00:01\"\n    dhcp4: true\n" +
			"  vpc:\n    match:\n      macaddress: \"02:ab:00:00:00:02\"\n    dhcp4: false\n    addresses:\n      - 10.0.1.9/16\n",
	}}}}
	got := map[string]string{}
	for _, iface := range vmiInterfaces(vmi, "10.244.0.7") {
		got[iface.Name] = iface.IP
	}
	want := map[string]string{"default": "10.244.0.7", "vpc": "10.0.1.9", "other": ""}
	for name, ip := range want {
		if got[name] != ip {
			t.Errorf("interface %s reports %q, want %q", name, got[name], ip)
		}
	}
}
