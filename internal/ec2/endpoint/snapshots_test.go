package endpoint_test

import (
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
)

func (a *account) snapshot(g Gomega, id string) types.Snapshot {
	out, err := a.EC2.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, out.Snapshots).To(HaveLen(1))
	return out.Snapshots[0]
}

func TestASnapshotIsTakenRestoredToANewVolumeAttachedCopiedAndDeleted(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g, withZone(zoneB))
	a.waitRunning(g, id)
	src := a.createVolume(g, zoneA, 3)

	out, err := a.EC2.CreateSnapshot(a.ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(src), Description: aws.String("nightly"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: tags("Name", "backup")}}})
	g.Expect(err).NotTo(HaveOccurred())
	snap := aws.ToString(out.SnapshotId)
	g.Expect(snap).To(MatchRegexp(`^snap-[0-9a-f]{17}$`))
	g.Expect(out.State).To(Equal(types.SnapshotStatePending))
	g.Expect(aws.ToString(out.VolumeId)).To(Equal(src))
	g.Expect(aws.ToInt32(out.VolumeSize)).To(Equal(int32(3)))
	g.Expect(aws.ToString(out.OwnerId)).To(Equal(a.ID))
	g.Expect(tagMap(out.Tags)).To(Equal(map[string]string{"Name": "backup"}))
	a.waitSnapshots(g, snap)
	s := a.snapshot(g, snap)
	g.Expect(aws.ToString(s.Progress)).To(Equal("100%"))
	g.Expect(aws.ToString(s.Description)).To(Equal("nightly"))
	g.Expect(s.StartTime).NotTo(BeNil())

	// Restored in another zone, at the snapshot's size, and attached.
	restored, err := a.EC2.CreateVolume(a.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneB), SnapshotId: aws.String(snap)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToInt32(restored.Size)).To(Equal(int32(3)))
	g.Expect(aws.ToString(restored.SnapshotId)).To(Equal(snap))
	vol := aws.ToString(restored.VolumeId)
	a.waitVolumes(g, types.VolumeStateAvailable, vol)
	_, err = a.EC2.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(id), Device: aws.String("/dev/sdk")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(a.attachmentState(vol), timeout, poll).Should(Equal(types.VolumeAttachmentStateAttached))
	_, err = a.NoRetry.CreateVolume(a.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneB), SnapshotId: aws.String(snap), Size: aws.Int32(2)})
	expectError(g, err, "InvalidParameterValue")

	cp, err := a.EC2.CopySnapshot(a.ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String(region), SourceSnapshotId: aws.String(snap)})
	g.Expect(err).NotTo(HaveOccurred())
	copied := aws.ToString(cp.SnapshotId)
	g.Expect(copied).NotTo(Equal(snap))
	a.waitSnapshots(g, copied)
	c := a.snapshot(g, copied)
	g.Expect(aws.ToInt32(c.VolumeSize)).To(Equal(int32(3)))
	g.Expect(aws.ToString(c.Description)).To(ContainSubstring(snap))
	_, err = a.NoRetry.CopySnapshot(a.ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String("elsewhere-1"), SourceSnapshotId: aws.String(snap)})
	expectError(g, err, "InvalidParameterValue")

	// Listing: only the account's own, by owner, filters and pages.
	mine, err := a.EC2.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	g.Expect(err).NotTo(HaveOccurred())
	var got []string
	for _, s := range mine.Snapshots {
		got = append(got, aws.ToString(s.SnapshotId))
	}
	want := []string{snap, copied}
	sort.Strings(want)
	g.Expect(got).To(Equal(want))
	byVolume, err := a.EC2.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{Filters: []types.Filter{filter("volume-id", src), filter("status", "completed")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byVolume.Snapshots).To(HaveLen(1))
	byOwner, err := a.EC2.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{Filters: []types.Filter{filter("owner-id", a.ID)}, MaxResults: aws.Int32(5)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(byOwner.Snapshots).To(HaveLen(2))
	others, err := a.EC2.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"amazon"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(others.Snapshots).To(BeEmpty(), "no public snapshots clutter the list")
	got2, rt := a.tagsOf(g, snap)
	g.Expect(got2).To(Equal(map[string]string{"Name": "backup"}))
	g.Expect(rt).To(Equal(types.ResourceTypeSnapshot))

	_, err = a.EC2.DeleteSnapshot(a.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(copied)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() string {
		_, err := a.NoRetry.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{copied}})
		return asAPIError(err).Code
	}, timeout, poll).Should(Equal("InvalidSnapshot.NotFound"))

	other := newAccount(t)
	_, err = other.NoRetry.DescribeSnapshots(other.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	expectError(g, err, "InvalidSnapshot.NotFound")
	_, err = a.NoRetry.CreateSnapshot(a.ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String("vol-0000000000000dead")})
	expectError(g, err, "InvalidVolume.NotFound")
	_, err = a.NoRetry.DeleteSnapshot(a.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String("snap-0000000000000dead")})
	expectError(g, err, "InvalidSnapshot.NotFound")
}

func TestCreateImageOfAnInstanceLaunchesCopiesOfItsVolumesAndHoldsItsSnapshots(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	src := a.runOne(g, withZone(zoneA))
	a.waitRunning(g, src)
	data := a.createVolume(g, zoneA, 4)
	_, err := a.EC2.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(data), InstanceId: aws.String(src), Device: aws.String("/dev/sdf")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(a.attachmentState(data), timeout, poll).Should(Equal(types.VolumeAttachmentStateAttached))

	out, err := a.EC2.CreateImage(a.ctx, &ec2.CreateImageInput{InstanceId: aws.String(src), Name: aws.String("web-golden"), Description: aws.String("made by a test"),
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeImage, Tags: tags("kind", "golden")},
			{ResourceType: types.ResourceTypeSnapshot, Tags: tags("of", "web-golden")},
		}})
	g.Expect(err).NotTo(HaveOccurred())
	img := aws.ToString(out.ImageId)
	a.waitImages(g, img)
	images, err := a.EC2.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}})
	g.Expect(err).NotTo(HaveOccurred())
	desc := images.Images[0]
	g.Expect(aws.ToString(desc.Name)).To(Equal("web-golden"))
	g.Expect(aws.ToString(desc.OwnerId)).To(Equal(a.ID))
	g.Expect(aws.ToString(desc.SourceInstanceId)).To(Equal(src))
	g.Expect(tagMap(desc.Tags)).To(Equal(map[string]string{"kind": "golden"}))
	g.Expect(desc.BlockDeviceMappings).To(HaveLen(2))
	g.Expect(aws.ToString(desc.BlockDeviceMappings[0].DeviceName)).To(Equal("/dev/xvda"))
	g.Expect(aws.ToString(desc.BlockDeviceMappings[1].DeviceName)).To(Equal("/dev/sdf"))
	g.Expect(aws.ToInt32(desc.BlockDeviceMappings[1].Ebs.VolumeSize)).To(Equal(int32(4)))
	var snaps []string
	for _, m := range desc.BlockDeviceMappings {
		g.Expect(aws.ToString(m.Ebs.SnapshotId)).To(MatchRegexp(`^snap-`))
		snaps = append(snaps, aws.ToString(m.Ebs.SnapshotId))
	}
	s := a.snapshot(g, snaps[1])
	g.Expect(aws.ToString(s.VolumeId)).To(Equal(data))
	g.Expect(tagMap(s.Tags)).To(Equal(map[string]string{"of": "web-golden"}))
	attr, err := a.EC2.DescribeImageAttribute(a.ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(img), Attribute: types.ImageAttributeNameBlockDeviceMapping})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(attr.BlockDeviceMappings).To(HaveLen(2))
	descAttr, err := a.EC2.DescribeImageAttribute(a.ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(img), Attribute: types.ImageAttributeNameDescription})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(descAttr.Description.Value)).To(Equal("made by a test"))

	// The snapshots stay while the image is registered; a second image may not take
	// the name.
	_, err = a.NoRetry.DeleteSnapshot(a.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snaps[0])})
	expectError(g, err, "InvalidSnapshot.InUse")
	_, err = a.NoRetry.CreateImage(a.ctx, &ec2.CreateImageInput{InstanceId: aws.String(src), Name: aws.String("web-golden")})
	expectError(g, err, "InvalidAMIName.Duplicate")

	// An instance of the image gets a copy of each volume.
	next := a.runOne(g, withImage(img), withZone(zoneA))
	a.waitRunning(g, next)
	g.Eventually(func(g Gomega) {
		vols := a.volumesOf(g, next)
		g.Expect(vols).To(HaveLen(2))
		g.Expect(aws.ToString(vols["/dev/sdf"].SnapshotId)).To(Equal(snaps[1]))
		g.Expect(aws.ToInt32(vols["/dev/sdf"].Size)).To(Equal(int32(4)))
		g.Expect(vols["/dev/sdf"].Attachments[0].State).To(Equal(types.VolumeAttachmentStateAttached))
		g.Expect(aws.ToInt32(vols["/dev/xvda"].Size)).To(Equal(int32(8)))
	}, timeout, poll).Should(Succeed())

	// Deregistered with its snapshots: the image and the snapshots go.
	dereg, err := a.EC2.DeregisterImage(a.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(img), DeleteAssociatedSnapshots: aws.Bool(true)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(dereg.DeleteSnapshotResults).To(HaveLen(2))
	for _, r := range dereg.DeleteSnapshotResults {
		g.Expect(r.ReturnCode).To(Equal(types.SnapshotReturnCodesSuccess))
	}
	g.Eventually(func() string {
		_, err := a.NoRetry.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snaps[:1]})
		return asAPIError(err).Code
	}, timeout, poll).Should(Equal("InvalidSnapshot.NotFound"))
	g.Eventually(func() string {
		_, err := a.NoRetry.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}})
		return asAPIError(err).Code
	}, timeout, poll).Should(Equal("InvalidAMIID.NotFound"))
	g.Expect(a.describe(g, next).State.Name).To(Equal(types.InstanceStateNameRunning), "its instances keep running")
}

func TestRegisterImageFromASnapshotAndWhatItRefuses(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vol := a.createVolume(g, zoneA, 5)
	out, err := a.EC2.CreateSnapshot(a.ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
	g.Expect(err).NotTo(HaveOccurred())
	snap := aws.ToString(out.SnapshotId)

	reg, err := a.EC2.RegisterImage(a.ctx, &ec2.RegisterImageInput{
		Name: aws.String("from-snapshot"), RootDeviceName: aws.String("/dev/xvda"), Architecture: types.ArchitectureValuesArm64,
		VirtualizationType: aws.String("hvm"), EnaSupport: aws.Bool(true),
		BlockDeviceMappings: []types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap), DeleteOnTermination: aws.Bool(true)}},
			{DeviceName: aws.String("/dev/sdg"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(2)}},
		},
	})
	g.Expect(err).NotTo(HaveOccurred())
	img := aws.ToString(reg.ImageId)
	// Pending until the snapshot is completed, then available.
	a.waitImages(g, img)
	images, err := a.EC2.DescribeImages(a.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{filter("block-device-mapping.snapshot-id", snap)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(images.Images).To(HaveLen(1))
	d := images.Images[0]
	g.Expect(d.Architecture).To(Equal(types.ArchitectureValuesArm64))
	g.Expect(aws.ToInt32(d.BlockDeviceMappings[0].Ebs.VolumeSize)).To(Equal(int32(5)), "the snapshot's size")
	g.Expect(d.BlockDeviceMappings).To(HaveLen(2))

	for name, tc := range map[string]struct {
		in   *ec2.RegisterImageInput
		code string
	}{
		"a name in use": {&ec2.RegisterImageInput{Name: aws.String("from-snapshot"),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}}, "InvalidAMIName.Duplicate"},
		"no snapshot for the root device": {&ec2.RegisterImageInput{Name: aws.String("rootless"),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}}, "InvalidBlockDeviceMapping"},
		"a snapshot that does not exist": {&ec2.RegisterImageInput{Name: aws.String("ghost"),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String("snap-0000000000000dead")}}}}, "InvalidSnapshot.NotFound"},
		"an S3 manifest": {&ec2.RegisterImageInput{Name: aws.String("from-s3"), ImageLocation: aws.String("bucket/image.manifest.xml")}, "UnsupportedOperation"},
		"a name too short": {&ec2.RegisterImageInput{Name: aws.String("ab"),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}}, "InvalidParameterValue"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.NoRetry.RegisterImage(a.ctx, tc.in)
			expectError(NewWithT(t), err, tc.code)
		})
	}

	_, err = a.NoRetry.DeregisterImage(a.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(publicImageID)})
	expectError(g, err, "UnauthorizedOperation")
	_, err = a.EC2.DeregisterImage(a.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(img)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() error {
		_, err := a.NoRetry.DeleteSnapshot(a.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)})
		return plain(err)
	}, timeout, poll).Should(Succeed(), "deregistered, the image no longer holds its snapshot")
}
