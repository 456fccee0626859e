package endpoint_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// vpcOf makes a VPC in the account with kubectl (the EC2 VPC actions have tests of
// their own) and waits until it and its default group are available.
func (a *account) vpcOf(g Gomega, name, cidr string) *koalav1.Network {
	vpc := &koalav1.Network{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.Namespace},
		Spec: koalav1.NetworkSpec{CIDRBlock: cidr}}
	g.ExpectWithOffset(1, k8s.Create(a.ctx, vpc)).To(Succeed())
	g.EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(vpc), vpc)).To(Succeed())
		g.Expect(vpc.Status.State).To(Equal(koalav1.NetworkStateAvailable))
		g.Expect(vpc.Status.DefaultSecurityGroupID).NotTo(BeEmpty())
		// The endpoint's cache follows the API server: the VPC is usable through EC2
		// once the endpoint knows it by its ID.
		_, err := a.EC2.DescribeVpcs(a.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpc.Status.VPCID}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
	}, timeout, poll).Should(Succeed())
	return vpc
}

func (a *account) subnetOf(g Gomega, name string, vpc *koalav1.Network, cidr, zone string) *koalav1.Subnet {
	sub := &koalav1.Subnet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.Namespace},
		Spec: koalav1.SubnetSpec{VPCID: vpc.Status.VPCID, CIDRBlock: cidr, AvailabilityZone: zone}}
	g.ExpectWithOffset(1, k8s.Create(a.ctx, sub)).To(Succeed())
	g.EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(sub), sub)).To(Succeed())
		g.Expect(sub.Status.State).To(Equal(koalav1.NetworkStateAvailable))
		_, err := a.EC2.DescribeSubnets(a.ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{sub.Status.SubnetID}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
	}, timeout, poll).Should(Succeed())
	return sub
}

func (a *account) groupOf(g Gomega, name string, vpc *koalav1.Network) string {
	sg := &koalav1.SecurityGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.Namespace},
		Spec: koalav1.SecurityGroupSpec{VPCID: vpc.Status.VPCID, GroupName: name, Description: name,
			Egress: []koalav1.SecurityGroupRule{{Protocol: "-1", CIDRIPv4: "0.0.0.0/0"}}}}
	g.ExpectWithOffset(1, k8s.Create(a.ctx, sg)).To(Succeed())
	g.EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(sg), sg)).To(Succeed())
		g.Expect(sg.Status.GroupID).NotTo(BeEmpty())
	}, timeout, poll).Should(Succeed())
	// The endpoint reads groups from its cache.
	g.EventuallyWithOffset(1, func() error {
		_, err := a.EC2.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
			{Name: aws.String("instance.group-name"), Values: []string{name}}}})
		return plain(err)
	}, timeout, poll).Should(Succeed())
	return sg.Status.GroupID
}

func groupIDs(gs []types.GroupIdentifier) []string {
	var out []string
	for _, g := range gs {
		out = append(out, aws.ToString(g.GroupId))
	}
	sort.Strings(out)
	return out
}

func filtered(name string, values ...string) *ec2.DescribeInstancesInput {
	return &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String(name), Values: values}}}
}

func TestRunInstancesPutsAnInstanceOnTheSubnetGroupsAndAddressAskedAndDescribeShowsAndFiltersThem(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "main", "10.9.0.0/16")
	sub := a.subnetOf(g, "app", vpc, "10.9.1.0/24", zoneB)
	web := a.groupOf(g, "web", vpc)
	subnetID, vpcID, dflt := sub.Status.SubnetID, vpc.Status.VPCID, vpc.Status.DefaultSecurityGroupID

	out := a.runInstances(g, 1, func(in *ec2.RunInstancesInput) {
		in.SubnetId, in.SecurityGroupIds, in.PrivateIpAddress = aws.String(subnetID), []string{web}, aws.String("10.9.1.10")
	})
	inst := out.Instances[0]
	id := aws.ToString(inst.InstanceId)
	g.Expect(aws.ToString(inst.PrivateIpAddress)).To(Equal("10.9.1.10"), "RunInstances answers with the address")
	g.Expect(aws.ToString(inst.SubnetId)).To(Equal(subnetID))
	g.Expect(aws.ToString(inst.VpcId)).To(Equal(vpcID))
	g.Expect(aws.ToString(inst.Placement.AvailabilityZone)).To(Equal(zoneB), "the subnet decides the zone")
	a.waitRunning(g, id)

	d := a.describe(g, id)
	g.Expect(aws.ToString(d.PrivateIpAddress)).To(Equal("10.9.1.10"))
	g.Expect(aws.ToString(d.PrivateDnsName)).To(Equal("ip-10-9-1-10." + region + ".compute.internal"))
	g.Expect(d.SecurityGroups).To(Equal([]types.GroupIdentifier{{GroupId: aws.String(web), GroupName: aws.String("web")}}))
	g.Expect(d.NetworkInterfaces).To(HaveLen(1))
	eni := d.NetworkInterfaces[0]
	g.Expect(aws.ToString(eni.NetworkInterfaceId)).To(HavePrefix("eni-"))
	g.Expect(aws.ToString(eni.SubnetId)).To(Equal(subnetID))
	g.Expect(aws.ToString(eni.VpcId)).To(Equal(vpcID))
	g.Expect(aws.ToString(eni.PrivateIpAddress)).To(Equal("10.9.1.10"))
	g.Expect(aws.ToInt32(eni.Attachment.DeviceIndex)).To(Equal(int32(0)))
	g.Expect(groupIDs(eni.Groups)).To(Equal([]string{web}))
	g.Expect(d.PublicIpAddress).To(BeNil(), "no Elastic IP is associated")

	for name, in := range map[string]*ec2.DescribeInstancesInput{
		"vpc-id":              filtered("vpc-id", vpcID),
		"subnet-id":           filtered("subnet-id", subnetID),
		"instance.group-id":   filtered("instance.group-id", web),
		"instance.group-name": filtered("instance.group-name", "w*"),
		"private-ip-address":  filtered("private-ip-address", "10.9.1.10"),
	} {
		g.Expect(a.instanceIDs(g, in)).To(Equal([]string{id}), "filter %s", name)
	}
	for name, in := range map[string]*ec2.DescribeInstancesInput{
		"vpc-id":              filtered("vpc-id", "vpc-0123456789abcdef0"),
		"instance.group-name": filtered("instance.group-name", "default"),
		"ip-address":          filtered("ip-address", "203.0.113.7"),
	} {
		g.Expect(a.instanceIDs(g, in)).To(BeEmpty(), "filter %s", name)
	}

	// An Elastic IP associated with it (made with kubectl: the Address actions are not
	// what this test is about) is its public address.
	eip := &koalav1.Address{ObjectMeta: metav1.ObjectMeta{Name: "eip", Namespace: a.Namespace},
		Spec: koalav1.AddressSpec{PublicIP: "203.0.113.9", InstanceID: id}}
	g.Expect(k8s.Create(a.ctx, eip)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(aws.ToString(a.describe(g, id).PublicIpAddress)).To(Equal("203.0.113.9"))
	}, timeout, poll).Should(Succeed())
	g.Expect(aws.ToString(a.describe(g, id).NetworkInterfaces[0].Association.PublicIp)).To(Equal("203.0.113.9"))
	g.Expect(a.instanceIDs(g, filtered("ip-address", "203.0.113.9"))).To(Equal([]string{id}))

	// The address is the instance's: asked for again, it is refused, and the refused
	// launch leaves nothing behind (its root volume is made alongside the address
	// claim, and deleted again).
	volumeIDs := func(g Gomega) []string {
		out, err := a.EC2.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		var ids []string
		for _, v := range out.Volumes {
			ids = append(ids, aws.ToString(v.VolumeId))
		}
		return ids
	}
	volumesBefore := volumeIDs(g)
	_, err := a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String(subnetID), PrivateIpAddress: aws.String("10.9.1.10")})
	expectError(g, err, "InvalidIPAddress.InUse")
	g.Eventually(volumeIDs, timeout, poll).Should(ConsistOf(volumesBefore))

	// ModifyInstanceAttribute groupSet: the default group instead of web, at once.
	_, err = a.EC2.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), Groups: []string{dflt}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(groupIDs(a.describe(g, id).SecurityGroups)).To(Equal([]string{dflt}))
	g.Expect(a.instanceIDs(g, filtered("instance.group-name", "default"))).To(Equal([]string{id}))
	attr, err := a.EC2.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameGroupSet})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(attr.Groups).To(Equal([]types.GroupIdentifier{{GroupId: aws.String(dflt), GroupName: aws.String("default")}}))
	_, err = a.NoRetry.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), Groups: []string{"sg-0123456789abcdef0"}})
	expectError(g, err, "InvalidGroup.NotFound")

	// Security groups by name, in the subnet's VPC.
	byName := a.runInstances(g, 1, func(in *ec2.RunInstancesInput) {
		in.SubnetId, in.SecurityGroups = aws.String(subnetID), []string{"web", "default"}
	})
	g.Expect(groupIDs(byName.Instances[0].SecurityGroups)).To(ConsistOf(web, dflt))
	g.Expect(aws.ToString(byName.Instances[0].PrivateIpAddress)).NotTo(Equal("10.9.1.10"))
}

func TestRunInstancesRefusesWhatEC2RefusesAboutSubnetsGroupsAndAddresses(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "main", "10.8.0.0/16")
	sub := a.subnetOf(g, "tiny", vpc, "10.8.0.16/28", zoneA)
	other := a.vpcOf(g, "other", "10.7.0.0/16")
	subnetID := sub.Status.SubnetID

	run := func(mod func(*ec2.RunInstancesInput)) error {
		in := &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
		mod(in)
		_, err := a.NoRetry.RunInstances(a.ctx, in)
		return err
	}
	cases := map[string]struct {
		mod  func(*ec2.RunInstancesInput)
		code string
	}{
		"a subnet the account does not have": {func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("subnet-0123456789abcdef0") }, "InvalidSubnetID.NotFound"},
		"a malformed subnet ID":              {func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("sub-1") }, "InvalidSubnetID.Malformed"},
		"a group of another VPC": {func(in *ec2.RunInstancesInput) {
			in.SubnetId, in.SecurityGroupIds = aws.String(subnetID), []string{other.Status.DefaultSecurityGroupID}
		}, "InvalidGroup.NotFound"},
		"a group name the VPC does not have": {func(in *ec2.RunInstancesInput) {
			in.SubnetId, in.SecurityGroups = aws.String(subnetID), []string{"nope"}
		}, "InvalidGroup.NotFound"},
		"an interface and an instance-level subnet": {func(in *ec2.RunInstancesInput) {
			in.SubnetId = aws.String(subnetID)
			in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: aws.String(subnetID)}}
		}, "InvalidParameterCombination"},
		"an interface and instance-level groups": {func(in *ec2.RunInstancesInput) {
			in.SecurityGroupIds = []string{vpc.Status.DefaultSecurityGroupID}
			in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: aws.String(subnetID)}}
		}, "InvalidParameterCombination"},
		"a reserved address of the subnet": {func(in *ec2.RunInstancesInput) {
			in.SubnetId, in.PrivateIpAddress = aws.String(subnetID), aws.String("10.8.0.17")
		}, "InvalidParameterValue"},
		"one address for two instances": {func(in *ec2.RunInstancesInput) {
			in.SubnetId, in.PrivateIpAddress, in.MinCount, in.MaxCount = aws.String(subnetID), aws.String("10.8.0.20"), aws.Int32(2), aws.Int32(2)
		}, "InvalidParameterCombination"},
		"more instances than the /28 has addresses": {func(in *ec2.RunInstancesInput) {
			in.SubnetId, in.MinCount, in.MaxCount = aws.String(subnetID), aws.Int32(12), aws.Int32(12)
		}, "InsufficientFreeAddressesInSubnet"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			expectError(NewWithT(t), run(c.mod), c.code)
		})
	}
	g.Expect(a.instanceObjects(g)).To(BeZero(), "a refused launch leaves nothing behind")

	// Through the interface of device index 0; MaxCount fits into the 11 addresses left.
	out, err := a.EC2.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), MinCount: aws.Int32(2), MaxCount: aws.Int32(20),
		NetworkInterfaces: []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: aws.String(subnetID)}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Instances).To(HaveLen(11), "a /28 has 11 usable addresses")
	seen := map[string]bool{}
	for _, i := range out.Instances {
		ip := aws.ToString(i.PrivateIpAddress)
		g.Expect(seen).NotTo(HaveKey(ip))
		seen[ip] = true
		g.Expect(aws.ToString(i.SubnetId)).To(Equal(subnetID))
	}
	err = run(func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String(subnetID) })
	expectError(g, err, "InsufficientFreeAddressesInSubnet")
}

func TestRunInstancesWithoutASubnetUsesTheDefaultSubnetOfTheZoneAndTheDefaultGroup(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	// The operator gives every account a default VPC with a default subnet per zone.
	vpc := &koalav1.Network{}
	var subnets koalav1.SubnetList
	g.Eventually(func(g Gomega) {
		var vpcs koalav1.NetworkList
		g.Expect(k8s.List(a.ctx, &vpcs, client.InNamespace(a.Namespace))).To(Succeed())
		g.Expect(vpcs.Items).To(HaveLen(1))
		*vpc = vpcs.Items[0]
		g.Expect(vpc.Spec.IsDefault).To(BeTrue())
		g.Expect(vpc.Spec.CIDRBlock).To(Equal("172.31.0.0/16"))
		g.Expect(vpc.Status.DefaultSecurityGroupID).NotTo(BeEmpty())
		g.Expect(k8s.List(a.ctx, &subnets, client.InNamespace(a.Namespace))).To(Succeed())
		g.Expect(subnets.Items).To(HaveLen(2), "a default subnet per zone")
		for _, s := range subnets.Items {
			g.Expect(s.Spec.DefaultForAZ).To(BeTrue())
			g.Expect(s.Status.State).To(Equal(koalav1.NetworkStateAvailable))
		}
	}, timeout, poll).Should(Succeed())
	inZone := map[string]string{}
	for _, s := range subnets.Items {
		inZone[s.Zone()] = s.Status.SubnetID
	}

	for _, zone := range []string{zoneA, zoneB} {
		t.Run(fmt.Sprintf("in %s", zone), func(t *testing.T) {
			g := NewWithT(t)
			g.Eventually(func(g Gomega) {
				out, err := a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID),
					MinCount: aws.Int32(1), MaxCount: aws.Int32(1), Placement: &types.Placement{AvailabilityZone: aws.String(zone)}})
				g.Expect(plain(err)).NotTo(HaveOccurred())
				i := out.Instances[0]
				g.Expect(aws.ToString(i.SubnetId)).To(Equal(inZone[zone]))
				g.Expect(aws.ToString(i.VpcId)).To(Equal(vpc.Status.VPCID))
				g.Expect(groupIDs(i.SecurityGroups)).To(Equal([]string{vpc.Status.DefaultSecurityGroupID}))
				g.Expect(aws.ToString(i.PrivateIpAddress)).To(HavePrefix("172.31."))
			}, timeout, poll).Should(Succeed())
		})
	}
}
