// Package testgen builds Koala objects for tests: a builder per kind with modifiers, so
// that tests say only what matters to them.
package testgen

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// InstanceOption modifies an Instance under construction.
type InstanceOption func(*koalav1.Instance)

// Instance returns an Instance in namespace ns that launches imageID as a t3.micro.
func Instance(name, ns, imageID string, opts ...InstanceOption) *koalav1.Instance {
	inst := &koalav1.Instance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       koalav1.InstanceSpec{ImageID: imageID, InstanceType: "t3.micro"},
	}
	for _, o := range opts {
		o(inst)
	}
	return inst
}

// WithType sets the instance type.
func WithType(t string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.InstanceType = t }
}

// WithKey sets the key name.
func WithKey(name string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.KeyName = name }
}

// WithUserData sets the (base64) user data.
func WithUserData(b64 string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.UserData = b64 }
}

// WithState sets the desired state.
func WithState(s koalav1.InstanceDesiredState) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.State = s }
}

// WithTags sets the tags.
func WithTags(tags map[string]string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.Tags = tags }
}

// WithZone places the instance in an availability zone.
func WithZone(z string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.Placement.AvailabilityZone = z }
}

// WithDisableAPITermination sets disableApiTermination.
func WithDisableAPITermination() InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.DisableAPITermination = true }
}

// WithEC2ID gives the instance its EC2 ID in advance, as the EC2 endpoint does for the
// instances it launches.
func WithEC2ID(id string) InstanceOption {
	return func(i *koalav1.Instance) {
		if i.Annotations == nil {
			i.Annotations = map[string]string{}
		}
		i.Annotations[koalav1.IDAnnotation] = id
	}
}

// ImageOption modifies an Image under construction.
type ImageOption func(*koalav1.Image)

// Image returns an Image in namespace ns imported from an HTTP URL.
func Image(name, ns string, opts ...ImageOption) *koalav1.Image {
	img := &koalav1.Image{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: koalav1.ImageSpec{
			Source: koalav1.ImageSource{HTTP: &koalav1.HTTPImageSource{URL: "https://images.example.com/" + name + ".qcow2"}},
		},
	}
	for _, o := range opts {
		o(img)
	}
	return img
}

// Public makes the image public.
func Public() ImageOption {
	return func(i *koalav1.Image) { i.Spec.Public = true }
}

// KeyPair returns a KeyPair in namespace ns with the given public key.
func KeyPair(name, ns, publicKey string) *koalav1.KeyPair {
	return &koalav1.KeyPair{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       koalav1.KeyPairSpec{PublicKey: publicKey},
	}
}

// Ed25519Key is a fixed public key for tests.
const Ed25519Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ/AYo177qSt3HXN/AN2QkzUQU0H+Y0iIE1IJQAAJMLP test@koala"

// VolumeOption modifies a Volume under construction.
type VolumeOption func(*koalav1.Volume)

// Volume returns a blank gp3 Volume of size GiB in namespace ns and zone.
func Volume(name, ns, zone string, size int32, opts ...VolumeOption) *koalav1.Volume {
	v := &koalav1.Volume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       koalav1.VolumeSpec{Size: size, VolumeType: koalav1.VolumeTypeGP3, AvailabilityZone: zone},
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

// AttachedTo attaches the volume to an instance at a device.
func AttachedTo(instanceID, device string, deleteOnTermination bool) VolumeOption {
	return func(v *koalav1.Volume) {
		v.Spec.Attachment = &koalav1.VolumeAttachment{InstanceID: instanceID, Device: device, DeleteOnTermination: deleteOnTermination}
	}
}

// FromSnapshot restores the volume from a snapshot.
func FromSnapshot(snapshotID string) VolumeOption {
	return func(v *koalav1.Volume) { v.Spec.SnapshotID = snapshotID }
}

// Snapshot returns a Snapshot of a volume in namespace ns.
func Snapshot(name, ns, volumeID string) *koalav1.Snapshot {
	return &koalav1.Snapshot{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       koalav1.SnapshotSpec{VolumeID: volumeID},
	}
}

// WithBlockDeviceMappings sets the instance's block device mappings.
func WithBlockDeviceMappings(m ...koalav1.BlockDeviceMapping) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.BlockDeviceMappings = m }
}

// ProviderNetwork is a default bridge provider network, as a platform team declares
// one: with it, every account gets a default VPC.
func ProviderNetwork(name string) *koalav1.ProviderNetwork {
	return &koalav1.ProviderNetwork{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: koalav1.ProviderNetworkSpec{
			Type: koalav1.ProviderNetworkBridge, Bridge: "br-" + name, Default: true,
			Description: "The data centre's network of the VPCs",
		},
	}
}

// WithSubnet launches the instance into a subnet.
func WithSubnet(id string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.SubnetID = id }
}

// WithSecurityGroups puts the instance in these groups.
func WithSecurityGroups(ids ...string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.SecurityGroupIDs = ids }
}

// WithPrivateIP asks for an address of the subnet.
func WithPrivateIP(ip string) InstanceOption {
	return func(i *koalav1.Instance) { i.Spec.PrivateIPAddress = ip }
}
