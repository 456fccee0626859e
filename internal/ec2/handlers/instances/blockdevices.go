package instances

import (
	"context"
	"fmt"
	"hash"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/mapping"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ec2/volumeview"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/quota"
	"github.com/koala-dev/koala/internal/zones"
)

// The volumes of a launch. RunInstances creates each instance's volumes (its root
// volume, cloned from the image, and one per other device of the image and of
// BlockDeviceMapping.N) before the instance, so that the operator finds them when it
// first sees the instance and spends no write on them; it creates those of an instance
// made with kubectl itself, the same way (package blockdevice).

// volumeFinalizer is the operator's finalizer of volumes, set at creation.
const volumeFinalizer = "cloud.koala.dev/volume"

// parseLaunchVolumes reads BlockDeviceMapping.N.
func parseLaunchVolumes(p *protocol.Params, in *runInput) error {
	m, err := mapping.Parse(p, "BlockDeviceMapping")
	if err != nil {
		return err
	}
	in.blockDeviceMappings = m
	return nil
}

// digestLaunchVolumes adds the mappings and the volumes' tags to a launch's digest.
func digestLaunchVolumes(h hash.Hash, in runInput) {
	for _, m := range in.blockDeviceMappings {
		fmt.Fprintf(h, " %q %v", m.DeviceName, m.NoDevice)
		if e := m.EBS; e != nil {
			fmt.Fprintf(h, " %q %d %q %v %v %v", e.SnapshotID, e.VolumeSize, e.VolumeType, deref(e.DeleteOnTermination), deref(e.Iops), deref(e.Throughput))
		}
	}
	for _, t := range tagging.Set(in.volumeTags) {
		fmt.Fprintf(h, " volume:%q=%q", t.Key, t.Value)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// launchVolumes are the volumes of one instance of the launch.
func (h *Handlers) launchVolumes(ctx context.Context, c *action.Call, inst *koalav1.Instance, img *koalav1.Image, zone string) ([]*koalav1.Volume, error) {
	return blockdevice.LaunchVolumes(blockdevice.Launch{
		Instance: inst, InstanceID: inst.EC2ID(), Zone: zone, Image: img,
		SnapshotSize: func(id string) int32 { return h.snapshotSize(ctx, c, id) },
	})
}

// snapshotSize is a snapshot's size in GiB: the operator's record, else its volume's.
func (h *Handlers) snapshotSize(ctx context.Context, c *action.Call, id string) int32 {
	snap, err := h.Store.Snapshot(ctx, c.Account, id)
	if err != nil || snap == nil {
		return 0
	}
	if snap.Status.VolumeSize > 0 {
		return snap.Status.VolumeSize
	}
	if snap.Spec.VolumeID != "" {
		if v, err := h.Store.Volume(ctx, c.Account, snap.Spec.VolumeID); err == nil && v != nil {
			return v.Spec.Size
		}
	}
	return 0
}

// checkLaunchVolumes refuses mappings that cannot be applied to the image: a snapshot
// the account does not have, a size out of the type's range, a root smaller than the
// image's.
func (h *Handlers) checkLaunchVolumes(ctx context.Context, c *action.Call, in runInput, img *koalav1.Image) error {
	for _, m := range in.blockDeviceMappings {
		if m.EBS == nil || m.EBS.SnapshotID == "" {
			continue
		}
		snap, err := h.Store.Snapshot(ctx, c.Account, m.EBS.SnapshotID)
		if err != nil {
			return err
		}
		if snap == nil || !snap.DeletionTimestamp.IsZero() {
			return protocol.Errorf(protocol.CodeInvalidSnapshotNotFound, "The snapshot '%s' does not exist.", m.EBS.SnapshotID)
		}
	}
	probe := &koalav1.Instance{}
	probe.Name = "probe"
	probe.Spec = koalav1.InstanceSpec{ImageID: in.imageID, BlockDeviceMappings: in.blockDeviceMappings}
	vols, err := blockdevice.LaunchVolumes(blockdevice.Launch{
		Instance: probe, InstanceID: "i-00000000", Image: img,
		SnapshotSize: func(id string) int32 { return h.snapshotSize(ctx, c, id) },
	})
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "%s", err.Error())
	}
	for _, v := range vols {
		lo, hi := v.Spec.VolumeType.SizeLimits()
		if v.Spec.Size < lo || v.Spec.Size > hi {
			return protocol.Errorf(protocol.CodeInvalidParameterValue,
				"The volume at %s of %dGiB is out of the range of %s volumes: %d to %dGiB.", v.Spec.Attachment.Device, v.Spec.Size, v.Spec.VolumeType, lo, hi)
		}
		if (v.Spec.VolumeType == koalav1.VolumeTypeIO1 || v.Spec.VolumeType == koalav1.VolumeTypeIO2) && v.Spec.Iops == nil {
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter iops must be specified for %s volumes (%s).", v.Spec.VolumeType, v.Spec.Attachment.Device)
		}
	}
	return nil
}

// createLaunchVolumes creates the volumes of the i-th instance of a launch, before the
// instance. With a client token their IDs derive from it, so a retried launch finds
// them instead of making them again. The caller awaits them in the endpoint's cache
// (Store.Await) once the instance is written: only the operator must find them before
// the instance, and its cache is not ours.
func (h *Handlers) createLaunchVolumes(ctx context.Context, c *action.Call, in runInput, inst *koalav1.Instance, reservation string, i int) ([]*koalav1.Volume, error) {
	img, err := h.Store.Image(ctx, c.Account, in.imageID)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", in.imageID)
	}
	// The instance's zone when the launch decided it (its subnet's: with only some of a
	// new default VPC's subnets known yet, that can be another zone than the one
	// assigned below), so that its volumes are where it runs.
	zone := inst.Spec.Placement.AvailabilityZone
	if zone == "" {
		zone = in.zone
	}
	if zone == "" {
		labels, err := h.Store.NodeLabels(ctx)
		if err != nil {
			return nil, err
		}
		// The operator chooses the same zone, from the same reservation.
		zone, _ = zones.Assign(h.Region, labels, reservation)
	}
	vols, err := h.launchVolumes(ctx, c, inst, img, zone)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "%s", err.Error())
	}
	var made []*koalav1.Volume
	for _, v := range vols {
		id := ids.New(ids.Volume)
		if in.clientToken != "" {
			id = ids.FromSeed(ids.Volume, c.Account.Namespace, in.clientToken, strconv.Itoa(i), v.Spec.Attachment.Device)
		}
		v.Annotations = map[string]string{koalav1.IDAnnotation: id}
		v.Finalizers = []string{volumeFinalizer}
		v.Spec.Tags = in.volumeTags
		if err := h.Store.CreateUnawaited(ctx, v); err != nil {
			if apierrors.IsAlreadyExists(err) && in.clientToken != "" {
				continue // the first request with the token made it
			}
			h.deleteVolumes(ctx, made)
			if apierrors.IsInvalid(err) {
				return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", firstCause(err))
			}
			return nil, fmt.Errorf("creating volume %s: %w", v.Name, err)
		}
		made = append(made, v)
	}
	return made, nil
}

// deleteVolumes undoes the creation of volumes (a launch that failed).
func (h *Handlers) deleteVolumes(ctx context.Context, vols []*koalav1.Volume) {
	for _, v := range vols {
		_ = h.Store.Delete(context.WithoutCancel(ctx), v, client.Preconditions{UID: &v.UID})
	}
}

// XML of an instance's block devices.

type ebsInstanceXML struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type instanceBlockDeviceXML struct {
	DeviceName string         `xml:"deviceName"`
	Ebs        ebsInstanceXML `xml:"ebs"`
}

// blockDeviceMappingXML is always present, empty or not, as EC2 sends it.
type blockDeviceMappingXML struct {
	Items []instanceBlockDeviceXML `xml:"item"`
}

// blockDevices lists the instance's volumes as DescribeInstances shows them: by
// device, the root first.
func blockDevices(vols []koalav1.Volume, instanceID, rootDevice string) blockDeviceMappingXML {
	var out blockDeviceMappingXML
	for i := range vols {
		v := &vols[i]
		a, ok := volumeview.Of(v).On(instanceID)
		if !ok || v.EC2ID() == "" {
			continue
		}
		item := instanceBlockDeviceXML{DeviceName: a.Device, Ebs: ebsInstanceXML{
			VolumeID: v.EC2ID(), Status: string(a.State), AttachTime: protocol.FormatTime(a.AttachTime), DeleteOnTermination: a.DeleteOnTermination,
		}}
		if blockdevice.SameDevice(a.Device, rootDevice) {
			out.Items = append([]instanceBlockDeviceXML{item}, out.Items...)
		} else {
			out.Items = append(out.Items, item)
		}
	}
	if len(out.Items) > 1 {
		rest := out.Items[1:]
		if !blockdevice.SameDevice(out.Items[0].DeviceName, rootDevice) {
			rest = out.Items
		}
		sortByDevice(rest)
	}
	return out
}

func sortByDevice(items []instanceBlockDeviceXML) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && blockdevice.Canonical(items[j].DeviceName) < blockdevice.Canonical(items[j-1].DeviceName); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}

// volumesOf reads the volumes of an instance (of the instance's account: its
// namespace), read-only.
func (h *Handlers) volumesOf(ctx context.Context, inst *koalav1.Instance) []koalav1.Volume {
	vols, err := h.Store.VolumesOfInstance(ctx, store.Account{Namespace: inst.Namespace}, inst.EC2ID())
	if err != nil {
		return nil
	}
	return vols
}

// parseDeleteOnTermination reads ModifyInstanceAttribute's BlockDeviceMapping.N: the
// only change it can make is an attached volume's DeleteOnTermination.
func parseDeleteOnTermination(p *protocol.Params) (map[string]bool, error) {
	members, err := p.Structs("BlockDeviceMapping")
	if err != nil || len(members) == 0 {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range members {
		dev, err := m.Required("DeviceName")
		if err != nil {
			return nil, err
		}
		ebs, ok := m.Struct("Ebs")
		if !ok {
			return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "The mapping of %s must change Ebs.DeleteOnTermination", dev)
		}
		dot, ok, err := ebs.Bool("DeleteOnTermination")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, protocol.MissingParameter(ebs.Path("DeleteOnTermination"))
		}
		if id, ok := ebs.String("VolumeId"); ok && !ids.Valid(ids.Volume, id) {
			return nil, protocol.Errorf(protocol.CodeInvalidVolumeMalformed, "Invalid id: \"%s\" (expecting \"vol-...\")", id)
		}
		for _, name := range []string{"VirtualName", "NoDevice"} {
			if v, ok := m.String(name); ok {
				return nil, protocol.InvalidValue(m.Path(name), v, "Only Ebs.DeleteOnTermination can be modified.")
			}
		}
		out[dev] = dot
	}
	return out, nil
}

// modifyDeleteOnTermination sets the DeleteOnTermination of the instance's volumes at
// the devices given; a device without a volume is InvalidParameterValue, as in EC2.
func (h *Handlers) modifyDeleteOnTermination(ctx context.Context, c *action.Call, inst *koalav1.Instance, changes map[string]bool) (protocol.Body, error) {
	vols, err := h.Store.VolumesOfInstance(ctx, c.Account, inst.EC2ID())
	if err != nil {
		return nil, err
	}
	type change struct {
		v   *koalav1.Volume
		dot bool
	}
	var todo []change
	for dev, dot := range changes {
		var found *koalav1.Volume
		for i := range vols {
			if a := vols[i].Spec.Attachment; a != nil && a.InstanceID == inst.EC2ID() && blockdevice.SameDevice(a.Device, dev) {
				found = vols[i].DeepCopy()
			}
		}
		if found == nil {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "No device is currently mapped at %s", dev)
		}
		todo = append(todo, change{found, dot})
	}
	for _, ch := range todo {
		if ch.v.Spec.Attachment.DeleteOnTermination == ch.dot {
			continue
		}
		base := ch.v.DeepCopy()
		ch.v.Spec.Attachment.DeleteOnTermination = ch.dot
		if err := h.Store.Patch(ctx, ch.v, client.MergeFrom(base)); err != nil {
			return nil, fmt.Errorf("changing deleteOnTermination of %s: %w", ch.v.EC2ID(), err)
		}
	}
	return protocol.OK(), nil
}

// fitVolumeQuota lowers the launch's count to what the account's storage limit allows
// for the instances' volumes (root and mappings), down to MinCount, else refuses the
// launch with VolumeLimitExceeded, before anything is created. It runs under the
// account's quota lock (see lockUsage), which CreateVolume takes too.
func (h *Handlers) fitVolumeQuota(ctx context.Context, c *action.Call, in *runInput) error {
	q := c.Account.Quotas
	if q.VolumeGiB == nil {
		return nil
	}
	img, err := h.Store.Image(ctx, c.Account, in.imageID)
	if err != nil || img == nil {
		return err // checkLaunch has refused a missing image already
	}
	probe := &koalav1.Instance{}
	probe.Name = "probe"
	probe.Spec = koalav1.InstanceSpec{ImageID: in.imageID, BlockDeviceMappings: in.blockDeviceMappings}
	vols, err := blockdevice.LaunchVolumes(blockdevice.Launch{
		Instance: probe, InstanceID: "i-00000000", Image: img,
		SnapshotSize: func(id string) int32 { return h.snapshotSize(ctx, c, id) },
	})
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "%s", err.Error())
	}
	var each int64
	for _, v := range vols {
		each += int64(v.Spec.Size)
	}
	all, err := h.Store.Volumes(ctx, c.Account)
	if err != nil {
		return err
	}
	used := quota.VolumeGiB(all, "")
	for n := in.maxCount; n >= in.minCount; n-- {
		if quota.CheckVolumeGiB(q, used, each*int64(n)) == nil {
			in.maxCount = n
			return nil
		}
	}
	return quota.CheckVolumeGiB(q, used, each*int64(in.minCount))
}
