package endpoint_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
)

// Volume helpers: the SDK's waiters, polling quickly.

func (a *account) waitVolumes(g Gomega, state types.VolumeState, ids ...string) {
	in := &ec2.DescribeVolumesInput{VolumeIds: ids}
	var err error
	switch state {
	case types.VolumeStateAvailable:
		err = ec2.NewVolumeAvailableWaiter(a.EC2, func(o *ec2.VolumeAvailableWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
		}).Wait(a.ctx, in, timeout)
	case types.VolumeStateInUse:
		err = ec2.NewVolumeInUseWaiter(a.EC2, func(o *ec2.VolumeInUseWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
		}).Wait(a.ctx, in, timeout)
	case types.VolumeStateDeleted:
		err = ec2.NewVolumeDeletedWaiter(a.EC2, func(o *ec2.VolumeDeletedWaiterOptions) {
			o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
		}).Wait(a.ctx, in, timeout)
	}
	g.ExpectWithOffset(1, err).To(Succeed(), "waiting for %v to be %s", ids, state)
}

func (a *account) waitSnapshots(g Gomega, ids ...string) {
	err := ec2.NewSnapshotCompletedWaiter(a.EC2, func(o *ec2.SnapshotCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	}).Wait(a.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids}, timeout)
	g.ExpectWithOffset(1, err).To(Succeed())
}

func (a *account) waitImages(g Gomega, ids ...string) {
	err := ec2.NewImageAvailableWaiter(a.EC2, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	}).Wait(a.ctx, &ec2.DescribeImagesInput{ImageIds: ids}, timeout)
	g.ExpectWithOffset(1, err).To(Succeed())
}

// createVolume creates a gp3 volume of size GiB in zone and waits until it is available.
func (a *account) createVolume(g Gomega, zone string, size int32, opts ...func(*ec2.CreateVolumeInput)) string {
	in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(size), VolumeType: types.VolumeTypeGp3}
	for _, o := range opts {
		o(in)
	}
	out, err := a.EC2.CreateVolume(a.ctx, in)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, out.State).To(Equal(types.VolumeStateCreating))
	id := aws.ToString(out.VolumeId)
	a.waitVolumes(g, types.VolumeStateAvailable, id)
	return id
}

func (a *account) volume(g Gomega, id string) types.Volume {
	out, err := a.EC2.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, out.Volumes).To(HaveLen(1))
	return out.Volumes[0]
}

// volumesOf lists the volumes attached to an instance, by device.
func (a *account) volumesOf(g Gomega, instanceID string) map[string]types.Volume {
	out, err := a.EC2.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{filter("attachment.instance-id", instanceID)}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	m := map[string]types.Volume{}
	for _, v := range out.Volumes {
		for _, att := range v.Attachments {
			if aws.ToString(att.InstanceId) == instanceID {
				m[aws.ToString(att.Device)] = v
			}
		}
	}
	return m
}

// attachmentState is the state of a volume's first attachment ("" without one).
func (a *account) attachmentState(id string) func() (types.VolumeAttachmentState, error) {
	return func() (types.VolumeAttachmentState, error) {
		out, err := a.EC2.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
		if err != nil {
			return "", plain(err)
		}
		if len(out.Volumes) != 1 || len(out.Volumes[0].Attachments) == 0 {
			return "", nil
		}
		return out.Volumes[0].Attachments[0].State, nil
	}
}

func TestEveryInstanceHasItsRootVolumeAttachedAtTheImagesRootDevice(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g)
	a.waitRunning(g, id)

	var root types.Volume
	g.Eventually(func(g Gomega) {
		vols := a.volumesOf(g, id)
		g.Expect(vols).To(HaveLen(1))
		g.Expect(vols).To(HaveKey("/dev/xvda"))
		root = vols["/dev/xvda"]
		g.Expect(root.Attachments[0].State).To(Equal(types.VolumeAttachmentStateAttached))
	}, timeout, poll).Should(Succeed())
	inst := a.describe(g, id)
	g.Expect(root.State).To(Equal(types.VolumeStateInUse))
	g.Expect(aws.ToInt32(root.Size)).To(Equal(int32(8)), "the image's root volume size")
	g.Expect(root.VolumeType).To(Equal(types.VolumeTypeGp3))
	g.Expect(aws.ToString(root.AvailabilityZone)).To(Equal(aws.ToString(inst.Placement.AvailabilityZone)))
	g.Expect(aws.ToBool(root.Attachments[0].DeleteOnTermination)).To(BeTrue(), "a root volume is deleted with its instance by default")
	g.Expect(root.Attachments[0].AttachTime).NotTo(BeNil())
	g.Expect(aws.ToInt32(root.Iops)).To(Equal(int32(3000)))
	g.Expect(aws.ToInt32(root.Throughput)).To(Equal(int32(125)))

	// DescribeInstances lists it, as Terraform's aws_instance reads it.
	g.Expect(inst.BlockDeviceMappings).To(HaveLen(1))
	bdm := inst.BlockDeviceMappings[0]
	g.Expect(aws.ToString(bdm.DeviceName)).To(Equal(aws.ToString(inst.RootDeviceName)))
	g.Expect(aws.ToString(bdm.Ebs.VolumeId)).To(Equal(aws.ToString(root.VolumeId)))
	g.Expect(bdm.Ebs.Status).To(Equal(types.AttachmentStatusAttached))
	g.Expect(aws.ToBool(bdm.Ebs.DeleteOnTermination)).To(BeTrue())
	attr, err := a.EC2.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameBlockDeviceMapping})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(attr.BlockDeviceMappings).To(HaveLen(1))
	g.Expect(aws.ToString(attr.BlockDeviceMappings[0].Ebs.VolumeId)).To(Equal(aws.ToString(root.VolumeId)))

	// It cannot be detached, nor deleted while attached.
	_, err = a.NoRetry.DetachVolume(a.ctx, &ec2.DetachVolumeInput{VolumeId: root.VolumeId})
	expectError(g, err, "IncorrectState")
	_, err = a.NoRetry.DeleteVolume(a.ctx, &ec2.DeleteVolumeInput{VolumeId: root.VolumeId})
	expectError(g, err, "VolumeInUse")
}

func TestAVolumeIsCreatedAttachedToARunningInstanceDetachedAndDeleted(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g, withZone(zoneA))
	a.waitRunning(g, id)

	out, err := a.EC2.CreateVolume(a.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneA), Size: aws.Int32(2),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: tags("Name", "data")}}})
	g.Expect(err).NotTo(HaveOccurred())
	vol := aws.ToString(out.VolumeId)
	g.Expect(vol).To(MatchRegexp(`^vol-[0-9a-f]{17}$`))
	g.Expect(out.State).To(Equal(types.VolumeStateCreating))
	g.Expect(out.VolumeType).To(Equal(types.VolumeTypeGp2), "EC2's default type")
	g.Expect(aws.ToInt32(out.Iops)).To(Equal(int32(100)), "gp2's 3 IOPS per GiB, at least 100")
	g.Expect(tagMap(out.Tags)).To(Equal(map[string]string{"Name": "data"}))
	a.waitVolumes(g, types.VolumeStateAvailable, vol)
	described := a.volume(g, vol)
	g.Expect(aws.ToInt32(described.Size)).To(Equal(int32(2)))
	g.Expect(aws.ToString(described.AvailabilityZone)).To(Equal(zoneA))
	g.Expect(described.CreateTime).NotTo(BeNil())
	g.Expect(described.Attachments).To(BeEmpty())
	g.Expect(aws.ToBool(described.Encrypted)).To(BeFalse())

	att, err := a.EC2.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(id), Device: aws.String("/dev/sdf")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(att.State).To(Equal(types.VolumeAttachmentStateAttaching))
	g.Expect(aws.ToString(att.Device)).To(Equal("/dev/sdf"))
	a.waitVolumes(g, types.VolumeStateInUse, vol)
	g.Eventually(a.attachmentState(vol), timeout, poll).Should(Equal(types.VolumeAttachmentStateAttached))
	g.Expect(a.volumesOf(g, id)).To(HaveKey("/dev/sdf"))
	var devices []string
	for _, m := range a.describe(g, id).BlockDeviceMappings {
		devices = append(devices, aws.ToString(m.DeviceName))
	}
	g.Expect(devices).To(Equal([]string{"/dev/xvda", "/dev/sdf"}), "the root first")

	_, err = a.NoRetry.DeleteVolume(a.ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)})
	expectError(g, err, "VolumeInUse")

	det, err := a.EC2.DetachVolume(a.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(id), Force: aws.Bool(true)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(det.State).To(Equal(types.VolumeAttachmentStateDetaching))
	a.waitVolumes(g, types.VolumeStateAvailable, vol)
	g.Expect(a.volumesOf(g, id)).NotTo(HaveKey("/dev/sdf"))

	_, err = a.EC2.DeleteVolume(a.ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitVolumes(g, types.VolumeStateDeleted, vol)
	_, err = a.NoRetry.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}})
	expectError(g, err, "InvalidVolume.NotFound")
}

func TestAVolumeAttachedToAStoppedInstanceIsInUseAtOnceAndTheInstanceStartsWithIt(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g, withZone(zoneB))
	a.waitRunning(g, id)
	_, err := a.EC2.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitStopped(g, id)
	vol := a.createVolume(g, zoneB, 1)

	_, err = a.EC2.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(id), Device: aws.String("/dev/sdg")})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitVolumes(g, types.VolumeStateInUse, vol)
	g.Eventually(a.attachmentState(vol), timeout, poll).Should(Equal(types.VolumeAttachmentStateAttached))
	g.Expect(a.describe(g, id).State.Name).To(Equal(types.InstanceStateNameStopped), "attaching does not start it")

	_, err = a.EC2.StartInstances(a.ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitRunning(g, id)
	g.Consistently(a.attachmentState(vol), "500ms", poll).Should(Equal(types.VolumeAttachmentStateAttached))
}

func TestTerminationDeletesTheVolumesMarkedDeleteOnTerminationAndFreesTheOthers(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g, withZone(zoneA), func(in *ec2.RunInstancesInput) {
		in.BlockDeviceMappings = []types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(12), DeleteOnTermination: aws.Bool(false)}},
			{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(3), VolumeType: types.VolumeTypeGp2}},
		}
		in.TagSpecifications = append(in.TagSpecifications, types.TagSpecification{ResourceType: types.ResourceTypeVolume, Tags: tags("launch", "yes")})
	})
	a.waitRunning(g, id)
	var root, launched string
	g.Eventually(func(g Gomega) {
		vols := a.volumesOf(g, id)
		g.Expect(vols).To(HaveLen(2))
		root, launched = aws.ToString(vols["/dev/xvda"].VolumeId), aws.ToString(vols["/dev/sdf"].VolumeId)
		for _, v := range vols {
			g.Expect(v.Attachments[0].State).To(Equal(types.VolumeAttachmentStateAttached))
			g.Expect(tagMap(v.Tags)).To(Equal(map[string]string{"launch": "yes"}))
		}
		g.Expect(aws.ToInt32(vols["/dev/xvda"].Size)).To(Equal(int32(12)))
		g.Expect(aws.ToBool(vols["/dev/xvda"].Attachments[0].DeleteOnTermination)).To(BeFalse())
		g.Expect(aws.ToInt32(vols["/dev/sdf"].Size)).To(Equal(int32(3)))
		g.Expect(vols["/dev/sdf"].VolumeType).To(Equal(types.VolumeTypeGp2))
		g.Expect(aws.ToBool(vols["/dev/sdf"].Attachments[0].DeleteOnTermination)).To(BeTrue())
	}, timeout, poll).Should(Succeed())
	kept := a.createVolume(g, zoneA, 1)
	_, err := a.EC2.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(kept), InstanceId: aws.String(id), Device: aws.String("/dev/sdh")})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitVolumes(g, types.VolumeStateInUse, kept)

	_, err = a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitTerminated(g, id)
	a.waitVolumes(g, types.VolumeStateDeleted, launched)
	a.waitVolumes(g, types.VolumeStateAvailable, root, kept)
	g.Expect(a.describe(g, id).BlockDeviceMappings).To(BeEmpty())

	// The root volume's data outlived the instance: it can be attached elsewhere.
	other := a.runOne(g, withZone(zoneA))
	a.waitRunning(g, other)
	_, err = a.EC2.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(root), InstanceId: aws.String(other), Device: aws.String("/dev/sdf")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(a.attachmentState(root), timeout, poll).Should(Equal(types.VolumeAttachmentStateAttached))
}

func TestVolumeCallsEC2RefusesAreRefusedWithItsErrors(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g, withZone(zoneA))
	a.waitRunning(g, id)
	avail := a.createVolume(g, zoneA, 1)
	elsewhere := a.createVolume(g, zoneB, 1)
	attached := a.createVolume(g, zoneA, 1)
	big := a.createVolume(g, zoneA, 2)
	_, err := a.EC2.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(attached), InstanceId: aws.String(id), Device: aws.String("/dev/sdf")})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitVolumes(g, types.VolumeStateInUse, attached)
	other := a.runOne(g, withZone(zoneA))
	a.waitRunning(g, other)

	create := func(mod func(*ec2.CreateVolumeInput)) error {
		in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneA), Size: aws.Int32(1)}
		mod(in)
		_, err := a.NoRetry.CreateVolume(a.ctx, in)
		return err
	}
	attach := func(vol, inst, dev string) error {
		_, err := a.NoRetry.AttachVolume(a.ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(inst), Device: aws.String(dev)})
		return err
	}
	for name, tc := range map[string]struct {
		call func() error
		code string
	}{
		"a size of zero":              {func() error { return create(func(in *ec2.CreateVolumeInput) { in.Size = aws.Int32(0) }) }, "InvalidParameterValue"},
		"a negative size":             {func() error { return create(func(in *ec2.CreateVolumeInput) { in.Size = aws.Int32(-5) }) }, "InvalidParameterValue"},
		"a huge size":                 {func() error { return create(func(in *ec2.CreateVolumeInput) { in.Size = aws.Int32(70000) }) }, "InvalidParameterValue"},
		"neither size nor snapshot":   {func() error { return create(func(in *ec2.CreateVolumeInput) { in.Size = nil }) }, "MissingParameter"},
		"an st1 volume below 125 GiB": {func() error { return create(func(in *ec2.CreateVolumeInput) { in.VolumeType = types.VolumeTypeSt1 }) }, "InvalidParameterValue"},
		"iops on a gp2 volume":        {func() error { return create(func(in *ec2.CreateVolumeInput) { in.Iops = aws.Int32(3000) }) }, "InvalidParameterCombination"},
		"a zone the region does not have": {func() error {
			return create(func(in *ec2.CreateVolumeInput) { in.AvailabilityZone = aws.String("test-1z") })
		}, "InvalidParameterValue"},
		"a snapshot that does not exist": {func() error {
			return create(func(in *ec2.CreateVolumeInput) { in.SnapshotId = aws.String("snap-0000000000000dead") })
		}, "InvalidSnapshot.NotFound"},
		"encryption":                           {func() error { return create(func(in *ec2.CreateVolumeInput) { in.Encrypted = aws.Bool(true) }) }, "InvalidParameterValue"},
		"attaching to another zone's instance": {func() error { return attach(elsewhere, id, "/dev/sdg") }, "InvalidVolume.ZoneMismatch"},
		"a second attachment":                  {func() error { return attach(attached, other, "/dev/sdg") }, "VolumeInUse"},
		"a device in use":                      {func() error { return attach(avail, id, "/dev/sdf") }, "InvalidParameterValue"},
		"the same device by its Xen name":      {func() error { return attach(avail, id, "/dev/xvdf") }, "InvalidParameterValue"},
		"the root device":                      {func() error { return attach(avail, id, "/dev/xvda") }, "InvalidParameterValue"},
		"a device name EC2 does not have":      {func() error { return attach(avail, id, "/dev/vdb") }, "InvalidParameterValue"},
		"an instance that does not exist":      {func() error { return attach(avail, "i-0000000000000dead", "/dev/sdg") }, "InvalidInstanceID.NotFound"},
		"a volume that does not exist":         {func() error { return attach("vol-0000000000000dead", id, "/dev/sdg") }, "InvalidVolume.NotFound"},
		"a malformed volume ID":                {func() error { return attach("volume-1", id, "/dev/sdg") }, "InvalidVolume.Malformed"},
		"detaching a volume attached to nothing": {func() error {
			_, err := a.NoRetry.DetachVolume(a.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(avail)})
			return err
		}, "IncorrectState"},
		"detaching from the wrong instance": {func() error {
			_, err := a.NoRetry.DetachVolume(a.ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(attached), InstanceId: aws.String(other)})
			return err
		}, "InvalidAttachment.NotFound"},
		"shrinking a volume": {func() error {
			_, err := a.NoRetry.ModifyVolume(a.ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(big), Size: aws.Int32(1)})
			return err
		}, "InvalidParameterValue"},
		"modifying a volume to a size of zero": {func() error {
			_, err := a.NoRetry.ModifyVolume(a.ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(attached), Size: aws.Int32(0)})
			return err
		}, "InvalidParameterValue"},
		"deleting a volume that does not exist": {func() error {
			_, err := a.NoRetry.DeleteVolume(a.ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String("vol-0000000000000dead")})
			return err
		}, "InvalidVolume.NotFound"},
		"MaxResults with volume IDs": {func() error {
			_, err := a.NoRetry.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{avail}, MaxResults: aws.Int32(5)})
			return err
		}, "InvalidParameterCombination"},
		"a filter DescribeVolumes does not have": {func() error {
			_, err := a.NoRetry.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{filter("colour", "blue")}})
			return err
		}, "InvalidParameterValue"},
	} {
		t.Run(name, func(t *testing.T) {
			expectError(NewWithT(t), tc.call(), tc.code)
		})
	}
	g.Expect(a.volume(g, avail).State).To(Equal(types.VolumeStateAvailable), "a refused call changes nothing")
	g.Expect(a.volume(g, elsewhere).Attachments).To(BeEmpty())
	g.Expect(a.volume(g, big).Size).To(HaveValue(Equal(int32(2))), "a refused shrink leaves the size")
}

func TestModifyVolumeGrowsAVolumeAndDescribeVolumesModificationsFollowsIt(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	vol := a.createVolume(g, zoneA, 2)
	out, err := a.EC2.ModifyVolume(a.ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(vol), Size: aws.Int32(6), Iops: aws.Int32(4000)})
	g.Expect(err).NotTo(HaveOccurred())
	m := out.VolumeModification
	g.Expect(m.ModificationState).To(Equal(types.VolumeModificationStateModifying))
	g.Expect(aws.ToInt32(m.OriginalSize)).To(Equal(int32(2)))
	g.Expect(aws.ToInt32(m.TargetSize)).To(Equal(int32(6)))
	g.Expect(aws.ToInt32(m.OriginalIops)).To(Equal(int32(3000)))
	g.Expect(aws.ToInt32(m.TargetIops)).To(Equal(int32(4000)))
	g.Expect(m.StartTime).NotTo(BeNil())

	g.Eventually(func(g Gomega) {
		mods, err := a.EC2.DescribeVolumesModifications(a.ctx, &ec2.DescribeVolumesModificationsInput{VolumeIds: []string{vol}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		g.Expect(mods.VolumesModifications).To(HaveLen(1))
		g.Expect(mods.VolumesModifications[0].ModificationState).To(Equal(types.VolumeModificationStateCompleted))
		g.Expect(aws.ToInt64(mods.VolumesModifications[0].Progress)).To(Equal(int64(100)))
		g.Expect(mods.VolumesModifications[0].EndTime).NotTo(BeNil())
	}, timeout, poll).Should(Succeed())
	v := a.volume(g, vol)
	g.Expect(aws.ToInt32(v.Size)).To(Equal(int32(6)))
	g.Expect(aws.ToInt32(v.Iops)).To(Equal(int32(4000)))
	filtered, err := a.EC2.DescribeVolumesModifications(a.ctx, &ec2.DescribeVolumesModificationsInput{
		Filters: []types.Filter{filter("modification-state", "completed"), filter("target-size", "6")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(filtered.VolumesModifications).To(HaveLen(1))

	_, err = a.NoRetry.ModifyVolume(a.ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(vol), Size: aws.Int32(4)})
	e := expectError(g, err, "InvalidParameterValue")
	g.Expect(e.Message).To(ContainSubstring("smaller"))
}

func TestDescribeVolumesFiltersAndPaginatesAndDescribeVolumeStatusReportsHealth(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	var all []string
	for i := 0; i < 7; i++ {
		out, err := a.EC2.CreateVolume(a.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneA), Size: aws.Int32(int32(1 + i%2)),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: tags("n", fmt.Sprint(i))}}})
		g.Expect(err).NotTo(HaveOccurred())
		all = append(all, aws.ToString(out.VolumeId))
	}
	sort.Strings(all)
	a.waitVolumes(g, types.VolumeStateAvailable, all...)

	var paged []string
	pages := 0
	p := ec2.NewDescribeVolumesPaginator(a.NoRetry, &ec2.DescribeVolumesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		page, err := p.NextPage(a.ctx)
		g.Expect(err).NotTo(HaveOccurred())
		pages++
		for _, v := range page.Volumes {
			paged = append(paged, aws.ToString(v.VolumeId))
		}
	}
	g.Expect(pages).To(Equal(2))
	g.Expect(paged).To(Equal(all), "each volume once, in ID order")

	idsOf := func(fs ...types.Filter) []string {
		out, err := a.EC2.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{Filters: fs})
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		var s []string
		for _, v := range out.Volumes {
			s = append(s, aws.ToString(v.VolumeId))
		}
		return s
	}
	g.Expect(idsOf(filter("size", "2"))).To(HaveLen(3))
	g.Expect(idsOf(filter("status", "available"), filter("tag:n", "0", "6"))).To(HaveLen(2))
	g.Expect(idsOf(filter("tag-key", "n"), filter("volume-type", "gp2"), filter("availability-zone", zoneA))).To(HaveLen(7))
	g.Expect(idsOf(filter("status", "in-use"))).To(BeEmpty())
	g.Expect(idsOf(filter("volume-id", all[3]))).To(Equal([]string{all[3]}))

	st, err := a.EC2.DescribeVolumeStatus(a.ctx, &ec2.DescribeVolumeStatusInput{VolumeIds: all[:2]})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st.VolumeStatuses).To(HaveLen(2))
	for _, s := range st.VolumeStatuses {
		g.Expect(s.VolumeStatus.Status).To(Equal(types.VolumeStatusInfoStatusOk))
		g.Expect(aws.ToString(s.AvailabilityZone)).To(Equal(zoneA))
	}
	attr, err := a.EC2.DescribeVolumeAttribute(a.ctx, &ec2.DescribeVolumeAttributeInput{VolumeId: aws.String(all[0]), Attribute: types.VolumeAttributeNameAutoEnableIO})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(attr.VolumeId)).To(Equal(all[0]))
	g.Expect(attr.AutoEnableIO).NotTo(BeNil())

	// Tags: CreateTags and DescribeTags know volumes.
	_, err = a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: all[:1], Tags: tags("env", "test")})
	g.Expect(err).NotTo(HaveOccurred())
	got, rt := a.tagsOf(g, all[0])
	g.Expect(got).To(HaveKeyWithValue("env", "test"))
	g.Expect(got).To(HaveKey("n"), "the tag it was created with")
	g.Expect(rt).To(Equal(types.ResourceTypeVolume))
}

func TestCreateVolumeIsIdempotentWithAClientToken(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneA), Size: aws.Int32(1), ClientToken: aws.String("vol-token-1")}
	first, err := a.EC2.CreateVolume(a.ctx, in)
	g.Expect(err).NotTo(HaveOccurred())
	again, err := a.EC2.CreateVolume(a.ctx, in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(again.VolumeId)).To(Equal(aws.ToString(first.VolumeId)))
	in.Size = aws.Int32(2)
	_, err = a.NoRetry.CreateVolume(a.ctx, in)
	expectError(g, err, "IdempotentParameterMismatch")
}

func TestModifyInstanceAttributeChangesTheRootVolumesDeleteOnTermination(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g)
	a.waitRunning(g, id)
	_, err := a.EC2.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		BlockDeviceMappings: []types.InstanceBlockDeviceMappingSpecification{{DeviceName: aws.String("/dev/xvda"),
			Ebs: &types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(false)}}}})
	g.Expect(err).NotTo(HaveOccurred())
	bdm := a.describe(g, id).BlockDeviceMappings
	g.Expect(bdm).To(HaveLen(1))
	g.Expect(aws.ToBool(bdm[0].Ebs.DeleteOnTermination)).To(BeFalse())
	root := aws.ToString(bdm[0].Ebs.VolumeId)

	_, err = a.NoRetry.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		BlockDeviceMappings: []types.InstanceBlockDeviceMappingSpecification{{DeviceName: aws.String("/dev/sdz"),
			Ebs: &types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(false)}}}})
	expectError(g, err, "InvalidParameterValue")

	_, err = a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitTerminated(g, id)
	a.waitVolumes(g, types.VolumeStateAvailable, root)
}
