package images

import (
	"context"
	"fmt"
	"regexp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/handlers/snapshots"
	"github.com/koala-dev/koala/internal/ec2/mapping"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
)

// imageFinalizer is the operator's finalizer, set at creation so that the operator
// need not spend a write adding it.
const imageFinalizer = "cloud.koala.dev/image"

// imageName is EC2's rule for AMI names: 3 to 128 characters of letters, digits and
// ( ) [ ] . / - ' @ _ and spaces.
var imageName = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$`)

func parseName(p *protocol.Params) (string, error) {
	name, err := p.Required("Name")
	if err != nil {
		return "", err
	}
	if !imageName.MatchString(name) {
		return "", protocol.InvalidValue("Name", name, "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/', '_', '[', ']', '@', ''' and spaces.")
	}
	return name, nil
}

func parseDescription(p *protocol.Params) (string, error) {
	d, _ := p.String("Description")
	if len(d) > 255 {
		return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "The description may be at most 255 characters long")
	}
	return d, nil
}

// checkNameFree refuses a name another image of the account has.
func (h *Handlers) checkNameFree(ctx context.Context, c *action.Call, name string) error {
	all, err := h.Store.Images(ctx, c.Account)
	if err != nil {
		return err
	}
	for i := range all {
		if all[i].Namespace == c.Account.Namespace && all[i].ImageName() == name && all[i].DeletionTimestamp.IsZero() {
			return protocol.Errorf(protocol.CodeInvalidAMINameDuplicate, "AMI name %s is already in use by AMI %s", name, all[i].EC2ID())
		}
	}
	return nil
}

// snapshot finds a snapshot of the account that an image may use.
func (h *Handlers) snapshot(ctx context.Context, c *action.Call, id string) (*koalav1.Snapshot, error) {
	snap, err := h.Store.Snapshot(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if snap == nil || !snap.DeletionTimestamp.IsZero() {
		return nil, protocol.Errorf(protocol.CodeInvalidSnapshotNotFound, "The snapshot '%s' does not exist.", id)
	}
	if snap.Status.State == koalav1.SnapshotStateError {
		return nil, protocol.Errorf(protocol.CodeIncorrectState, "The snapshot '%s' is in error.", id)
	}
	return snap, nil
}

// saveImage creates the Image object.
func (h *Handlers) saveImage(ctx context.Context, img *koalav1.Image) error {
	if err := h.Store.Create(ctx, img); err != nil {
		if apierrors.IsInvalid(err) {
			return protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", firstCause(err))
		}
		return fmt.Errorf("creating image: %w", err)
	}
	return nil
}

func newImage(c *action.Call, id string) *koalav1.Image {
	return &koalav1.Image{ObjectMeta: metav1.ObjectMeta{
		Name:        id,
		Namespace:   c.Account.Namespace,
		Finalizers:  []string{imageFinalizer},
		Annotations: map[string]string{koalav1.IDAnnotation: id},
	}}
}

func firstCause(err error) string {
	if status, ok := err.(apierrors.APIStatus); ok {
		if d := status.Status().Details; d != nil && len(d.Causes) > 0 {
			return d.Causes[0].Message
		}
	}
	return err.Error()
}

type imageIDResponse struct {
	protocol.Meta
	ImageID string `xml:"imageId"`
}

// RegisterImage.

type registerInput struct {
	name, description, rootDevice string
	architecture                  koalav1.Architecture
	mappings                      []koalav1.BlockDeviceMapping
	tags                          map[string]string
}

func parseRegister(p *protocol.Params) (registerInput, error) {
	var in registerInput
	var err error
	if in.name, err = parseName(p); err != nil {
		return in, err
	}
	if in.description, err = parseDescription(p); err != nil {
		return in, err
	}
	in.architecture = koalav1.ArchitectureX8664
	if a, ok := p.String("Architecture"); ok {
		switch koalav1.Architecture(a) {
		case koalav1.ArchitectureX8664, koalav1.ArchitectureARM64:
			in.architecture = koalav1.Architecture(a)
		default:
			return in, protocol.InvalidValue("Architecture", a, "Expected x86_64 or arm64.")
		}
	}
	in.rootDevice = blockdevice.DefaultRootDevice
	if d, ok := p.String("RootDeviceName"); ok && d != "" {
		in.rootDevice = d
	}
	if in.mappings, err = mapping.Parse(p, "BlockDeviceMapping"); err != nil {
		return in, err
	}
	if loc, ok := p.String("ImageLocation"); ok && loc != "" {
		return in, protocol.Errorf(protocol.CodeUnsupportedOperation, "Registering an image from an S3 manifest (%s) is not supported: register it from a snapshot", loc)
	}
	for _, name := range []string{"KernelId", "RamdiskId", "TpmSupport", "UefiData", "ImdsSupport"} {
		if v, ok := p.String(name); ok && v != "" {
			return in, protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	if bp, _ := p.Strings("BillingProduct"); len(bp) > 0 {
		return in, protocol.InvalidValue("BillingProduct", bp[0], "It is not supported.")
	}
	for name, only := range map[string]string{"VirtualizationType": "hvm", "SriovNetSupport": "simple", "BootMode": "legacy-bios"} {
		if v, ok := p.String(name); ok && v != only {
			return in, protocol.InvalidValue(name, v, fmt.Sprintf("Only %s is supported.", only))
		}
	}
	if ena, ok, err := p.Bool("EnaSupport"); err != nil {
		return in, err
	} else if ok && !ena {
		return in, protocol.InvalidValue("EnaSupport", "false", "Koala's instances always have ENA-like networking.")
	}
	specs, err := tagging.Specifications(p, "image")
	if err != nil {
		return in, err
	}
	in.tags = specs["image"]
	return in, nil
}

func (h *Handlers) register(ctx context.Context, c *action.Call, in registerInput) (protocol.Body, error) {
	root := mapping.Find(in.mappings, in.rootDevice)
	if root == nil || root.EBS == nil || root.EBS.SnapshotID == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping,
			"The root device %s needs a block device mapping with a snapshot", in.rootDevice)
	}
	if err := h.checkNameFree(ctx, c, in.name); err != nil {
		return nil, err
	}
	rootSnap, err := h.snapshot(ctx, c, root.EBS.SnapshotID)
	if err != nil {
		return nil, err
	}
	size := root.EBS.VolumeSize
	snapSize := snapshotSizeOf(ctx, c, h, rootSnap)
	switch {
	case size == 0 && snapSize == 0:
		return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "The size of snapshot %s is not known yet: give the root device's VolumeSize", rootSnap.EC2ID())
	case size == 0:
		size = snapSize
	case size < snapSize:
		return nil, protocol.Errorf(protocol.CodeInvalidParameterValue,
			"Volume of %dGiB is smaller than snapshot '%s', expect size >= %dGiB", size, rootSnap.EC2ID(), snapSize)
	}
	var others []koalav1.BlockDeviceMapping
	for _, m := range in.mappings {
		if blockdevice.SameDevice(m.DeviceName, in.rootDevice) || m.NoDevice {
			continue
		}
		if m.EBS.SnapshotID == "" && m.EBS.VolumeSize == 0 {
			return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "The mapping of %s needs a snapshot or a volume size", m.DeviceName)
		}
		if m.EBS.SnapshotID != "" {
			if _, err := h.snapshot(ctx, c, m.EBS.SnapshotID); err != nil {
				return nil, err
			}
		}
		others = append(others, m)
	}
	id := ids.New(ids.Image)
	img := newImage(c, id)
	img.Spec = koalav1.ImageSpec{
		Name: in.name, Description: in.description, Architecture: in.architecture,
		Source:         koalav1.ImageSource{Snapshot: &koalav1.SnapshotImageSource{SnapshotID: rootSnap.EC2ID()}},
		RootDeviceName: in.rootDevice, RootVolumeSize: size, RootVolumeType: root.EBS.VolumeType,
		BlockDeviceMappings: others, Tags: in.tags,
	}
	if img.Spec.RootVolumeType == "" {
		img.Spec.RootVolumeType = koalav1.VolumeTypeGP3
	}
	if err := h.saveImage(ctx, img); err != nil {
		return nil, err
	}
	return &imageIDResponse{ImageID: id}, nil
}

// snapshotSizeOf is a snapshot's size in GiB: the operator's record, else the size of
// the volume it is taken of (0 when neither is known).
func snapshotSizeOf(ctx context.Context, c *action.Call, h *Handlers, snap *koalav1.Snapshot) int32 {
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

// CreateImage.

type createInput struct {
	instanceID, name, description string
	mappings                      []koalav1.BlockDeviceMapping
	imageTags, snapshotTags       map[string]string
}

func parseCreate(p *protocol.Params) (createInput, error) {
	var in createInput
	var err error
	if in.instanceID, err = p.Required("InstanceId"); err != nil {
		return in, err
	}
	if !ids.Valid(ids.Instance, in.instanceID) {
		return in, protocol.Errorf(protocol.CodeInvalidInstanceIDMalformed, "Invalid id: \"%s\" (expecting \"i-...\")", in.instanceID)
	}
	if in.name, err = parseName(p); err != nil {
		return in, err
	}
	if in.description, err = parseDescription(p); err != nil {
		return in, err
	}
	// EC2 reboots the instance for a consistent file system unless told not to; Koala's
	// snapshots are taken of the running disks (crash-consistent) either way.
	if _, _, err := p.Bool("NoReboot"); err != nil {
		return in, err
	}
	if loc, ok := p.String("SnapshotLocation"); ok && loc != "regional" {
		return in, protocol.InvalidValue("SnapshotLocation", loc, "Only regional is supported.")
	}
	if in.mappings, err = mapping.Parse(p, "BlockDeviceMapping"); err != nil {
		return in, err
	}
	specs, err := tagging.Specifications(p, "image", "snapshot")
	if err != nil {
		return in, err
	}
	in.imageTags, in.snapshotTags = specs["image"], specs["snapshot"]
	return in, nil
}

// imagedVolume is a volume of the instance that goes into the image.
type imagedVolume struct {
	vol                 *koalav1.Volume // nil for a new, blank device
	device              string
	size                int32
	volumeType          koalav1.VolumeType
	deleteOnTermination bool
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in createInput) (protocol.Body, error) {
	inst, err := h.Store.Instance(ctx, c.Account, in.instanceID)
	if err != nil {
		return nil, err
	}
	if inst == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist", in.instanceID)
	}
	if st := inst.Status.State; inst.Spec.State == koalav1.DesiredStateTerminated || (st != koalav1.InstanceStateRunning && st != koalav1.InstanceStateStopped) {
		return nil, protocol.Errorf(protocol.CodeIncorrectInstanceState,
			"The instance '%s' is not in a state from which it can be imaged (it must be running or stopped).", in.instanceID)
	}
	if err := h.checkNameFree(ctx, c, in.name); err != nil {
		return nil, err
	}
	rootDevice := inst.Status.RootDeviceName
	if rootDevice == "" {
		rootDevice = blockdevice.DefaultRootDevice
	}
	imaged, err := h.imagedVolumes(ctx, c, inst, rootDevice, in.mappings)
	if err != nil {
		return nil, err
	}
	unlock, err := h.lockSnapshotQuota(ctx, c, imaged)
	if err != nil {
		return nil, err
	}
	defer unlock()
	id := ids.New(ids.Image)
	// One snapshot of each volume; the root's first.
	var made []*koalav1.Snapshot
	undo := func() {
		for _, s := range made {
			_ = h.Store.Delete(context.WithoutCancel(ctx), s)
		}
	}
	snapOf := map[string]string{}
	for _, iv := range imaged {
		if iv.vol == nil {
			continue
		}
		desc := fmt.Sprintf("Created by CreateImage(%s) for %s from %s", in.instanceID, id, iv.vol.EC2ID())
		s, err := snapshots.CreateSnapshot(ctx, h.Store, c.Account, iv.vol.EC2ID(), "", desc, in.snapshotTags)
		if err != nil {
			undo()
			return nil, err
		}
		made = append(made, s)
		snapOf[iv.device] = s.EC2ID()
	}
	root := imaged[0]
	img := newImage(c, id)
	arch := inst.Status.Architecture
	if arch == "" {
		arch = koalav1.ArchitectureX8664
	}
	img.Spec = koalav1.ImageSpec{
		Name: in.name, Description: in.description, Architecture: arch,
		Source:         koalav1.ImageSource{Snapshot: &koalav1.SnapshotImageSource{SnapshotID: snapOf[root.device]}},
		RootDeviceName: rootDevice, RootVolumeSize: root.size, RootVolumeType: root.volumeType,
		SourceInstanceID: in.instanceID, Tags: in.imageTags,
	}
	for _, iv := range imaged[1:] {
		dot := iv.deleteOnTermination
		img.Spec.BlockDeviceMappings = append(img.Spec.BlockDeviceMappings, koalav1.BlockDeviceMapping{
			DeviceName: iv.device,
			EBS:        &koalav1.EBSBlockDevice{SnapshotID: snapOf[iv.device], VolumeSize: iv.size, VolumeType: iv.volumeType, DeleteOnTermination: &dot},
		})
	}
	if err := h.saveImage(ctx, img); err != nil {
		undo()
		return nil, err
	}
	return &imageIDResponse{ImageID: id}, nil
}

// imagedVolumes are the devices of the image: the instance's root volume, its other
// attached volumes unless a mapping says NoDevice, with a mapping's changes, and the
// new blank devices the mappings add. The root comes first.
func (h *Handlers) imagedVolumes(ctx context.Context, c *action.Call, inst *koalav1.Instance, rootDevice string, mappings []koalav1.BlockDeviceMapping) ([]imagedVolume, error) {
	vols, err := h.Store.VolumesOfInstance(ctx, c.Account, inst.EC2ID())
	if err != nil {
		return nil, err
	}
	var root *imagedVolume
	var others []imagedVolume
	used := map[string]bool{}
	for i := range vols {
		v := &vols[i]
		a := v.Spec.Attachment
		if a == nil || a.InstanceID != inst.EC2ID() || !v.DeletionTimestamp.IsZero() {
			continue
		}
		iv := imagedVolume{vol: v.DeepCopy(), device: a.Device, size: v.Spec.Size, volumeType: v.Type(), deleteOnTermination: a.DeleteOnTermination}
		m := mapping.Find(mappings, a.Device)
		if m != nil {
			used[blockdevice.Canonical(a.Device)] = true
		}
		isRoot := v.Name == blockdevice.RootVolumeName(inst.Name) && v.Spec.ImageID != ""
		if m != nil && m.NoDevice {
			if isRoot {
				return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "The root device %s cannot be left out", a.Device)
			}
			continue
		}
		if m != nil && m.EBS != nil {
			if m.EBS.SnapshotID != "" {
				return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "The device %s is the instance's volume %s: it cannot be a snapshot", a.Device, v.EC2ID())
			}
			if m.EBS.VolumeSize != 0 {
				if m.EBS.VolumeSize < iv.size {
					return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "The volume at %s of %dGiB cannot shrink to %dGiB", a.Device, iv.size, m.EBS.VolumeSize)
				}
				iv.size = m.EBS.VolumeSize
			}
			if m.EBS.VolumeType != "" {
				iv.volumeType = m.EBS.VolumeType
			}
			iv.deleteOnTermination = m.EBS.DeleteOnTerminationOrDefault()
		}
		if st := v.Status.State; st != koalav1.VolumeStateInUse && st != koalav1.VolumeStateAvailable {
			return nil, protocol.Errorf(protocol.CodeIncorrectInstanceState, "The volume %s of instance %s is not ready to be imaged", v.EC2ID(), inst.EC2ID())
		}
		if isRoot {
			root = &iv
		} else {
			others = append(others, iv)
		}
	}
	if root == nil {
		return nil, protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' has no root volume to image", inst.EC2ID())
	}
	for _, m := range mappings {
		if used[blockdevice.Canonical(m.DeviceName)] || m.NoDevice || blockdevice.SameDevice(m.DeviceName, rootDevice) {
			continue
		}
		if m.EBS.SnapshotID == "" && m.EBS.VolumeSize == 0 {
			return nil, protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, "The mapping of %s needs a volume size", m.DeviceName)
		}
		if m.EBS.SnapshotID != "" {
			// A device restored from an existing snapshot: the image uses that snapshot.
			if _, err := h.snapshot(ctx, c, m.EBS.SnapshotID); err != nil {
				return nil, err
			}
		}
		t := m.EBS.VolumeType
		if t == "" {
			t = koalav1.VolumeTypeGP3
		}
		others = append(others, imagedVolume{device: m.DeviceName, size: m.EBS.VolumeSize, volumeType: t, deleteOnTermination: m.EBS.DeleteOnTerminationOrDefault()})
	}
	return append([]imagedVolume{*root}, others...), nil
}

// DeregisterImage.

type deregisterInput struct {
	id              string
	deleteSnapshots bool
}

func parseDeregister(p *protocol.Params) (deregisterInput, error) {
	id, err := p.Required("ImageId")
	if err != nil {
		return deregisterInput{}, err
	}
	if !ids.Valid(ids.Image, id) {
		return deregisterInput{}, protocol.Errorf(protocol.CodeInvalidAMIIDMalformed, "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	del, _, err := p.Bool("DeleteAssociatedSnapshots")
	return deregisterInput{id: id, deleteSnapshots: del}, err
}

type snapshotResultXML struct {
	SnapshotID string `xml:"snapshotId"`
	ReturnCode string `xml:"returnCode"`
}

type deregisterResponse struct {
	protocol.Meta
	Return  bool                `xml:"return"`
	Results []snapshotResultXML `xml:"deleteSnapshotResultSet>item,omitempty"`
}

func (h *Handlers) deregister(ctx context.Context, c *action.Call, in deregisterInput) (protocol.Body, error) {
	img, err := h.Store.Image(ctx, c.Account, in.id)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", in.id)
	}
	if img.Namespace != c.Account.Namespace {
		return nil, protocol.Errorf(protocol.CodeUnauthorizedOperation, "You are not authorized to deregister image %s: it is not the account's", in.id)
	}
	if img.DeletionTimestamp.IsZero() {
		if err := h.Store.Delete(ctx, img, client.Preconditions{UID: &img.UID}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deregistering image %s: %w", in.id, err)
		}
	}
	out := &deregisterResponse{Return: true}
	if !in.deleteSnapshots {
		return out, nil
	}
	for _, sid := range img.SnapshotIDs() {
		out.Results = append(out.Results, snapshotResultXML{SnapshotID: sid, ReturnCode: h.deleteSnapshot(ctx, c, sid, in.id)})
	}
	return out, nil
}

// deleteSnapshot deletes a snapshot of a deregistered image (the operator lets it go
// once the image is gone), unless another image still uses it.
func (h *Handlers) deleteSnapshot(ctx context.Context, c *action.Call, id, deregistered string) string {
	snap, err := h.Store.Snapshot(ctx, c.Account, id)
	if err != nil {
		return "internal-error"
	}
	if snap == nil {
		return "skipped"
	}
	users, err := h.Store.ImagesUsingSnapshot(ctx, c.Account, id)
	if err != nil {
		return "internal-error"
	}
	for i := range users {
		if users[i].EC2ID() != deregistered && users[i].DeletionTimestamp.IsZero() {
			return "client-error"
		}
	}
	if err := h.Store.Delete(ctx, snap, client.Preconditions{UID: &snap.UID}); err != nil && !apierrors.IsNotFound(err) {
		return "internal-error"
	}
	return "success"
}

// DescribeImageAttribute.

var imageAttributes = map[string]bool{
	"description": true, "kernel": true, "ramdisk": true, "launchPermission": true, "productCodes": true,
	"blockDeviceMapping": true, "sriovNetSupport": true, "bootMode": true, "tpmSupport": true, "uefiData": true,
	"lastLaunchedTime": true, "imdsSupport": true, "deregistrationProtection": true,
}

type attributeInput struct{ id, attribute string }

func parseDescribeAttribute(p *protocol.Params) (attributeInput, error) {
	id, err := p.Required("ImageId")
	if err != nil {
		return attributeInput{}, err
	}
	if !ids.Valid(ids.Image, id) {
		return attributeInput{}, protocol.Errorf(protocol.CodeInvalidAMIIDMalformed, "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	attr, err := p.Required("Attribute")
	if err != nil {
		return attributeInput{}, err
	}
	if !imageAttributes[attr] {
		return attributeInput{}, protocol.InvalidValue("Attribute", attr, "")
	}
	return attributeInput{id: id, attribute: attr}, nil
}

type valueXML struct {
	Value string `xml:"value,omitempty"`
}

type launchPermissionXML struct {
	Group  string `xml:"group,omitempty"`
	UserID string `xml:"userId,omitempty"`
}

type emptyListXML struct{}

type launchPermissionsXML struct {
	Items []launchPermissionXML `xml:"item"`
}

type blockDeviceMappingsXML struct {
	Items []mapping.ImageXML `xml:"item"`
}

type attributeResponse struct {
	protocol.Meta
	ImageID                  string                  `xml:"imageId"`
	Description              *valueXML               `xml:"description,omitempty"`
	Kernel                   *valueXML               `xml:"kernel,omitempty"`
	Ramdisk                  *valueXML               `xml:"ramdisk,omitempty"`
	LaunchPermission         *launchPermissionsXML   `xml:"launchPermission,omitempty"`
	ProductCodes             *emptyListXML           `xml:"productCodes,omitempty"`
	BlockDeviceMapping       *blockDeviceMappingsXML `xml:"blockDeviceMapping,omitempty"`
	SriovNetSupport          *valueXML               `xml:"sriovNetSupport,omitempty"`
	BootMode                 *valueXML               `xml:"bootMode,omitempty"`
	TpmSupport               *valueXML               `xml:"tpmSupport,omitempty"`
	UefiData                 *valueXML               `xml:"uefiData,omitempty"`
	LastLaunchedTime         *valueXML               `xml:"lastLaunchedTime,omitempty"`
	ImdsSupport              *valueXML               `xml:"imdsSupport,omitempty"`
	DeregistrationProtection *valueXML               `xml:"deregistrationProtection,omitempty"`
}

func (h *Handlers) describeAttribute(ctx context.Context, c *action.Call, in attributeInput) (protocol.Body, error) {
	img, err := h.Store.Image(ctx, c.Account, in.id)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", in.id)
	}
	out := &attributeResponse{ImageID: in.id}
	switch in.attribute {
	case "description":
		out.Description = &valueXML{Value: img.Spec.Description}
	case "kernel":
		out.Kernel = &valueXML{}
	case "ramdisk":
		out.Ramdisk = &valueXML{}
	case "launchPermission":
		out.LaunchPermission = &launchPermissionsXML{}
		if img.Namespace != c.Account.Namespace {
			return nil, protocol.Errorf(protocol.CodeUnauthorizedOperation, "You are not authorized to read the launch permissions of image %s: it is not the account's", in.id)
		}
		if img.Spec.Public {
			out.LaunchPermission.Items = []launchPermissionXML{{Group: "all"}}
		}
	case "productCodes":
		out.ProductCodes = &emptyListXML{}
	case "blockDeviceMapping":
		out.BlockDeviceMapping = &blockDeviceMappingsXML{Items: mapping.ImageMappings(img, h.snapshotSizes(ctx, img))}
	case "sriovNetSupport":
		out.SriovNetSupport = &valueXML{Value: "simple"}
	case "bootMode":
		out.BootMode = &valueXML{Value: "legacy-bios"}
	case "tpmSupport":
		out.TpmSupport = &valueXML{}
	case "uefiData":
		out.UefiData = &valueXML{}
	case "lastLaunchedTime":
		out.LastLaunchedTime = &valueXML{}
	case "imdsSupport":
		out.ImdsSupport = &valueXML{}
	case "deregistrationProtection":
		out.DeregistrationProtection = &valueXML{Value: "disabled"}
	}
	return out, nil
}
