package endpoint_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/zones"
)

// zoneC is a zone whose node joins during one test only.
const zoneC = "test-1c"

// This test does not run in parallel: it adds a node of a third zone, which every
// parallel test would see (an instance placed in it could not run: the simulator has
// no node there). The parallel tests start only once every sequential test has
// returned, and its cleanup waits until the endpoint and the operator no longer know
// the zone.
func TestAZoneWhoseFirstNodeJoinsAfterTheAccountGetsADefaultSubnetThatLaunchesLandOn(t *testing.T) {
	g := NewWithT(t)
	a := newAccount(t)
	defaultSubnets := func(g Gomega) map[string]types.Subnet {
		out, err := a.EC2.DescribeSubnets(a.ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("default-for-az", "true")}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		byZone := map[string]types.Subnet{}
		for _, s := range out.Subnets {
			g.Expect(byZone).NotTo(HaveKey(aws.ToString(s.AvailabilityZone)), "two default subnets in one zone")
			byZone[aws.ToString(s.AvailabilityZone)] = s
		}
		return byZone
	}
	g.Eventually(func(g Gomega) {
		g.Expect(defaultSubnets(g)).To(HaveLen(2))
	}, timeout, poll).Should(Succeed())

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-c", Labels: map[string]string{zones.Label: zoneC}}}
	g.Expect(k8s.Create(a.ctx, node)).To(Succeed())
	t.Cleanup(func() { forgetNode(t, node) })

	var subs map[string]types.Subnet
	g.Eventually(func(g Gomega) {
		subs = defaultSubnets(g)
		g.Expect(subs).To(HaveKey(zoneC))
		g.Expect(subs[zoneC].State).To(Equal(types.SubnetStateAvailable))
	}, timeout, poll).Should(Succeed())
	g.Expect(subs).To(HaveLen(3))
	g.Expect(aws.ToString(subs[zoneA].CidrBlock)).To(Equal("172.31.0.0/20"))
	g.Expect(aws.ToString(subs[zoneB].CidrBlock)).To(Equal("172.31.16.0/20"))
	g.Expect(aws.ToString(subs[zoneC].CidrBlock)).To(Equal("172.31.32.0/20"))
	g.Expect(aws.ToBool(subs[zoneC].DefaultForAz)).To(BeTrue())
	g.Expect(aws.ToInt32(subs[zoneC].AvailableIpAddressCount)).To(Equal(int32(4091)))

	// A launch that asks for the new zone lands on its default subnet.
	var id string
	g.Eventually(func(g Gomega) {
		out, err := a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID),
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), Placement: &types.Placement{AvailabilityZone: aws.String(zoneC)}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		i := out.Instances[0]
		id = aws.ToString(i.InstanceId)
		g.Expect(aws.ToString(i.Placement.AvailabilityZone)).To(Equal(zoneC))
		g.Expect(aws.ToString(i.SubnetId)).To(Equal(aws.ToString(subs[zoneC].SubnetId)))
		g.Expect(ipam.Contains("172.31.32.0/20", aws.ToString(i.PrivateIpAddress)+"/32")).To(BeTrue(), "address %s", aws.ToString(i.PrivateIpAddress))
	}, timeout, poll).Should(Succeed())
	// The simulator has no node in the zone: the instance would stay pending.
	_, err := a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitTerminated(g, id)
}

// forgetNode deletes a node a test added and waits until neither the endpoint nor the
// operator knows its zone any more, so that the tests after it see the suite's two
// zones only: the endpoint's zones come from its cache; the operator's cache is seen
// through a default VPC made for the purpose, which gets a subnet in every zone the
// operator knows when it settles it.
func forgetNode(t *testing.T, node *corev1.Node) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	zone := node.Labels[zones.Label]
	g.Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed())
	g.Eventually(func(g Gomega) {
		zs, err := ep.Store.Zones(ctx, region)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(zs).NotTo(ContainElement(zone))
	}, timeout, poll).Should(Succeed())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "zone-probe-"}}
	g.Expect(k8s.Create(ctx, ns)).To(Succeed())
	g.Eventually(func(g Gomega) {
		probe := &koalav1.Network{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns.Name},
			Spec: koalav1.NetworkSpec{CIDRBlock: "172.31.0.0/16", IsDefault: true}}
		g.Expect(k8s.Create(ctx, probe)).To(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(probe), probe)).To(Succeed())
			g.Expect(probe.Status.DefaultSubnetZones).NotTo(BeEmpty())
		}, timeout, poll).Should(Succeed())
		g.Expect(probe.Status.DefaultSubnetZones).NotTo(ContainElement(zone), "the operator still knows %s", zone)
	}, timeout, poll).Should(Succeed())
}
