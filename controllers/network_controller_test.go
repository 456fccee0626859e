package controllers_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/controllers"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/zones"
)

// defaultSubnetsOfVPC lists a VPC's default subnets by zone, as the API server has
// them; a zone with more than one default subnet fails.
func defaultSubnetsOfVPC(g Gomega, ns, vpcID string) map[string]koalav1.Subnet {
	var list koalav1.SubnetList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	out := map[string]koalav1.Subnet{}
	for _, s := range list.Items {
		if s.Spec.VPCID != vpcID || !s.Spec.DefaultForAZ {
			continue
		}
		g.Expect(out).NotTo(HaveKey(s.Spec.AvailabilityZone), "a second default subnet in %s", s.Spec.AvailabilityZone)
		out[s.Spec.AvailabilityZone] = s
	}
	return out
}

// expectNoOverlap fails when two subnets of the VPC share an address.
func expectNoOverlap(g Gomega, ns, vpcID string) {
	var list koalav1.SubnetList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	var cidrs []string
	for _, s := range list.Items {
		if s.Spec.VPCID == vpcID {
			cidrs = append(cidrs, s.Spec.CIDRBlock)
		}
	}
	for i := range cidrs {
		for j := i + 1; j < len(cidrs); j++ {
			g.Expect(ipam.Overlaps(cidrs[i], cidrs[j])).To(BeFalse(), "%s overlaps %s", cidrs[i], cidrs[j])
		}
	}
}

// The suite's simulator has nodes in zone-a and zone-b. This test adds a node of
// zone-c and removes it at its end. The suite's tests do not run in parallel, so no
// instance of another test is placed in zone-c (the simulator could not run it there);
// the default VPCs of earlier tests get a zone-c subnet, which none of them looks at.
// Its cleanup waits until the operator no longer knows zone-c.
func TestADefaultVPCGetsADefaultSubnetInAZoneWhoseFirstNodeJoinsLaterButNotOneTheUserDeleted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	vpc := &koalav1.Network{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec: koalav1.NetworkSpec{CIDRBlock: controllers.DefaultVPCCIDR, IsDefault: true}}
	g.Expect(k8s.Create(ctx, vpc)).To(Succeed())
	var subs map[string]koalav1.Subnet
	g.Eventually(func(g Gomega) {
		get(g, vpc)
		g.Expect(vpc.Status.VPCID).NotTo(BeEmpty())
		subs = defaultSubnetsOfVPC(g, ns, vpc.Status.VPCID)
		g.Expect(subs).To(HaveLen(2))
		g.Expect(vpc.Status.DefaultSubnetZones).To(ConsistOf("zone-a", "zone-b"))
	}, timeout).Should(Succeed())
	// The first zones' CIDRs are what they always were.
	g.Expect(subs["zone-a"].Spec.CIDRBlock).To(Equal("172.31.0.0/20"))
	g.Expect(subs["zone-b"].Spec.CIDRBlock).To(Equal("172.31.16.0/20"))

	// The user deletes the default subnet of zone-b, then makes subnets of their own
	// in its old range and in the next /20.
	zoneB := subs["zone-b"]
	g.Expect(k8s.Delete(ctx, &zoneB)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(&zoneB), &koalav1.Subnet{}))
	}, timeout).Should(BeTrue())
	for name, cidr := range map[string]string{"mine-1": "172.31.16.0/22", "mine-2": "172.31.40.0/24"} {
		g.Expect(k8s.Create(ctx, &koalav1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: koalav1.SubnetSpec{VPCID: vpc.Status.VPCID, CIDRBlock: cidr, AvailabilityZone: "zone-a"}})).To(Succeed())
	}

	// A node of a new zone joins.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-c-" + ns, Labels: map[string]string{zones.Label: "zone-c"}}}
	g.Expect(k8s.Create(ctx, node)).To(Succeed())
	t.Cleanup(func() { forgetNode(t, node) })

	g.Eventually(func(g Gomega) {
		subs = defaultSubnetsOfVPC(g, ns, vpc.Status.VPCID)
		g.Expect(subs).To(HaveKey("zone-c"))
		c := subs["zone-c"]
		g.Expect(c.Status.State).To(Equal(koalav1.NetworkStateAvailable))
		get(g, vpc)
		g.Expect(vpc.Status.DefaultSubnetZones).To(ConsistOf("zone-a", "zone-b", "zone-c"))
	}, timeout).Should(Succeed())
	// The first /20 that overlaps no subnet of the VPC.
	g.Expect(subs["zone-c"].Spec.CIDRBlock).To(Equal("172.31.48.0/20"))
	g.Expect(subs["zone-c"].Status.SubnetID).To(Equal(controllers.DefaultSubnetObjectName(vpc.Status.VPCID, "zone-c")))
	expectNoOverlap(g, ns, vpc.Status.VPCID)
	// The reconcile that made zone-c's subnet did not make zone-b's again.
	g.Expect(subs).NotTo(HaveKey("zone-b"))
	g.Expect(subs["zone-a"].Spec.CIDRBlock).To(Equal("172.31.0.0/20"))
}

// A default VPC that an operator of before defaultSubnetZones settled got its default
// subnets once, from the zones it knew then (on the local stack: zone-a only, the
// second node joined later), and recorded only defaultSubnetsCreated.
func TestADefaultVPCSettledByAnOlderOperatorGetsTheDefaultSubnetOfTheZoneItMissed(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := namespace(t)
	vpcID := ids.FromSeed(ids.VPC, ns)

	// What the older operator left, written while no operator runs.
	stopOperator()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			stopOperator, _ = startOperator(context.Background())
		}
	})
	vpc := &koalav1.Network{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns,
		Annotations: map[string]string{koalav1.IDAnnotation: vpcID}, Finalizers: []string{controllers.NetworkFinalizer}},
		Spec: koalav1.NetworkSpec{CIDRBlock: controllers.DefaultVPCCIDR, IsDefault: true}}
	g.Expect(k8s.Create(ctx, vpc)).To(Succeed())
	vpc.Status = koalav1.NetworkStatus{VPCID: vpcID, State: koalav1.NetworkStateAvailable, DefaultSubnetsCreated: true}
	g.Expect(k8s.Status().Update(ctx, vpc)).To(Succeed())
	zoneA := controllers.DefaultSubnetObjectName(vpcID, "zone-a")
	for name, spec := range map[string]koalav1.SubnetSpec{
		zoneA:  {VPCID: vpcID, CIDRBlock: "172.31.0.0/20", AvailabilityZone: "zone-a", DefaultForAZ: true},
		"mine": {VPCID: vpcID, CIDRBlock: "172.31.16.0/24", AvailabilityZone: "zone-a"},
	} {
		g.Expect(k8s.Create(ctx, &koalav1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{koalav1.IDAnnotation: name}}, Spec: spec})).To(Succeed())
	}

	var err error
	stopOperator, err = startOperator(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	restarted = true

	var subs map[string]koalav1.Subnet
	g.Eventually(func(g Gomega) {
		subs = defaultSubnetsOfVPC(g, ns, vpcID)
		g.Expect(subs).To(HaveKey("zone-b"))
		b := subs["zone-b"]
		g.Expect(b.Status.State).To(Equal(koalav1.NetworkStateAvailable))
		get(g, vpc)
		g.Expect(vpc.Status.DefaultSubnetZones).To(ConsistOf("zone-a", "zone-b"))
	}, timeout).Should(Succeed())
	g.Expect(subs).To(HaveLen(2))
	g.Expect(subs["zone-a"].Name).To(Equal(zoneA))
	g.Expect(subs["zone-a"].Spec.CIDRBlock).To(Equal("172.31.0.0/20"))
	g.Expect(subs["zone-b"].Spec.CIDRBlock).To(Equal("172.31.32.0/20"))
	expectNoOverlap(g, ns, vpcID)
}

// forgetNode deletes a node a test added and waits until the operator no longer knows
// its zone, so that the tests after it see the suite's two zones only. The operator's
// node cache is seen through a default VPC made for the purpose: it gets a default
// subnet in every zone the operator knows when it settles it.
func forgetNode(t *testing.T, node *corev1.Node) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	zone := node.Labels[zones.Label]
	g.Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed())
	ns := namespace(t)
	g.Eventually(func(g Gomega) {
		probe := &koalav1.Network{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns},
			Spec: koalav1.NetworkSpec{CIDRBlock: controllers.DefaultVPCCIDR, IsDefault: true}}
		g.Expect(k8s.Create(ctx, probe)).To(Succeed())
		g.Eventually(func(g Gomega) {
			get(g, probe)
			g.Expect(probe.Status.DefaultSubnetZones).NotTo(BeEmpty())
		}, timeout).Should(Succeed())
		g.Expect(probe.Status.DefaultSubnetZones).NotTo(ContainElement(zone), "the operator still knows %s", zone)
	}, timeout).Should(Succeed())
}
