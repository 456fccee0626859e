package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/netobjects"
	"github.com/koala-dev/koala/internal/testgen"
)

func TestAnElasticIPBecomesALoadBalancerServiceOfItsInstancesOpenPortsAndGoesAwayWhenReleased(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	pool := &koalav1.AddressPool{ObjectMeta: metav1.ObjectMeta{Name: "eip-" + ns},
		Spec: koalav1.AddressPoolSpec{Addresses: []string{"198.51.100.10-198.51.100.10"}, MetalLBAddressPool: "public"}}
	g.Expect(k8s.Create(ctx, pool)).To(Succeed())
	vpc, sub := availableSubnet(t, g, ns, "10.60.0.0/16", "10.60.1.0/24")
	web := &koalav1.SecurityGroup{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: koalav1.SecurityGroupSpec{VPCID: vpc.Status.VPCID, GroupName: "web", Description: "web",
			Ingress: []koalav1.SecurityGroupRule{
				{Protocol: "tcp", FromPort: ptr(int32(80)), ToPort: ptr(int32(80)), CIDRIPv4: "0.0.0.0/0"},
				{Protocol: "udp", FromPort: ptr(int32(53)), ToPort: ptr(int32(53)), CIDRIPv4: "10.0.0.0/8"},
			},
			Egress: []koalav1.SecurityGroupRule{{Protocol: "-1", CIDRIPv4: "0.0.0.0/0"}}}}
	g.Expect(k8s.Create(ctx, web)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, web)
		g.Expect(web.Status.GroupID).NotTo(BeEmpty())
	}, timeout).Should(Succeed())
	inst := running(t, g, ns, testgen.WithSubnet(sub.Status.SubnetID), testgen.WithSecurityGroups(web.Status.GroupID))

	addr := &koalav1.Address{ObjectMeta: metav1.ObjectMeta{Name: "eip", Namespace: ns},
		Spec: koalav1.AddressSpec{Pool: pool.Name, InstanceID: inst.Status.InstanceID}}
	g.Expect(k8s.Create(ctx, addr)).To(Succeed())
	svc := &corev1.Service{}
	g.Eventually(func(g Gomega) {
		get(g, addr)
		g.Expect(addr.Status.PublicIP).To(Equal("198.51.100.10"))
		g.Expect(addr.Status.ServiceName).NotTo(BeEmpty())
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: addr.Status.ServiceName}, svc)).To(Succeed())
	}, timeout).Should(Succeed())
	g.Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeLoadBalancer))
	g.Expect(svc.Spec.LoadBalancerIP).To(Equal("198.51.100.10"))
	g.Expect(svc.Annotations).To(HaveKeyWithValue(netobjects.MetalLBAddressAnnotation, "198.51.100.10"))
	g.Expect(svc.Annotations).To(HaveKeyWithValue(netobjects.MetalLBPoolAnnotation, "public"))
	g.Expect(svc.Spec.Selector).To(Equal(map[string]string{koalav1.InstanceNameLabel: inst.Name}))
	g.Expect(svc.Spec.ExternalTrafficPolicy).To(Equal(corev1.ServiceExternalTrafficPolicyLocal))
	var ports []string
	for _, p := range svc.Spec.Ports {
		g.Expect(p.TargetPort).To(Equal(intstr.FromInt32(p.Port)))
		ports = append(ports, string(p.Protocol)+"/"+p.TargetPort.String())
	}
	g.Expect(ports).To(Equal([]string{"UDP/53", "TCP/80"}))
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.PublicIPAddress).To(Equal("198.51.100.10"), "the instance shows its Elastic IP")
	}, timeout).Should(Succeed())

	// The group opens another port: the Service forwards it at once.
	get(g, web)
	base := web.DeepCopy()
	web.Spec.Ingress = append(web.Spec.Ingress, koalav1.SecurityGroupRule{Protocol: "tcp", FromPort: ptr(int32(443)), ToPort: ptr(int32(443)), CIDRIPv4: "0.0.0.0/0"})
	g.Expect(k8s.Patch(ctx, web, client.MergeFrom(base))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc)).To(Succeed())
		g.Expect(svc.Spec.Ports).To(HaveLen(3))
	}, timeout).Should(Succeed())

	// Disassociated: no Service, no public address on the instance.
	get(g, addr)
	base2 := addr.DeepCopy()
	addr.Spec.InstanceID = ""
	g.Expect(k8s.Patch(ctx, addr, client.MergeFrom(base2))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(svc), &corev1.Service{}))).To(BeTrue())
		get(g, inst)
		g.Expect(inst.Status.PublicIPAddress).To(BeEmpty())
	}, timeout).Should(Succeed())

	// Released: the pool has its address back.
	g.Expect(k8s.Delete(ctx, addr)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(addr), &koalav1.Address{}))).To(BeTrue())
		claim := &koalav1.NetworkClaim{}
		err := k8s.Get(ctx, client.ObjectKey{Name: koalav1.ClaimName(koalav1.ClaimPublicAddress, pool.Name, "198.51.100.10")}, claim)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the released address is still claimed")
	}, timeout).Should(Succeed())
}
