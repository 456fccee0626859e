package endpoint_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/testgen"
)

func TestDescribeImagesShowsTheAccountsOwnImagesAndPublicOnesWithTheirOwners(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	other := newAccount(t)
	mine := a.privateImage(g, "golden")
	theirs := other.privateImage(g, "secret")
	// A public image that another account publishes: visible to all, owned by that account.
	shared := testgen.Image("shared", other.Namespace, testgen.Public())
	shared.Spec.Name = "shared-base"
	g.Expect(k8s.Create(a.ctx, shared)).To(Succeed())
	var sharedID string
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(shared), shared)).To(Succeed())
		g.Expect(shared.Status.State).To(Equal(koalav1.ImageStateAvailable))
		sharedID = shared.Status.ImageID
	}, timeout, poll).Should(Succeed())

	idsOf := func(in *ec2.DescribeImagesInput) []string {
		out, err := a.EC2.DescribeImages(a.ctx, in)
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		var s []string
		for _, img := range out.Images {
			s = append(s, aws.ToString(img.ImageId))
		}
		return s
	}
	g.Eventually(func() []string { return idsOf(&ec2.DescribeImagesInput{}) }, timeout, poll).Should(ContainElement(sharedID))

	g.Expect(idsOf(&ec2.DescribeImagesInput{Owners: []string{"self"}})).To(Equal([]string{mine}), "only the account's image, no clutter")
	g.Expect(idsOf(&ec2.DescribeImagesInput{Owners: []string{"amazon"}})).To(Equal([]string{publicImageID}), "only the platform's image")
	g.Expect(idsOf(&ec2.DescribeImagesInput{Owners: []string{other.ID}})).To(Equal([]string{sharedID}), "another account's public image, not its private one")
	g.Expect(idsOf(&ec2.DescribeImagesInput{Owners: []string{"self", "amazon"}})).To(ConsistOf(mine, publicImageID))
	all := idsOf(&ec2.DescribeImagesInput{})
	g.Expect(all).To(ContainElements(mine, publicImageID, sharedID))
	g.Expect(all).NotTo(ContainElement(theirs), "another account's private image is invisible")
	g.Expect(idsOf(&ec2.DescribeImagesInput{ExecutableUsers: []string{"all"}})).To(And(ContainElements(publicImageID, sharedID), Not(ContainElement(mine))))

	t.Run("each image shows its owner, state and disk", func(t *testing.T) {
		g := NewWithT(t)
		out, err := a.EC2.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{publicImageID, mine}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out.Images).To(HaveLen(2))
		for _, img := range out.Images {
			g.Expect(img.State).To(Equal(types.ImageStateAvailable))
			g.Expect(img.Architecture).To(Equal(types.ArchitectureValuesX8664))
			g.Expect(img.RootDeviceType).To(Equal(types.DeviceTypeEbs))
			g.Expect(aws.ToString(img.RootDeviceName)).To(Equal("/dev/xvda"))
			g.Expect(img.BlockDeviceMappings).To(HaveLen(1))
			g.Expect(aws.ToString(img.BlockDeviceMappings[0].DeviceName)).To(Equal("/dev/xvda"))
			g.Expect(aws.ToInt32(img.BlockDeviceMappings[0].Ebs.VolumeSize)).To(BeNumerically(">", 0))
			g.Expect(aws.ToString(img.CreationDate)).NotTo(BeEmpty())
			switch aws.ToString(img.ImageId) {
			case publicImageID:
				g.Expect(aws.ToString(img.Name)).To(Equal("ubuntu-24.04-server-amd64"))
				g.Expect(aws.ToString(img.Description)).To(Equal("Ubuntu 24.04 LTS"))
				g.Expect(aws.ToBool(img.Public)).To(BeTrue())
				g.Expect(aws.ToString(img.ImageOwnerAlias)).To(Equal("amazon"))
				g.Expect(aws.ToString(img.OwnerId)).To(Equal("000000000000"))
			case mine:
				g.Expect(aws.ToString(img.Name)).To(Equal("golden"))
				g.Expect(aws.ToBool(img.Public)).To(BeFalse())
				g.Expect(img.ImageOwnerAlias).To(BeNil())
				g.Expect(aws.ToString(img.OwnerId)).To(Equal(a.ID))
			}
		}
	})
	t.Run("filters by name and state", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(idsOf(&ec2.DescribeImagesInput{Filters: []types.Filter{filter("name", "golden")}})).To(Equal([]string{mine}))
		g.Expect(idsOf(&ec2.DescribeImagesInput{Owners: []string{"amazon"}, Filters: []types.Filter{filter("name", "ubuntu-*")}})).To(Equal([]string{publicImageID}))
		g.Expect(idsOf(&ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{filter("state", "available")}})).To(Equal([]string{mine}))
		g.Expect(idsOf(&ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{filter("state", "pending", "failed")}})).To(BeEmpty())
		g.Expect(idsOf(&ec2.DescribeImagesInput{Filters: []types.Filter{filter("name", "golden"), filter("is-public", "true")}})).To(BeEmpty())
		_, err := a.NoRetry.DescribeImages(a.ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{filter("flavour", "x")}})
		expectError(g, err, "InvalidParameterValue")
	})
	t.Run("an image ID that does not exist, or is another account's, is InvalidAMIID.NotFound", func(t *testing.T) {
		g := NewWithT(t)
		for _, id := range []string{"ami-0000000000000dead", theirs} {
			_, err := a.NoRetry.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{mine, id}})
			e := expectError(g, err, "InvalidAMIID.NotFound")
			g.Expect(e.Message).To(ContainSubstring(id))
		}
		_, err := a.NoRetry.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-zzz"}})
		expectError(g, err, "InvalidAMIID.Malformed")
	})
	t.Run("another account's private image cannot be launched", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(theirs), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		expectError(g, err, "InvalidAMIID.NotFound")
	})
}
