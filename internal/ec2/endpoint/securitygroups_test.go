package endpoint_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
)

func tcp(port int32, cidrs ...string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	for _, c := range cidrs {
		p.IpRanges = append(p.IpRanges, types.IpRange{CidrIp: aws.String(c)})
	}
	return p
}

func TestSecurityGroupsAndTheirRulesBehaveAsInEC2(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "main", "10.40.0.0/16")
	vpcID := vpc.Status.VPCID

	web, err := a.EC2.CreateSecurityGroup(a.ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web"), Description: aws.String("web servers"), VpcId: aws.String(vpcID)})
	g.Expect(err).NotTo(HaveOccurred())
	webID := aws.ToString(web.GroupId)
	g.Expect(webID).To(MatchRegexp(`^sg-[0-9a-f]{17}$`))
	_, err = a.EC2.CreateSecurityGroup(a.ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web"), Description: aws.String("again"), VpcId: aws.String(vpcID)})
	expectError(g, err, "InvalidGroup.Duplicate")

	// A new group lets everything out and nothing in, as in EC2.
	desc, err := a.EC2.DescribeSecurityGroups(a.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{webID}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.SecurityGroups).To(HaveLen(1))
	sg := desc.SecurityGroups[0]
	g.Expect(aws.ToString(sg.VpcId)).To(Equal(vpcID))
	g.Expect(sg.IpPermissions).To(BeEmpty())
	g.Expect(sg.IpPermissionsEgress).To(HaveLen(1))
	g.Expect(aws.ToString(sg.IpPermissionsEgress[0].IpProtocol)).To(Equal("-1"))

	// Ingress in the IpPermissions form, then the same again: a duplicate.
	auth, err := a.EC2.AuthorizeSecurityGroupIngress(a.ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(webID), IpPermissions: []types.IpPermission{tcp(443, "0.0.0.0/0"), tcp(22, "10.0.0.0/8")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(auth.SecurityGroupRules).To(HaveLen(2))
	for _, r := range auth.SecurityGroupRules {
		g.Expect(aws.ToString(r.SecurityGroupRuleId)).To(MatchRegexp(`^sgr-[0-9a-f]{17}$`))
	}
	_, err = a.EC2.AuthorizeSecurityGroupIngress(a.ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(webID), IpPermissions: []types.IpPermission{tcp(443, "0.0.0.0/0")}})
	expectError(g, err, "InvalidPermission.Duplicate")

	// The short form, with a group by name as the peer.
	_, err = a.EC2.CreateSecurityGroup(a.ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("db"), Description: aws.String("databases"), VpcId: aws.String(vpcID)})
	g.Expect(err).NotTo(HaveOccurred())
	db, err := a.EC2.DescribeSecurityGroups(a.ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{filter("group-name", "db"), filter("vpc-id", vpcID)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(db.SecurityGroups).To(HaveLen(1))
	dbID := aws.ToString(db.SecurityGroups[0].GroupId)
	_, err = a.EC2.AuthorizeSecurityGroupIngress(a.ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(dbID), IpPermissions: []types.IpPermission{{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(webID)}}}}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.AuthorizeSecurityGroupIngress(a.ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(webID), IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), CidrIp: aws.String("0.0.0.0/0")})
	g.Expect(err).NotTo(HaveOccurred())

	rules, err := a.EC2.DescribeSecurityGroupRules(a.ctx, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{filter("group-id", webID)}})
	g.Expect(err).NotTo(HaveOccurred())
	var ingressPorts []int32
	for _, r := range rules.SecurityGroupRules {
		if !aws.ToBool(r.IsEgress) {
			ingressPorts = append(ingressPorts, aws.ToInt32(r.FromPort))
		}
	}
	g.Expect(ingressPorts).To(ConsistOf(int32(22), int32(80), int32(443)))

	// Revoking a rule that is not there; then one that is.
	_, err = a.EC2.RevokeSecurityGroupIngress(a.ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(webID), IpPermissions: []types.IpPermission{tcp(8080, "0.0.0.0/0")}})
	expectError(g, err, "InvalidPermission.NotFound")
	_, err = a.EC2.RevokeSecurityGroupIngress(a.ctx, &ec2.RevokeSecurityGroupIngressInput{
		GroupId: aws.String(webID), IpPermissions: []types.IpPermission{tcp(22, "10.0.0.0/8")}})
	g.Expect(err).NotTo(HaveOccurred())
	desc, err = a.EC2.DescribeSecurityGroups(a.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{webID}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.SecurityGroups[0].IpPermissions).To(HaveLen(2), "443 and 80 are left")

	// A group another group's rules refer to cannot go; nor can a VPC's default group.
	_, err = a.EC2.DeleteSecurityGroup(a.ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(webID)})
	expectError(g, err, "DependencyViolation")
	_, err = a.EC2.DeleteSecurityGroup(a.ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(vpc.Status.DefaultSecurityGroupID)})
	g.Expect(err).To(HaveOccurred())

	// Unknown and foreign groups are not found.
	_, err = a.EC2.DescribeSecurityGroups(a.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0123456789abcdef0"}})
	expectError(g, err, "InvalidGroup.NotFound")
	other := newAccount(t)
	_, err = other.EC2.DescribeSecurityGroups(other.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{webID}})
	expectError(g, err, "InvalidGroup.NotFound")
	_, err = other.EC2.AuthorizeSecurityGroupIngress(other.ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: aws.String(webID), IpPermissions: []types.IpPermission{tcp(1, "0.0.0.0/0")}})
	expectError(g, err, "InvalidGroup.NotFound")

	// Once nothing refers to it, the group goes.
	_, err = a.EC2.DeleteSecurityGroup(a.ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(dbID)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func(g Gomega) {
		_, err := a.EC2.DeleteSecurityGroup(a.ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(webID)})
		g.Expect(plain(err)).NotTo(HaveOccurred())
	}, timeout, poll).Should(Succeed())
}

func TestAGroupWithInstancesCannotBeDeleted(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vpc := a.vpcOf(g, "main", "10.41.0.0/16")
	sub := a.subnetOf(g, "a", vpc, "10.41.1.0/24", zoneA)
	grp, err := a.EC2.CreateSecurityGroup(a.ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("app"), Description: aws.String("app"), VpcId: aws.String(vpc.Status.VPCID)})
	g.Expect(err).NotTo(HaveOccurred())
	id := a.runOne(g, func(in *ec2.RunInstancesInput) {
		in.SubnetId = aws.String(sub.Status.SubnetID)
		in.SecurityGroupIds = []string{aws.ToString(grp.GroupId)}
	})
	_, err = a.EC2.DeleteSecurityGroup(a.ctx, &ec2.DeleteSecurityGroupInput{GroupId: grp.GroupId})
	expectError(g, err, "DependencyViolation")

	_, err = a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitTerminated(g, id)
	_, err = a.EC2.DeleteSecurityGroup(a.ctx, &ec2.DeleteSecurityGroupInput{GroupId: grp.GroupId})
	g.Expect(err).NotTo(HaveOccurred())
}
