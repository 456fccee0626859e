package controllers_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/netobjects"
	"github.com/koala-dev/koala/internal/testgen"
)

// availableSubnet makes a VPC and a subnet in it, as a kubectl user would, and waits
// until the operator reports both available.
func availableSubnet(t *testing.T, g Gomega, ns, vpcCIDR, subnetCIDR string) (*koalav1.Network, *koalav1.Subnet) {
	t.Helper()
	ctx := context.Background()
	vpc := &koalav1.Network{ObjectMeta: metav1.ObjectMeta{Name: "vpc", Namespace: ns}, Spec: koalav1.NetworkSpec{CIDRBlock: vpcCIDR}}
	g.Expect(k8s.Create(ctx, vpc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, vpc)
		g.Expect(vpc.Status.State).To(Equal(koalav1.NetworkStateAvailable))
		g.Expect(vpc.Status.DefaultSecurityGroupID).NotTo(BeEmpty())
	}, timeout).Should(Succeed())
	sub := &koalav1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: "sub", Namespace: ns},
		Spec: koalav1.SubnetSpec{VPCID: vpc.Status.VPCID, CIDRBlock: subnetCIDR}}
	g.Expect(k8s.Create(ctx, sub)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, sub)
		g.Expect(sub.Status.State).To(Equal(koalav1.NetworkStateAvailable))
	}, timeout).Should(Succeed())
	return vpc, sub
}

func vmOf(g Gomega, inst *koalav1.Instance) *kubevirtv1.VirtualMachine {
	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	return vm
}

func vmiOf(g Gomega, inst *koalav1.Instance) *kubevirtv1.VirtualMachineInstance {
	vmi := &kubevirtv1.VirtualMachineInstance{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vmi)).To(Succeed())
	return vmi
}

// guestSubnetIP is the address the guest reports on its subnet interface.
func guestSubnetIP(g Gomega, inst *koalav1.Instance) string {
	for _, iface := range vmiOf(g, inst).Status.Interfaces {
		if iface.Name == netobjects.SubnetNetworkName {
			return iface.IP
		}
	}
	return ""
}

func TestAnInstanceOnASubnetKeepsItsAddressAcrossStopStartAnOperatorRestartAndAReboot(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	vpc, sub := availableSubnet(t, g, ns, "10.20.0.0/16", "10.20.1.0/24")
	inst := running(t, g, ns, testgen.WithSubnet(sub.Status.SubnetID))

	addr := inst.Status.PrivateIPAddress
	g.Expect(netip.MustParsePrefix("10.20.1.0/24").Contains(netip.MustParseAddr(addr))).To(BeTrue(), "address %s", addr)
	g.Expect(inst.Status.SubnetID).To(Equal(sub.Status.SubnetID))
	g.Expect(inst.Status.VPCID).To(Equal(vpc.Status.VPCID))
	g.Expect(inst.Status.SecurityGroupIDs).To(Equal([]string{vpc.Status.DefaultSecurityGroupID}))

	// The VM: an interface on the subnet's attachment, the address in the guest's
	// network data, the member label of the default group on the template.
	vm := vmOf(g, inst)
	tmpl := vm.Spec.Template
	g.Expect(tmpl.Spec.Networks).To(ContainElement(kubevirtv1.Network{Name: netobjects.SubnetNetworkName,
		NetworkSource: kubevirtv1.NetworkSource{Multus: &kubevirtv1.MultusNetwork{NetworkName: ns + "/" + sub.Status.NetworkAttachmentDefinition}}}))
	var netData string
	for _, v := range tmpl.Spec.Volumes {
		if v.CloudInitNoCloud != nil {
			netData = v.CloudInitNoCloud.NetworkData
		}
	}
	g.Expect(netData).To(ContainSubstring(addr + "/16"))
	g.Expect(tmpl.ObjectMeta.Labels).To(HaveKeyWithValue(koalav1.SecurityGroupMemberLabel(vpc.Status.DefaultSecurityGroupID), netobjects.MemberValue))
	// The guest reports it, as the guest agent would.
	g.Eventually(func(g Gomega) { g.Expect(guestSubnetIP(g, inst)).To(Equal(addr)) }, timeout).Should(Succeed())
	// The claim that holds it.
	claim := &koalav1.NetworkClaim{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: koalav1.ClaimName(koalav1.ClaimPrivateAddress, sub.Status.SubnetID, addr)}, claim)).To(Succeed())
	g.Expect(claim.Spec.Holder.ID).To(Equal(inst.Status.InstanceID))

	setState(g, inst, koalav1.DesiredStateStopped)
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateStopped))
	}, timeout).Should(Succeed())
	g.Expect(inst.Status.PrivateIPAddress).To(Equal(addr), "a stopped instance keeps its address")

	stopOperator()
	var err error
	stopOperator, err = startOperator(context.Background())
	g.Expect(err).NotTo(HaveOccurred())

	setState(g, inst, koalav1.DesiredStateRunning)
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
		g.Expect(guestSubnetIP(g, inst)).To(Equal(addr))
	}, timeout).Should(Succeed())
	g.Expect(inst.Status.PrivateIPAddress).To(Equal(addr))

	// A reboot replaces the guest; the new one has the same address.
	oldUID := vmiOf(g, inst).UID
	patch := client.MergeFrom(inst.DeepCopy())
	inst.Annotations = map[string]string{koalav1.RebootRequestedAnnotation: time.Now().Format(time.RFC3339Nano)}
	g.Expect(k8s.Patch(ctx, inst, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		vmi := vmiOf(g, inst)
		g.Expect(vmi.UID).NotTo(Equal(oldUID))
		g.Expect(vmi.Status.Phase).To(Equal(kubevirtv1.Running))
		g.Expect(guestSubnetIP(g, inst)).To(Equal(addr))
	}, timeout).Should(Succeed())
	get(g, inst)
	g.Expect(inst.Status.PrivateIPAddress).To(Equal(addr))

	// Terminated, it gives the address back.
	setState(g, inst, koalav1.DesiredStateTerminated)
	g.Eventually(func(g Gomega) {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(claim), &koalav1.NetworkClaim{})
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		g.Expect(err).To(HaveOccurred(), "the terminated instance still holds %s", addr)
	}, timeout).Should(Succeed())
}

func TestTwoHundredConcurrentLaunchesIntoOneSubnetGetDistinctAddresses(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	_, sub := availableSubnet(t, g, ns, "10.30.0.0/16", "10.30.0.0/24")
	img := availableImage(t, g, ns)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// Stopped: the address is taken at launch all the same, and the simulator
			// has no guests to run.
			inst := testgen.Instance(fmt.Sprintf("i%03d", i), ns, img.Status.ImageID,
				testgen.WithSubnet(sub.Status.SubnetID), testgen.WithState(koalav1.DesiredStateStopped))
			errs <- k8s.Create(ctx, inst)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Eventually(func(g Gomega) {
		var list koalav1.InstanceList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		seen := map[string]string{}
		for _, inst := range list.Items {
			a := inst.Status.PrivateIPAddress
			g.Expect(a).NotTo(BeEmpty(), "%s has no address yet", inst.Name)
			g.Expect(seen).NotTo(HaveKey(a), "%s and %s share %s", inst.Name, seen[a], a)
			seen[a] = inst.Name
		}
		g.Expect(seen).To(HaveLen(n))
	}, 3*time.Minute, time.Second).Should(Succeed())
	var claims koalav1.NetworkClaimList
	g.Expect(k8s.List(ctx, &claims)).To(Succeed())
	held := 0
	for _, c := range claims.Items {
		if c.Spec.Scope == sub.Status.SubnetID {
			held++
		}
	}
	g.Expect(held).To(Equal(n), "one claim per instance, none left over")
	g.Eventually(func(g Gomega) {
		get(g, sub)
		g.Expect(sub.Status.AvailableIPAddressCount).To(Equal(int64(251 - n)))
	}, timeout).Should(Succeed())
}

func TestASlash28FillsUpAndSaysSoAndATakenAddressIsRefused(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	_, sub := availableSubnet(t, g, ns, "10.40.0.0/24", "10.40.0.16/28")
	img := availableImage(t, g, ns)
	// A /28 has 16 addresses; EC2 keeps the first four and the last.
	var first *koalav1.Instance
	for i := range 11 {
		inst := testgen.Instance(fmt.Sprintf("i%02d", i), ns, img.Status.ImageID,
			testgen.WithSubnet(sub.Status.SubnetID), testgen.WithState(koalav1.DesiredStateStopped))
		g.Expect(k8s.Create(ctx, inst)).To(Succeed())
		if first == nil {
			first = inst
		}
	}
	g.Eventually(func(g Gomega) {
		var list koalav1.InstanceList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		for _, inst := range list.Items {
			g.Expect(inst.Status.PrivateIPAddress).NotTo(BeEmpty())
			a := netip.MustParseAddr(inst.Status.PrivateIPAddress)
			g.Expect(a.Compare(netip.MustParseAddr("10.40.0.20"))).To(BeNumerically(">=", 0), "reserved address %s", a)
			g.Expect(a.Compare(netip.MustParseAddr("10.40.0.30"))).To(BeNumerically("<=", 0), "reserved address %s", a)
		}
	}, timeout).Should(Succeed())

	full := testgen.Instance("full", ns, img.Status.ImageID, testgen.WithSubnet(sub.Status.SubnetID))
	g.Expect(k8s.Create(ctx, full)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, full)
		g.Expect(full.Status.State).To(Equal(koalav1.InstanceStatePending))
		g.Expect(full.Status.StateReason).NotTo(BeNil())
		g.Expect(full.Status.StateReason.Code).To(Equal("Client.InsufficientFreeAddressesInSubnet"))
		c := readyCondition(full)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(koalav1.InstanceReasonSubnetFull))
	}, timeout).Should(Succeed())
	g.Expect(full.Status.PrivateIPAddress).To(BeEmpty())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(full), &kubevirtv1.VirtualMachine{})).NotTo(Succeed(), "no VM without an address")

	get(g, first)
	taken := testgen.Instance("taken", ns, img.Status.ImageID, testgen.WithSubnet(sub.Status.SubnetID),
		testgen.WithPrivateIP(first.Status.PrivateIPAddress))
	g.Expect(k8s.Create(ctx, taken)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, taken)
		c := readyCondition(taken)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(koalav1.InstanceReasonAddressInUse))
	}, timeout).Should(Succeed())
}

func TestAnInstanceAsksForItsAddressAndChangingItsGroupsRelabelsTheRunningGuest(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	vpc, sub := availableSubnet(t, g, ns, "10.50.0.0/16", "10.50.3.0/24")
	web := &koalav1.SecurityGroup{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: koalav1.SecurityGroupSpec{VPCID: vpc.Status.VPCID, GroupName: "web", Description: "web",
			Ingress: []koalav1.SecurityGroupRule{{Protocol: "tcp", FromPort: ptr(int32(443)), ToPort: ptr(int32(443)), CIDRIPv4: "0.0.0.0/0"}},
			Egress:  []koalav1.SecurityGroupRule{{Protocol: "-1", CIDRIPv4: "0.0.0.0/0"}}}}
	g.Expect(k8s.Create(ctx, web)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, web)
		g.Expect(web.Status.GroupID).NotTo(BeEmpty())
	}, timeout).Should(Succeed())
	dflt := vpc.Status.DefaultSecurityGroupID
	inst := running(t, g, ns, testgen.WithSubnet(sub.Status.SubnetID), testgen.WithPrivateIP("10.50.3.77"),
		testgen.WithSecurityGroups(dflt, web.Status.GroupID))
	g.Expect(inst.Status.PrivateIPAddress).To(Equal("10.50.3.77"))
	webLabel, dfltLabel := koalav1.SecurityGroupMemberLabel(web.Status.GroupID), koalav1.SecurityGroupMemberLabel(dflt)
	g.Eventually(func(g Gomega) {
		g.Expect(vmiOf(g, inst).Labels).To(HaveKey(webLabel))
		g.Expect(vmiOf(g, inst).Labels).To(HaveKey(dfltLabel))
	}, timeout).Should(Succeed())

	// The web group's policy selects its members by that label.
	np := &networkingv1.NetworkPolicy{}
	g.Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: netobjects.PolicyName(web.Status.GroupID)}, np)
	}, timeout).Should(Succeed())
	g.Expect(np.Spec.PodSelector.MatchLabels).To(HaveKeyWithValue(webLabel, netobjects.MemberValue))

	// Leaving the web group takes effect on the running guest, not at its next start.
	get(g, inst)
	base := inst.DeepCopy()
	inst.Spec.SecurityGroupIDs = []string{dflt}
	g.Expect(k8s.Patch(ctx, inst, client.MergeFrom(base))).To(Succeed())
	g.Eventually(func(g Gomega) {
		vmi := vmiOf(g, inst)
		g.Expect(vmi.Labels).NotTo(HaveKey(webLabel))
		g.Expect(vmi.Labels).To(HaveKey(dfltLabel))
		g.Expect(vmOf(g, inst).Spec.Template.ObjectMeta.Labels).NotTo(HaveKey(webLabel))
		get(g, inst)
		g.Expect(inst.Status.SecurityGroupIDs).To(Equal([]string{dflt}))
	}, timeout).Should(Succeed())
	g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
}

func ptr[T any](v T) *T { return &v }
