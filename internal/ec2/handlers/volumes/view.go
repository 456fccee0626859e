package volumes

import (
	"strconv"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ec2/volumeview"
)

// The view of a volume, in this package's words.
type (
	attachmentView = volumeview.Attachment
	volumeView     = volumeview.View
)

func view(v *koalav1.Volume) volumeView { return volumeview.Of(v) }

// volumeType is the volume's type as shown: the spec's, or the default gp2.
func volumeType(v *koalav1.Volume) koalav1.VolumeType { return v.Type() }

// iops is the IOPS EC2 shows for the volume: gp2's grow with the size (3 per GiB,
// 100 to 16000), gp3's are 3000 unless set, io1 and io2 have theirs; other types none.
func iops(v *koalav1.Volume) *int32 {
	switch volumeType(v) {
	case koalav1.VolumeTypeGP2:
		n := min(max(3*v.Spec.Size, 100), 16000)
		return &n
	case koalav1.VolumeTypeGP3:
		if v.Spec.Iops != nil {
			return v.Spec.Iops
		}
		n := int32(3000)
		return &n
	case koalav1.VolumeTypeIO1, koalav1.VolumeTypeIO2:
		return v.Spec.Iops
	}
	return nil
}

// throughput is a gp3 volume's throughput in MiB/s: 125 unless set.
func throughput(v *koalav1.Volume) *int32 {
	if volumeType(v) != koalav1.VolumeTypeGP3 {
		return nil
	}
	if v.Spec.Throughput != nil {
		return v.Spec.Throughput
	}
	n := int32(125)
	return &n
}

// XML shapes, named as in botocore's EC2 model.

type attachmentXML struct {
	VolumeID            string `xml:"volumeId"`
	InstanceID          string `xml:"instanceId"`
	Device              string `xml:"device"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

// attachmentSetXML is always present, empty or not, as EC2 sends it.
type attachmentSetXML struct {
	Items []attachmentXML `xml:"item"`
}

type volumeXML struct {
	VolumeID           string           `xml:"volumeId"`
	Size               int32            `xml:"size"`
	SnapshotID         string           `xml:"snapshotId"`
	AvailabilityZone   string           `xml:"availabilityZone"`
	Status             string           `xml:"status"`
	CreateTime         string           `xml:"createTime"`
	AttachmentSet      attachmentSetXML `xml:"attachmentSet"`
	TagSet             []tagging.Item   `xml:"tagSet>item,omitempty"`
	VolumeType         string           `xml:"volumeType"`
	Iops               *int32           `xml:"iops,omitempty"`
	Throughput         *int32           `xml:"throughput,omitempty"`
	Encrypted          bool             `xml:"encrypted"`
	MultiAttachEnabled bool             `xml:"multiAttachEnabled"`
}

func attachmentOf(id string, a attachmentView) attachmentXML {
	return attachmentXML{
		VolumeID: id, InstanceID: a.InstanceID, Device: a.Device, Status: string(a.State),
		AttachTime: protocol.FormatTime(a.AttachTime), DeleteOnTermination: a.DeleteOnTermination,
	}
}

// render is the volume as DescribeVolumes (and CreateVolume) answers.
func render(v *koalav1.Volume, vv volumeView) volumeXML {
	id := v.EC2ID()
	x := volumeXML{
		VolumeID:         id,
		Size:             v.Spec.Size,
		SnapshotID:       v.Spec.SnapshotID,
		AvailabilityZone: v.Spec.AvailabilityZone,
		Status:           string(vv.State),
		CreateTime:       protocol.FormatTime(v.CreationTimestamp.Time),
		TagSet:           tagging.Set(v.Spec.Tags),
		VolumeType:       string(volumeType(v)),
		Iops:             iops(v),
		Throughput:       throughput(v),
	}
	for _, a := range vv.Attachments {
		x.AttachmentSet.Items = append(x.AttachmentSet.Items, attachmentOf(id, a))
	}
	return x
}

func optionalInt(p *int32) []string {
	if p == nil {
		return nil
	}
	return []string{strconv.Itoa(int(*p))}
}
