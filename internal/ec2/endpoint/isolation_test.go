package endpoint_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
)

func TestAnInstanceOfOneAccountDoesNotExistForAnother(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	owner, stranger := newAccount(t), newAccount(t)
	token := func(in *ec2.RunInstancesInput) { in.ClientToken = aws.String("shared-token") }
	id := owner.runOne(g, withTags("Name", "private"), token)
	kp, err := owner.EC2.CreateKeyPair(owner.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("owners-key")})
	g.Expect(err).NotTo(HaveOccurred())
	owner.waitRunning(g, id)
	ids := []string{id}

	_, err = stranger.NoRetry.DescribeInstances(stranger.ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	expectError(g, err, "InvalidInstanceID.NotFound")
	g.Expect(stranger.instanceIDs(g, &ec2.DescribeInstancesInput{})).To(BeEmpty())
	g.Expect(stranger.instanceIDs(g, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-id", id)}})).To(BeEmpty())
	_, err = stranger.NoRetry.StopInstances(stranger.ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	expectError(g, err, "InvalidInstanceID.NotFound")
	_, err = stranger.NoRetry.TerminateInstances(stranger.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	expectError(g, err, "InvalidInstanceID.NotFound")
	_, err = stranger.NoRetry.CreateTags(stranger.ctx, &ec2.CreateTagsInput{Resources: ids, Tags: tags("Name", "mine-now")})
	expectError(g, err, "InvalidInstanceID.NotFound")
	_, err = stranger.NoRetry.DescribeInstanceAttribute(stranger.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id),
		Attribute: types.InstanceAttributeNameUserData})
	expectError(g, err, "InvalidInstanceID.NotFound")
	_, err = stranger.NoRetry.CreateTags(stranger.ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(kp.KeyPairId)}, Tags: tags("a", "b")})
	expectError(g, err, "InvalidKeyPair.NotFound")
	tagRows, err := stranger.EC2.DescribeTags(stranger.ctx, &ec2.DescribeTagsInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tagRows.Tags).To(BeEmpty())
	keys, err := stranger.EC2.DescribeKeyPairs(stranger.ctx, &ec2.DescribeKeyPairsInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(keys.KeyPairs).To(BeEmpty())
	_, err = stranger.NoRetry.RunInstances(stranger.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("owners-key")})
	expectError(g, err, "InvalidKeyPair.NotFound")

	// A client token is the account's own: the same token launches the stranger's own
	// instance, neither the owner's nor a mismatch.
	theirs := stranger.runOne(g, token, withType(types.InstanceTypeT3Small))
	g.Expect(theirs).NotTo(Equal(id))
	g.Expect(stranger.instanceIDs(g, &ec2.DescribeInstancesInput{})).To(Equal([]string{theirs}))

	// Nothing the stranger did reached the owner's instance.
	inst := owner.describe(g, id)
	g.Expect(inst.State.Name).To(Equal(types.InstanceStateNameRunning))
	g.Expect(tagMap(inst.Tags)).To(Equal(map[string]string{"Name": "private"}))
	g.Expect(owner.instanceIDs(g, &ec2.DescribeInstancesInput{})).To(Equal([]string{id}))
	g.Expect(owner.instanceObjects(g)).To(Equal(1))
}
