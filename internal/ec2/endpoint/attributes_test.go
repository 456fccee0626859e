package endpoint_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

func on(v bool) *types.AttributeBooleanValue { return &types.AttributeBooleanValue{Value: aws.Bool(v)} }

func TestModifyVpcAttributeChangesOneAttributeAtATimeAsInEC2(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "attrs", "10.50.0.0/16")
	id := vpc.Status.VPCID
	attribute := func(g Gomega, name types.VpcAttributeName) bool {
		out, err := a.EC2.DescribeVpcAttribute(a.ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String(id), Attribute: name})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		g.Expect(aws.ToString(out.VpcId)).To(Equal(id))
		switch name {
		case types.VpcAttributeNameEnableDnsSupport:
			return aws.ToBool(out.EnableDnsSupport.Value)
		case types.VpcAttributeNameEnableDnsHostnames:
			return aws.ToBool(out.EnableDnsHostnames.Value)
		}
		return aws.ToBool(out.EnableNetworkAddressUsageMetrics.Value)
	}
	// A VPC that is not a default one resolves names but gives no host names, as in EC2.
	g.Expect(attribute(g, types.VpcAttributeNameEnableDnsSupport)).To(BeTrue())
	g.Expect(attribute(g, types.VpcAttributeNameEnableDnsHostnames)).To(BeFalse())
	g.Expect(attribute(g, types.VpcAttributeNameEnableNetworkAddressUsageMetrics)).To(BeFalse())

	_, err := a.EC2.ModifyVpcAttribute(a.ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(id), EnableDnsHostnames: on(true)})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.ModifyVpcAttribute(a.ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(id), EnableDnsSupport: on(false)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		g.Expect(attribute(g, types.VpcAttributeNameEnableDnsHostnames)).To(BeTrue())
		g.Expect(attribute(g, types.VpcAttributeNameEnableDnsSupport)).To(BeFalse())
	}, timeout, poll).Should(Succeed())
	// kubectl users see the same on the VPC's object.
	g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(vpc), vpc)).To(Succeed())
	g.Expect(vpc.Spec.EnableDNSHostnames).To(BeTrue())
	g.Expect(vpc.Spec.DNSSupport()).To(BeFalse())

	_, err = a.EC2.ModifyVpcAttribute(a.ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(id), EnableDnsHostnames: on(false), EnableDnsSupport: on(true)})
	expectError(g, err, "InvalidParameterCombination")
	_, err = a.EC2.ModifyVpcAttribute(a.ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(id)})
	expectError(g, err, "MissingParameter")
	_, err = a.EC2.ModifyVpcAttribute(a.ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(id), EnableNetworkAddressUsageMetrics: on(true)})
	expectError(g, err, "InvalidParameterValue")
	_, err = a.EC2.ModifyVpcAttribute(a.ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String("vpc-0123456789abcdef0"), EnableDnsHostnames: on(true)})
	expectError(g, err, "InvalidVpcID.NotFound")
	_, err = a.EC2.ModifyVpcAttribute(a.ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String("vpc-nothex"), EnableDnsHostnames: on(true)})
	expectError(g, err, "InvalidVpcID.Malformed")
	_, err = a.EC2.DescribeVpcAttribute(a.ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String(id), Attribute: "enableDnsRecords"})
	expectError(g, err, "InvalidParameterValue")

	// The refused calls changed nothing.
	g.Expect(attribute(g, types.VpcAttributeNameEnableDnsHostnames)).To(BeTrue())
	g.Expect(attribute(g, types.VpcAttributeNameEnableDnsSupport)).To(BeFalse())
}

func TestModifySubnetAttributeSetsMapPublicIpOnLaunchAndRefusesWhatKoalaHasNot(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "attrs", "10.51.0.0/16")
	sub := a.subnetOf(g, "attrs", vpc, "10.51.1.0/24", zoneA)
	id := sub.Status.SubnetID
	mapsPublicIP := func(g Gomega) bool {
		out, err := a.EC2.DescribeSubnets(a.ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		g.Expect(out.Subnets).To(HaveLen(1))
		return aws.ToBool(out.Subnets[0].MapPublicIpOnLaunch)
	}
	g.Expect(mapsPublicIP(g)).To(BeFalse())

	_, err := a.EC2.ModifySubnetAttribute(a.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id), MapPublicIpOnLaunch: on(true)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(mapsPublicIP, timeout, poll).Should(BeTrue())
	// The filter of that name sees it too.
	out, err := a.EC2.DescribeSubnets(a.ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{
		filter("vpc-id", vpc.Status.VPCID), filter("map-public-ip-on-launch", "true")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Subnets).To(HaveLen(1))
	g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(sub), sub)).To(Succeed())
	g.Expect(sub.Spec.MapPublicIPOnLaunch).To(BeTrue())

	// Attributes Koala does not have may be set only to what they are.
	_, err = a.EC2.ModifySubnetAttribute(a.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id), AssignIpv6AddressOnCreation: on(false)})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.ModifySubnetAttribute(a.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id), AssignIpv6AddressOnCreation: on(true)})
	expectError(g, err, "InvalidParameterValue")
	_, err = a.EC2.ModifySubnetAttribute(a.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id), EnableDns64: on(true)})
	expectError(g, err, "InvalidParameterValue")
	_, err = a.EC2.ModifySubnetAttribute(a.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id), PrivateDnsHostnameTypeOnLaunch: types.HostnameTypeResourceName})
	expectError(g, err, "InvalidParameterValue")
	_, err = a.EC2.ModifySubnetAttribute(a.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String("subnet-0123456789abcdef0"), MapPublicIpOnLaunch: on(false)})
	expectError(g, err, "InvalidSubnetID.NotFound")

	_, err = a.EC2.ModifySubnetAttribute(a.ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id), MapPublicIpOnLaunch: on(false)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(mapsPublicIP, timeout, poll).Should(BeFalse())
}

func TestModifySecurityGroupRulesReplacesRulesInPlaceKeepingTheirIDs(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "rules", "10.52.0.0/16")
	made, err := a.EC2.CreateSecurityGroup(a.ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("app"), Description: aws.String("app servers"), VpcId: aws.String(vpc.Status.VPCID)})
	g.Expect(err).NotTo(HaveOccurred())
	groupID := aws.ToString(made.GroupId)
	auth, err := a.EC2.AuthorizeSecurityGroupIngress(a.ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(groupID), IpPermissions: []types.IpPermission{tcp(80, "0.0.0.0/0"), tcp(22, "10.0.0.0/8")}})
	g.Expect(err).NotTo(HaveOccurred())
	ruleOf := map[int32]string{}
	for _, r := range auth.SecurityGroupRules {
		ruleOf[aws.ToInt32(r.FromPort)] = aws.ToString(r.SecurityGroupRuleId)
	}
	rules := func(g Gomega) map[string]types.SecurityGroupRule {
		out, err := a.EC2.DescribeSecurityGroupRules(a.ctx, &ec2.DescribeSecurityGroupRulesInput{
			Filters: []types.Filter{filter("group-id", groupID)}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		byID := map[string]types.SecurityGroupRule{}
		for _, r := range out.SecurityGroupRules {
			if !aws.ToBool(r.IsEgress) {
				byID[aws.ToString(r.SecurityGroupRuleId)] = r
			}
		}
		return byID
	}

	// Port 80 becomes 443, with a description; the SSH rule stays as it was.
	_, err = a.EC2.ModifySecurityGroupRules(a.ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String(groupID),
		SecurityGroupRules: []types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String(ruleOf[80]),
			SecurityGroupRule: &types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
				CidrIpv4: aws.String("0.0.0.0/0"), Description: aws.String("https")}}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		byID := rules(g)
		g.Expect(byID).To(HaveLen(2))
		https := byID[ruleOf[80]]
		g.Expect(aws.ToInt32(https.FromPort)).To(Equal(int32(443)))
		g.Expect(aws.ToString(https.Description)).To(Equal("https"))
		g.Expect(aws.ToInt32(byID[ruleOf[22]].FromPort)).To(Equal(int32(22)))
	}, timeout, poll).Should(Succeed())

	// kubectl users see the change on the group's object: 443 is open, 80 no longer.
	g.Eventually(func(g Gomega) {
		var sg koalav1.SecurityGroupList
		g.Expect(k8s.List(a.ctx, &sg, client.InNamespace(a.Namespace))).To(Succeed())
		var ports []int32
		for _, grp := range sg.Items {
			if grp.Status.GroupID == groupID {
				for _, r := range grp.Spec.Ingress {
					if r.FromPort != nil {
						ports = append(ports, *r.FromPort)
					}
				}
			}
		}
		g.Expect(ports).To(ConsistOf(int32(443), int32(22)))
	}, timeout, poll).Should(Succeed())

	// Made equal to another rule: a duplicate, and nothing changes.
	sameAsSSH := &types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIpv4: aws.String("10.0.0.0/8")}
	_, err = a.EC2.ModifySecurityGroupRules(a.ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String(groupID),
		SecurityGroupRules: []types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String(ruleOf[80]), SecurityGroupRule: sameAsSSH}}})
	expectError(g, err, "InvalidPermission.Duplicate")
	_, err = a.EC2.ModifySecurityGroupRules(a.ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String(groupID),
		SecurityGroupRules: []types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String("sgr-0123456789abcdef0"), SecurityGroupRule: sameAsSSH}}})
	expectError(g, err, "InvalidSecurityGroupRuleId.NotFound")
	_, err = a.EC2.ModifySecurityGroupRules(a.ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String(groupID),
		SecurityGroupRules: []types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String("sgr-nothex"), SecurityGroupRule: sameAsSSH}}})
	expectError(g, err, "InvalidSecurityGroupRuleId.Malformed")
	both := *sameAsSSH
	both.ReferencedGroupId = aws.String(groupID)
	_, err = a.EC2.ModifySecurityGroupRules(a.ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String(groupID),
		SecurityGroupRules: []types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String(ruleOf[22]), SecurityGroupRule: &both}}})
	expectError(g, err, "InvalidParameterCombination")
	byID := rules(g)
	g.Expect(aws.ToInt32(byID[ruleOf[80]].FromPort)).To(Equal(int32(443)))
	g.Expect(aws.ToString(byID[ruleOf[22]].CidrIpv4)).To(Equal("10.0.0.0/8"))
}
