package blockdevice

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

func image(opts ...func(*koalav1.Image)) *koalav1.Image {
	img := &koalav1.Image{Spec: koalav1.ImageSpec{RootDeviceName: "/dev/xvda", RootVolumeSize: 8}}
	for _, o := range opts {
		o(img)
	}
	return img
}

func instance(mappings ...koalav1.BlockDeviceMapping) *koalav1.Instance {
	return &koalav1.Instance{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "acct"},
		Spec:       koalav1.InstanceSpec{ImageID: "ami-0123456789abcdef0", BlockDeviceMappings: mappings},
	}
}

func ebs(size int32, mods ...func(*koalav1.EBSBlockDevice)) *koalav1.EBSBlockDevice {
	e := &koalav1.EBSBlockDevice{VolumeSize: size}
	for _, m := range mods {
		m(e)
	}
	return e
}

func keep(e *koalav1.EBSBlockDevice) { f := false; e.DeleteOnTermination = &f }

func snapshot(id string) func(*koalav1.EBSBlockDevice) {
	return func(e *koalav1.EBSBlockDevice) { e.SnapshotID = id }
}

// summary is what matters of a launch volume, for comparing.
type summary struct {
	Name, Device, Snapshot string
	Size                   int32
	Type                   koalav1.VolumeType
	DeleteOnTermination    bool
}

func summarize(vols []*koalav1.Volume) []summary {
	var out []summary
	for _, v := range vols {
		out = append(out, summary{v.Name, v.Spec.Attachment.Device, v.Spec.SnapshotID, v.Spec.Size, v.Spec.VolumeType, v.Spec.Attachment.DeleteOnTermination})
	}
	return out
}

func TestLaunchVolumes(t *testing.T) {
	withData := func(img *koalav1.Image) {
		img.Spec.BlockDeviceMappings = []koalav1.BlockDeviceMapping{{DeviceName: "/dev/sdf", EBS: ebs(0, snapshot("snap-0000000000000000a"))}}
	}
	sizes := func(string) int32 { return 5 }
	root := summary{"web-root", "/dev/xvda", "", 8, koalav1.VolumeTypeGP3, true}
	cases := map[string]struct {
		inst    *koalav1.Instance
		img     *koalav1.Image
		want    []summary
		wantErr string
	}{
		"an image alone gives a root volume of its size, deleted on termination": {
			inst: instance(), img: image(), want: []summary{root},
		},
		"a root mapping sets the size, type and deleteOnTermination": {
			inst: instance(koalav1.BlockDeviceMapping{DeviceName: "/dev/xvda", EBS: ebs(20, keep, func(e *koalav1.EBSBlockDevice) { e.VolumeType = koalav1.VolumeTypeIO1 })}),
			img:  image(), want: []summary{{"web-root", "/dev/xvda", "", 20, koalav1.VolumeTypeIO1, false}},
		},
		"a root smaller than the image's is refused": {
			inst: instance(koalav1.BlockDeviceMapping{DeviceName: "/dev/xvda", EBS: ebs(4)}), img: image(), wantErr: "smaller than the image's",
		},
		"the image's devices are restored from their snapshots at the snapshot's size": {
			inst: instance(), img: image(withData),
			want: []summary{root, {"web-sdf", "/dev/sdf", "snap-0000000000000000a", 5, koalav1.VolumeTypeGP3, true}},
		},
		"noDevice leaves an image's device out": {
			inst: instance(koalav1.BlockDeviceMapping{DeviceName: "/dev/sdf", NoDevice: true}), img: image(withData), want: []summary{root},
		},
		"an added device is a blank volume of the size asked": {
			inst: instance(koalav1.BlockDeviceMapping{DeviceName: "/dev/sdh", EBS: ebs(3, keep)}), img: image(),
			want: []summary{root, {"web-sdh", "/dev/sdh", "", 3, koalav1.VolumeTypeGP3, false}},
		},
		"an added device without a size or a snapshot is refused": {
			inst: instance(koalav1.BlockDeviceMapping{DeviceName: "/dev/sdh", EBS: ebs(0)}), img: image(), wantErr: "needs a volume size",
		},
		"a volume smaller than its snapshot is refused": {
			inst: instance(koalav1.BlockDeviceMapping{DeviceName: "/dev/sdh", EBS: ebs(2, snapshot("snap-0000000000000000b"))}), img: image(), wantErr: "smaller than its snapshot",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			vols, err := LaunchVolumes(Launch{Instance: tc.inst, InstanceID: "i-0123456789abcdef0", Zone: "z", Image: tc.img, SnapshotSize: sizes})
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(summarize(vols)).To(Equal(tc.want))
			for _, v := range vols {
				g.Expect(v.Namespace).To(Equal("acct"))
				g.Expect(v.Spec.AvailabilityZone).To(Equal("z"))
				g.Expect(v.Spec.Attachment.InstanceID).To(Equal("i-0123456789abcdef0"))
			}
			g.Expect(vols[0].Spec.ImageID).To(Equal("ami-0123456789abcdef0"), "the root volume is a clone of the image")
		})
	}
}

func TestSdAndXvdNameTheSameDevice(t *testing.T) {
	g := NewWithT(t)
	g.Expect(SameDevice("/dev/sdf", "/dev/xvdf")).To(BeTrue())
	g.Expect(SameDevice("/dev/sdf", "/dev/sdg")).To(BeFalse())
	g.Expect(VolumeName("web", "/dev/sdf")).To(Equal("web-sdf"))
}
