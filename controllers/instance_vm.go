package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/cloudinit"
	"github.com/koala-dev/koala/internal/netobjects"
	"github.com/koala-dev/koala/internal/zones"
)

// Annotations Koala keeps on an instance's VirtualMachine.
const (
	// vmAuthorizedKeyAnnotation keeps the public key the VM was launched with, so the
	// guest's cloud-init can be rebuilt (after a user-data change) even if the key pair
	// has been deleted since, as EC2 keeps an instance's key.
	vmAuthorizedKeyAnnotation = "cloud.koala.dev/ssh-authorized-key"
	// vmUserDataHashAnnotation is a digest of the spec.userData the VM's cloud-init was
	// built from, to notice a change without decoding the cloud-init volume.
	vmUserDataHashAnnotation = "cloud.koala.dev/user-data-hash"
)

// Names of the disks and network of an instance's VM.
const (
	rootDiskName      = "rootdisk"
	cloudInitDiskName = "cloudinitdisk"
	podNetworkName    = "default"
	// instancetypeKind is the kind of the cluster-wide KubeVirt instancetypes that
	// make up the instance type catalog.
	instancetypeKind = "VirtualMachineClusterInstancetype"
)

// runStrategyFor maps the desired power state to KubeVirt's runStrategy. Always (not
// RerunOnFailure) keeps the guest running across guest-initiated reboots.
func runStrategyFor(s koalav1.InstanceDesiredState) kubevirtv1.VirtualMachineRunStrategy {
	if s == koalav1.DesiredStateRunning {
		return kubevirtv1.RunStrategyAlways
	}
	return kubevirtv1.RunStrategyHalted
}

func userDataHash(userData string) string {
	sum := sha256.Sum256([]byte(userData))
	return hex.EncodeToString(sum[:8])
}

// vmLabels are the labels Koala puts on the VM and its template, so that the
// VirtualMachineInstance (and on a real cluster its virt-launcher pod) can be traced
// back to the instance.
func vmLabels(inst *koalav1.Instance, id string) map[string]string {
	return map[string]string{
		koalav1.InstanceIDLabel:   id,
		koalav1.InstanceNameLabel: inst.Name,
	}
}

// desiredVM builds the VirtualMachine of an instance: the instancetype from the
// catalog, the root disk (the root volume's DataVolume, a template cloned from the
// image's DataSource), the other volumes hotplugged, cloud-init with the user data and
// the public key, and the pod network.
// zone, when not empty, pins the VM to the nodes of that zone.
// net, when not nil, adds the interface on the subnet (Multus, bridge binding), the
// guest's network data with the assigned address, and the security group labels.
func desiredVM(inst *koalav1.Instance, id, zone string, image *koalav1.Image, authorizedKey string,
	root *koalav1.Volume, hotplug []*koalav1.Volume, storage StorageConfig, net *instanceNetwork) (*kubevirtv1.VirtualMachine, error) {
	userData, err := cloudinit.Build(inst.Spec.UserData, authorizedKey)
	if err != nil {
		return nil, fmt.Errorf("building cloud-init user data: %w", err)
	}
	size := root.Spec.Size
	imageNamespace := image.Namespace
	rootLabels := vmLabels(inst, id)
	rootLabels[koalav1.VolumeNameLabel] = root.Name
	runStrategy := runStrategyFor(inst.Spec.State)
	labels := vmLabels(inst, id)
	annotations := map[string]string{vmUserDataHashAnnotation: userDataHash(inst.Spec.UserData)}
	if authorizedKey != "" {
		annotations[vmAuthorizedKeyAnnotation] = authorizedKey
	}
	var nodeSelector map[string]string
	if zone != "" {
		nodeSelector = map[string]string{zones.Label: zone}
	}
	vm := &kubevirtv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{
			Name:        inst.Name,
			Namespace:   inst.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: kubevirtv1.VirtualMachineSpec{
			RunStrategy:  &runStrategy,
			Instancetype: &kubevirtv1.InstancetypeMatcher{Kind: instancetypeKind, Name: inst.Spec.InstanceType},
			DataVolumeTemplates: []kubevirtv1.DataVolumeTemplateSpec{{
				ObjectMeta: metav1.ObjectMeta{Name: root.Name, Labels: rootLabels},
				Spec: cdiv1beta1.DataVolumeSpec{
					SourceRef: &cdiv1beta1.DataVolumeSourceRef{
						Kind:      cdiv1beta1.DataVolumeDataSource,
						Namespace: &imageNamespace,
						Name:      image.Status.DataSourceName,
					},
					Storage: &cdiv1beta1.StorageSpec{
						StorageClassName: storage.storageClassName(root.Type()),
						Resources: corev1.VolumeResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(int64(size)<<30, resource.BinarySI)},
						},
					},
				},
			}},
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: vmLabels(inst, id)},
				Spec: kubevirtv1.VirtualMachineInstanceSpec{
					Hostname:     id,
					NodeSelector: nodeSelector,
					Domain: kubevirtv1.DomainSpec{
						Devices: kubevirtv1.Devices{
							Disks: []kubevirtv1.Disk{
								{Name: rootDiskName, BootOrder: ptrTo(uint(1)), DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}},
								{Name: cloudInitDiskName, DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}},
							},
							Interfaces: []kubevirtv1.Interface{{
								Name:                   podNetworkName,
								InterfaceBindingMethod: kubevirtv1.InterfaceBindingMethod{Masquerade: &kubevirtv1.InterfaceMasquerade{}},
							}},
						},
					},
					Networks: []kubevirtv1.Network{{Name: podNetworkName, NetworkSource: kubevirtv1.NetworkSource{Pod: &kubevirtv1.PodNetwork{}}}},
					Volumes: []kubevirtv1.Volume{
						{Name: rootDiskName, VolumeSource: kubevirtv1.VolumeSource{DataVolume: &kubevirtv1.DataVolumeSource{Name: root.Name}}},
						{Name: cloudInitDiskName, VolumeSource: kubevirtv1.VolumeSource{CloudInitNoCloud: &kubevirtv1.CloudInitNoCloudSource{UserDataBase64: userData}}},
					},
				},
			},
		},
	}
	if net != nil {
		if err := attachSubnet(vm, id, net); err != nil {
			return nil, err
		}
	}
	syncHotplug(vm, hotplug)
	return vm, nil
}

// attachSubnet puts the VM's second interface on the subnet's attachment, with a MAC
// derived from the instance's ID so that the guest's network data (matched by MAC)
// holds across restarts, and the address given to the guest through cloud-init. The
// address is on the VM as an annotation too, for an operator that restarts before
// recording it.
func attachSubnet(vm *kubevirtv1.VirtualMachine, id string, net *instanceNetwork) error {
	data, err := netobjects.NetworkData(id, net.address, net.vpc.Spec.CIDRBlock, net.mtu)
	if err != nil {
		return err
	}
	spec := &vm.Spec.Template.Spec
	spec.Domain.Devices.Interfaces[0].MacAddress = netobjects.MACAddress(id, netobjects.PodNetworkName)
	spec.Domain.Devices.Interfaces = append(spec.Domain.Devices.Interfaces, kubevirtv1.Interface{
		Name:                   netobjects.SubnetNetworkName,
		MacAddress:             netobjects.MACAddress(id, netobjects.SubnetNetworkName),
		InterfaceBindingMethod: kubevirtv1.InterfaceBindingMethod{Bridge: &kubevirtv1.InterfaceBridge{}},
	})
	spec.Networks = append(spec.Networks, kubevirtv1.Network{
		Name:          netobjects.SubnetNetworkName,
		NetworkSource: kubevirtv1.NetworkSource{Multus: &kubevirtv1.MultusNetwork{NetworkName: net.nadRef()}},
	})
	for i := range spec.Volumes {
		if v := &spec.Volumes[i]; v.Name == cloudInitDiskName && v.CloudInitNoCloud != nil {
			v.CloudInitNoCloud.NetworkData = data
		}
	}
	vm.Annotations[vmSubnetAnnotation] = net.subnet.EC2ID()
	vm.Annotations[vmAddressAnnotation] = net.address
	// The template's own map: the VM's labels are a different copy.
	for k, v := range groupLabels(net.groups) {
		vm.Spec.Template.ObjectMeta.Labels[k] = v
	}
	return nil
}

// syncLabels makes the security group member labels of labels those of groups, and
// reports whether it changed anything.
func syncLabels(labels map[string]string, groups []string) bool {
	want := groupLabels(groups)
	changed := false
	for k := range labels {
		if strings.HasPrefix(k, koalav1.SecurityGroupLabelPrefix) && want[k] == "" {
			delete(labels, k)
			changed = true
		}
	}
	for k, v := range want {
		if labels[k] != v {
			labels[k] = v
			changed = true
		}
	}
	return changed
}

// updateVM applies to an existing VM what may change after launch: the power state,
// the instance type (while stopped), the user data (while stopped) and the hotplugged
// volumes. It reports whether anything changed.
func updateVM(vm *kubevirtv1.VirtualMachine, inst *koalav1.Instance, hotplug []*koalav1.Volume, net *instanceNetwork) (bool, error) {
	changed := syncHotplug(vm, hotplug)
	if net != nil && vm.Spec.Template != nil {
		if vm.Spec.Template.ObjectMeta.Labels == nil {
			vm.Spec.Template.ObjectMeta.Labels = map[string]string{}
		}
		// The groups of the guest's next start; the running guest's are relabelled
		// apart (syncGroupLabels).
		if syncLabels(vm.Spec.Template.ObjectMeta.Labels, net.groups) {
			changed = true
		}
	}
	rs := runStrategyFor(inst.Spec.State)
	if vm.Spec.RunStrategy == nil || *vm.Spec.RunStrategy != rs {
		vm.Spec.RunStrategy = &rs
		changed = true
	}
	if vm.Spec.Instancetype == nil || vm.Spec.Instancetype.Name != inst.Spec.InstanceType {
		// The revision KubeVirt pinned belongs to the old type.
		vm.Spec.Instancetype = &kubevirtv1.InstancetypeMatcher{Kind: instancetypeKind, Name: inst.Spec.InstanceType}
		changed = true
	}
	if want := userDataHash(inst.Spec.UserData); vm.Annotations[vmUserDataHashAnnotation] != want && vm.Spec.Template != nil {
		userData, err := cloudinit.Build(inst.Spec.UserData, vm.Annotations[vmAuthorizedKeyAnnotation])
		if err != nil {
			return false, fmt.Errorf("building cloud-init user data: %w", err)
		}
		for i := range vm.Spec.Template.Spec.Volumes {
			if v := &vm.Spec.Template.Spec.Volumes[i]; v.Name == cloudInitDiskName && v.CloudInitNoCloud != nil {
				v.CloudInitNoCloud.UserDataBase64 = userData
			}
		}
		if vm.Annotations == nil {
			vm.Annotations = map[string]string{}
		}
		vm.Annotations[vmUserDataHashAnnotation] = want
		changed = true
	}
	return changed, nil
}

// templateVolumes are the volumes of vm's guest, nil when it has no template.
func templateVolumes(vm *kubevirtv1.VirtualMachine) []kubevirtv1.Volume {
	if vm.Spec.Template == nil {
		return nil
	}
	return vm.Spec.Template.Spec.Volumes
}

func ptrTo[T any](v T) *T { return &v }
