// Package mapping reads and renders EC2 block device mappings: the BlockDeviceMapping.N
// parameters of RunInstances, RegisterImage and CreateImage, and the blockDeviceMapping
// lists of DescribeImages and DescribeInstances.
package mapping

import (
	"math"
	"regexp"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
)

// deviceName are the device names a mapping may name (as the CRDs allow).
var deviceName = regexp.MustCompile(`^/dev/(sd[a-z][0-9]*|xvd[a-z]{1,2}[0-9]*)$`)

func invalid(format string, args ...any) error {
	return protocol.Errorf(protocol.CodeInvalidBlockDeviceMapping, format, args...)
}

// Parse reads name.N.DeviceName, .NoDevice, .VirtualName and .Ebs.* into mappings,
// refusing what Koala cannot do: instance store volumes, encryption, outposts.
func Parse(p *protocol.Params, name string) ([]koalav1.BlockDeviceMapping, error) {
	members, err := p.Structs(name)
	if err != nil {
		return nil, err
	}
	var out []koalav1.BlockDeviceMapping
	seen := map[string]bool{}
	for _, m := range members {
		dev, ok := m.String("DeviceName")
		if !ok || dev == "" {
			return nil, protocol.MissingParameter(m.Path("DeviceName"))
		}
		if !deviceName.MatchString(dev) {
			return nil, invalid("Invalid device name %s", dev)
		}
		if seen[blockdevice.Canonical(dev)] {
			return nil, invalid("The device %s is mapped more than once", dev)
		}
		seen[blockdevice.Canonical(dev)] = true
		bdm := koalav1.BlockDeviceMapping{DeviceName: dev}
		if v, ok := m.String("VirtualName"); ok && v != "" {
			return nil, invalid("Instance store volumes (VirtualName %s of %s) are not supported", v, dev)
		}
		if _, ok := m.String("NoDevice"); ok {
			bdm.NoDevice = true
		}
		if ebs, ok := m.Struct("Ebs"); ok {
			if bdm.NoDevice {
				return nil, invalid("The mapping of %s has both NoDevice and Ebs", dev)
			}
			e, err := parseEBS(ebs)
			if err != nil {
				return nil, err
			}
			bdm.EBS = e
		}
		if !bdm.NoDevice && bdm.EBS == nil {
			return nil, invalid("The mapping of %s needs Ebs or NoDevice", dev)
		}
		out = append(out, bdm)
	}
	return out, nil
}

func parseEBS(p *protocol.Params) (*koalav1.EBSBlockDevice, error) {
	e := &koalav1.EBSBlockDevice{}
	if id, ok := p.String("SnapshotId"); ok && id != "" {
		if !ids.Valid(ids.Snapshot, id) {
			return nil, protocol.Errorf(protocol.CodeInvalidSnapshotMalformed, "Invalid id: \"%s\" (expecting \"snap-...\")", id)
		}
		e.SnapshotID = id
	}
	if n, ok, err := p.Int("VolumeSize", 1, 65536); err != nil {
		return nil, err
	} else if ok {
		e.VolumeSize = int32(n)
	}
	if t, ok := p.String("VolumeType"); ok {
		switch vt := koalav1.VolumeType(t); vt {
		case koalav1.VolumeTypeGP3, koalav1.VolumeTypeGP2, koalav1.VolumeTypeIO1, koalav1.VolumeTypeIO2,
			koalav1.VolumeTypeST1, koalav1.VolumeTypeSC1, koalav1.VolumeTypeStandard:
			e.VolumeType = vt
		default:
			return nil, protocol.InvalidValue(p.Path("VolumeType"), t, "Expected gp3, gp2, io1, io2, st1, sc1 or standard.")
		}
	}
	if b, ok, err := p.Bool("DeleteOnTermination"); err != nil {
		return nil, err
	} else if ok {
		e.DeleteOnTermination = &b
	}
	for _, f := range []struct {
		name string
		dst  **int32
	}{{"Iops", &e.Iops}, {"Throughput", &e.Throughput}} {
		n, ok, err := p.Int(f.name, 0, math.MaxInt32)
		if err != nil {
			return nil, err
		}
		if ok {
			v := int32(n)
			*f.dst = &v
		}
	}
	if enc, _, err := p.Bool("Encrypted"); err != nil {
		return nil, err
	} else if enc {
		return nil, protocol.InvalidValue(p.Path("Encrypted"), "true", "Encryption is not supported.")
	}
	for _, name := range []string{"KmsKeyId", "OutpostArn", "AvailabilityZone", "AvailabilityZoneId", "VolumeInitializationRate", "EbsCardIndex"} {
		if v, ok := p.String(name); ok && v != "" {
			return nil, protocol.InvalidValue(p.Path(name), v, "It is not supported.")
		}
	}
	return e, nil
}

// Find returns the mapping of device (as /dev/sdX or /dev/xvdX), or nil.
func Find(mappings []koalav1.BlockDeviceMapping, device string) *koalav1.BlockDeviceMapping {
	for i := range mappings {
		if blockdevice.SameDevice(mappings[i].DeviceName, device) {
			return &mappings[i]
		}
	}
	return nil
}

// EBSXML is a mapping's volume as DescribeImages shows it.
type EBSXML struct {
	SnapshotID          string `xml:"snapshotId,omitempty"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	VolumeSize          int32  `xml:"volumeSize"`
	VolumeType          string `xml:"volumeType"`
	Iops                *int32 `xml:"iops,omitempty"`
	Throughput          *int32 `xml:"throughput,omitempty"`
	Encrypted           bool   `xml:"encrypted"`
}

// ImageXML is one entry of an image's blockDeviceMapping.
type ImageXML struct {
	DeviceName string  `xml:"deviceName"`
	Ebs        *EBSXML `xml:"ebs,omitempty"`
	NoDevice   *string `xml:"noDevice,omitempty"`
}

// ImageMappings renders an image's devices: the root device first (its snapshot when
// the image was made from one), then the others. snapshotSize gives the size of a
// snapshot a mapping does not size itself.
func ImageMappings(img *koalav1.Image, snapshotSize func(string) int32) []ImageXML {
	root := ImageXML{DeviceName: blockdevice.RootDevice(img), Ebs: &EBSXML{
		DeleteOnTermination: true, VolumeSize: blockdevice.RootSize(img), VolumeType: string(blockdevice.RootType(img)),
	}}
	if s := img.Spec.Source.Snapshot; s != nil {
		root.Ebs.SnapshotID = s.SnapshotID
	}
	out := []ImageXML{root}
	for _, m := range img.Spec.BlockDeviceMappings {
		if m.NoDevice || m.EBS == nil {
			empty := ""
			out = append(out, ImageXML{DeviceName: m.DeviceName, NoDevice: &empty})
			continue
		}
		size := m.EBS.VolumeSize
		if size == 0 && m.EBS.SnapshotID != "" && snapshotSize != nil {
			size = snapshotSize(m.EBS.SnapshotID)
		}
		t := m.EBS.VolumeType
		if t == "" {
			t = koalav1.VolumeTypeGP3
		}
		out = append(out, ImageXML{DeviceName: m.DeviceName, Ebs: &EBSXML{
			SnapshotID: m.EBS.SnapshotID, DeleteOnTermination: m.EBS.DeleteOnTerminationOrDefault(),
			VolumeSize: size, VolumeType: string(t), Iops: m.EBS.Iops, Throughput: m.EBS.Throughput,
		}})
	}
	return out
}
