package netobjects

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
)

// Names of the networks (and interfaces) of an instance's VM.
const (
	// PodNetworkName is the pod network: the guest's default route and DNS, and the
	// way in for an Elastic IP's Service.
	PodNetworkName = "default"
	// SubnetNetworkName is the instance's interface on its subnet, with the address
	// Koala assigned.
	SubnetNetworkName = "vpc"
)

// MACAddress is the stable MAC of an instance's interface: locally administered,
// derived from the instance's ID, so that the guest's network configuration (which
// matches interfaces by MAC) holds across restarts.
func MACAddress(instanceID, network string) string {
	sum := sha256.Sum256([]byte(instanceID + "\x00" + network))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
}

// NetworkData is the cloud-init network configuration (version 2) of an instance on a
// subnet: DHCP on the pod network (default route, DNS), and the assigned address on
// the subnet's interface with the VPC's prefix length, so that the whole VPC, which
// shares one segment of the provider network, is reached directly. mtu 0 leaves the
// interface's default.
func NetworkData(instanceID, address, vpcCIDR string, mtu int32) (string, error) {
	a, err := netip.ParseAddr(address)
	if err != nil || !a.Is4() {
		return "", fmt.Errorf("the instance's address %q is not an IPv4 address", address)
	}
	vpc, err := netip.ParsePrefix(vpcCIDR)
	if err != nil || !vpc.Contains(a) {
		return "", fmt.Errorf("the instance's address %s is not in its VPC %s", address, vpcCIDR)
	}
	var b strings.Builder
	b.WriteString("version: 2\nethernets:\n")
	fmt.Fprintf(&b, "  %s:\n    match:\n      macaddress: %q\n    dhcp4: true\n", PodNetworkName, MACAddress(instanceID, PodNetworkName))
	fmt.Fprintf(&b, "  %s:\n    match:\n      macaddress: %q\n    dhcp4: false\n    addresses:\n      - %s/%d\n",
		SubnetNetworkName, MACAddress(instanceID, SubnetNetworkName), a, vpc.Bits())
	if mtu > 0 {
		fmt.Fprintf(&b, "    mtu: %d\n", mtu)
	}
	return b.String(), nil
}
