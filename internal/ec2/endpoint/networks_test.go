package endpoint_test

import (
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// The pool Elastic IPs come from in these tests: 203.0.113.10 to 203.0.113.250
// (TEST-NET-3). Cluster-scoped, so shared by the tests of this file.
const (
	testPoolName  = "public"
	testPoolRange = "203.0.113.10-203.0.113.250"
)

var addressPoolOnce sync.Once

func ensureAddressPool(t *testing.T) {
	t.Helper()
	addressPoolOnce.Do(func() {
		pool := &koalav1.AddressPool{
			ObjectMeta: metav1.ObjectMeta{Name: testPoolName},
			Spec:       koalav1.AddressPoolSpec{Addresses: []string{testPoolRange}, Default: true},
		}
		if err := k8s.Create(t.Context(), pool); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating the address pool: %v", err)
		}
	})
	// The endpoint reads it from its cache.
	NewWithT(t).Eventually(func(g Gomega) {
		pools, err := ep.Store.AddressPools(t.Context())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pools).NotTo(BeEmpty())
	}, timeout, poll).Should(Succeed())
}

func tagList(kv ...string) []types.Tag {
	var tags []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return tags
}

func TestVPCsAreCreatedDescribedFilteredAndCheckedLikeEC2s(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	created, err := a.EC2.CreateVpc(a.ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	g.Expect(err).NotTo(HaveOccurred())
	id := aws.ToString(created.Vpc.VpcId)
	g.Expect(id).To(MatchRegexp(`^vpc-[0-9a-f]{17}$`))
	g.Expect(ec2.NewVpcAvailableWaiter(a.EC2).Wait(a.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}}, timeout)).To(Succeed())
	_, err = a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tagList("Name", "prod")})
	g.Expect(err).NotTo(HaveOccurred())

	out, err := a.EC2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Vpcs).To(HaveLen(1))
	v := out.Vpcs[0]
	g.Expect(aws.ToString(v.CidrBlock)).To(Equal("10.20.0.0/16"))
	g.Expect(aws.ToString(v.OwnerId)).To(Equal(a.ID))
	g.Expect(v.State).To(Equal(types.VpcStateAvailable))
	g.Expect(tagMap(v.Tags)).To(HaveKeyWithValue("Name", "prod"))

	byTag, err := a.EC2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("tag:Name", "prod")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byTag.Vpcs).To(HaveLen(1))
	tags, err := a.EC2.DescribeTags(a.ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("resource-type", "vpc")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tags.Tags).To(HaveLen(1))
	g.Expect(aws.ToString(tags.Tags[0].ResourceId)).To(Equal(id))
	byCIDR, err := a.EC2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("cidr-block", "10.99.0.0/16")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byCIDR.Vpcs).To(BeEmpty())

	// Ranges EC2 refuses: wider than /16, narrower than /28; and what is no CIDR.
	for _, cidr := range []string{"10.0.0.0/8", "10.0.0.0/29"} {
		_, err := a.EC2.CreateVpc(a.ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
		expectError(g, err, "InvalidVpc.Range")
	}
	_, err = a.EC2.CreateVpc(a.ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("banana")})
	expectError(g, err, "InvalidParameterValue")
	// The account has had its default VPC since it was made; a second is refused.
	def, err := a.EC2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("is-default", "true")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(def.Vpcs).To(HaveLen(1))
	_, err = a.EC2.CreateDefaultVpc(a.ctx, &ec2.CreateDefaultVpcInput{})
	expectError(g, err, "DefaultVpcAlreadyExists")
	_, err = a.EC2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0123456789abcdef0"}})
	expectError(g, err, "InvalidVpcID.NotFound")

	// Another account sees nothing of it, and cannot delete it.
	other := newAccount(t)
	_, err = other.EC2.DescribeVpcs(other.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	expectError(g, err, "InvalidVpcID.NotFound")
	_, err = other.EC2.DeleteVpc(other.ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)})
	expectError(g, err, "InvalidVpcID.NotFound")
}

func TestSubnetsMustFitTheirVPCAndNotOverlapAndAVPCInUseCannotBeDeleted(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "main", "10.30.0.0/16").Status.VPCID

	sub, err := a.EC2.CreateSubnet(a.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String("10.30.1.0/24"), AvailabilityZone: aws.String(zoneA)})
	g.Expect(err).NotTo(HaveOccurred())
	subnetID := aws.ToString(sub.Subnet.SubnetId)
	g.Expect(subnetID).To(MatchRegexp(`^subnet-[0-9a-f]{17}$`))
	g.Expect(aws.ToString(sub.Subnet.AvailabilityZone)).To(Equal(zoneA))
	// A /24 has 256 addresses, of which EC2 reserves five.
	g.Expect(aws.ToInt32(sub.Subnet.AvailableIpAddressCount)).To(Equal(int32(251)))

	_, err = a.EC2.CreateSubnet(a.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String("10.31.0.0/24")})
	expectError(g, err, "InvalidSubnet.Range")
	_, err = a.EC2.CreateSubnet(a.ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String("10.30.1.128/25")})
	expectError(g, err, "InvalidSubnet.Conflict")
	_, err = a.EC2.CreateSubnet(a.ctx, &ec2.CreateSubnetInput{VpcId: aws.String("vpc-0123456789abcdef0"), CidrBlock: aws.String("10.30.2.0/24")})
	expectError(g, err, "InvalidVpcID.NotFound")

	described, err := a.EC2.DescribeSubnets(a.ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("vpc-id", vpc)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(described.Subnets).To(HaveLen(1))
	g.Expect(aws.ToString(described.Subnets[0].CidrBlock)).To(Equal("10.30.1.0/24"))

	// The VPC has a subnet: it cannot go. Once the subnet is gone, it can.
	_, err = a.EC2.DeleteVpc(a.ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)})
	expectError(g, err, "DependencyViolation")
	_, err = a.EC2.DeleteSubnet(a.ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(subnetID)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		_, err := a.EC2.DeleteVpc(a.ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)})
		g.Expect(plain(err)).NotTo(HaveOccurred())
	}, timeout, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		_, err := a.EC2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
		expectError(g, err, "InvalidVpcID.NotFound")
	}, timeout, poll).Should(Succeed())
}

func TestElasticIPsAreAllocatedFromThePoolAssociatedMovedAndReleased(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ensureAddressPool(t)
	a := newAccount(t)

	alloc, err := a.EC2.AllocateAddress(a.ctx, &ec2.AllocateAddressInput{Domain: types.DomainTypeVpc})
	g.Expect(err).NotTo(HaveOccurred())
	allocID, ip := aws.ToString(alloc.AllocationId), aws.ToString(alloc.PublicIp)
	g.Expect(allocID).To(MatchRegexp(`^eipalloc-[0-9a-f]{17}$`))
	g.Expect(ip).To(MatchRegexp(`^203\.0\.113\.\d+$`))
	g.Expect(alloc.Domain).To(Equal(types.DomainTypeVpc))

	// A second allocation never gets the same address.
	second, err := a.EC2.AllocateAddress(a.ctx, &ec2.AllocateAddressInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(second.PublicIp)).NotTo(Equal(ip))
	// Asking for an address that is held is refused.
	_, err = newAccount(t).EC2.AllocateAddress(a.ctx, &ec2.AllocateAddressInput{Address: aws.String(ip)})
	expectError(g, err, "InvalidIPAddress.InUse")

	first, other := a.runOne(g), a.runOne(g)
	assoc, err := a.EC2.AssociateAddress(a.ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(allocID), InstanceId: aws.String(first)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(assoc.AssociationId)).To(MatchRegexp(`^eipassoc-[0-9a-f]{17}$`))

	desc, err := a.EC2.DescribeAddresses(a.ctx, &ec2.DescribeAddressesInput{Filters: []types.Filter{filter("instance-id", first)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.Addresses).To(HaveLen(1))
	g.Expect(aws.ToString(desc.Addresses[0].PublicIp)).To(Equal(ip))
	g.Expect(aws.ToString(desc.Addresses[0].AssociationId)).To(Equal(aws.ToString(assoc.AssociationId)))

	// Associated elsewhere: refused unless reassociation is allowed.
	_, err = a.EC2.AssociateAddress(a.ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(allocID), InstanceId: aws.String(other)})
	expectError(g, err, "Resource.AlreadyAssociated")
	moved, err := a.EC2.AssociateAddress(a.ctx, &ec2.AssociateAddressInput{AllocationId: aws.String(allocID), InstanceId: aws.String(other), AllowReassociation: aws.Bool(true)})
	g.Expect(err).NotTo(HaveOccurred())
	desc, err = a.EC2.DescribeAddresses(a.ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{allocID}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(desc.Addresses[0].InstanceId)).To(Equal(other))

	// In use: not released. Disassociated: released, and gone.
	_, err = a.EC2.ReleaseAddress(a.ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String(allocID)})
	expectError(g, err, "InvalidIPAddress.InUse")
	_, err = a.EC2.DisassociateAddress(a.ctx, &ec2.DisassociateAddressInput{AssociationId: moved.AssociationId})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.DisassociateAddress(a.ctx, &ec2.DisassociateAddressInput{AssociationId: moved.AssociationId})
	expectError(g, err, "InvalidAssociationID.NotFound")
	_, err = a.EC2.ReleaseAddress(a.ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String(allocID)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		_, err := a.EC2.DescribeAddresses(a.ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{allocID}})
		expectError(g, err, "InvalidAllocationID.NotFound")
	}, timeout, poll).Should(Succeed())
	_, err = a.EC2.ReleaseAddress(a.ctx, &ec2.ReleaseAddressInput{AllocationId: aws.String(allocID)})
	expectError(g, err, "InvalidAllocationID.NotFound")

	// The released address can be held again once the operator has let it go.
	var again *ec2.AllocateAddressOutput
	g.Eventually(func(g Gomega) {
		again, err = a.EC2.AllocateAddress(a.ctx, &ec2.AllocateAddressInput{Address: aws.String(ip)})
		g.Expect(plain(err)).NotTo(HaveOccurred())
	}, timeout, poll).Should(Succeed())
	g.Expect(aws.ToString(again.PublicIp)).To(Equal(ip))

	// Another account cannot see or use this account's addresses.
	stranger := newAccount(t)
	_, err = stranger.EC2.DescribeAddresses(stranger.ctx, &ec2.DescribeAddressesInput{AllocationIds: []string{aws.ToString(again.AllocationId)}})
	expectError(g, err, "InvalidAllocationID.NotFound")
	_, err = stranger.EC2.AssociateAddress(stranger.ctx, &ec2.AssociateAddressInput{AllocationId: again.AllocationId, InstanceId: aws.String(first)})
	expectError(g, err, "InvalidAllocationID.NotFound")
}

func TestTheAddressQuotaAnswersAddressLimitExceeded(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ensureAddressPool(t)
	two := int32(2)
	a := newAccount(t, withQuotas(koalav1.AccountQuotas{Addresses: &two}))
	for range 2 {
		_, err := a.EC2.AllocateAddress(a.ctx, &ec2.AllocateAddressInput{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	_, err := a.EC2.AllocateAddress(a.ctx, &ec2.AllocateAddressInput{})
	expectError(g, err, "AddressLimitExceeded")
}
