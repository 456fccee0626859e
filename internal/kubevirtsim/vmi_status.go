package kubevirtsim

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// KubeVirt's reasons on VMI conditions.
const (
	reasonFailedPvcNotFound = "FailedPvcNotFound"
	reasonPodNotExists      = virtv1.PodNotExistsReason
	reasonGuestNotRunning   = virtv1.GuestNotRunningReason
	reasonPodTerminating    = virtv1.PodTerminatingReason
)

// Simulated guest facts.
const (
	simulatedOSName        = "Simulated Linux"
	simulatedLauncherImage = "simulated"
)

// setVMICondition sets c in conds, keeping the transition time of an unchanged status.
func setVMICondition(conds []virtv1.VirtualMachineInstanceCondition, c virtv1.VirtualMachineInstanceCondition, now metav1.Time) []virtv1.VirtualMachineInstanceCondition {
	for i, old := range conds {
		if old.Type != c.Type {
			continue
		}
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status || c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		c.LastProbeTime = old.LastProbeTime
		conds[i] = c
		return conds
	}
	c.LastTransitionTime = now
	return append(conds, c)
}

func removeVMICondition(conds []virtv1.VirtualMachineInstanceCondition, types ...virtv1.VirtualMachineInstanceConditionType) []virtv1.VirtualMachineInstanceCondition {
	out := slices.DeleteFunc(conds, func(c virtv1.VirtualMachineInstanceCondition) bool { return slices.Contains(types, c.Type) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// setPhase moves st to phase, recording the transition.
func setPhase(st *virtv1.VirtualMachineInstanceStatus, phase virtv1.VirtualMachineInstancePhase, now metav1.Time) {
	if st.Phase == phase {
		return
	}
	st.Phase = phase
	st.PhaseTransitionTimestamps = append(st.PhaseTransitionTimestamps, virtv1.VirtualMachineInstancePhaseTransitionTimestamp{Phase: phase, PhaseTransitionTimestamp: now})
}

// macFor is the simulated MAC address of a VMI interface: the one its spec asks for, or a
// locally administered unicast address derived from the VMI's UID and the interface name.
func macFor(uid types.UID, iface virtv1.Interface) string {
	if iface.MacAddress != "" {
		return iface.MacAddress
	}
	sum := sha256.Sum256([]byte(string(uid) + "/" + iface.Name))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
}

// podNetworkName is the name of the VMI's pod network ("" when it has none).
func podNetworkName(spec *virtv1.VirtualMachineInstanceSpec) string {
	for _, n := range spec.Networks {
		if n.Pod != nil {
			return n.Name
		}
	}
	if len(spec.Networks) == 0 && len(spec.Domain.Devices.Interfaces) == 0 &&
		(spec.Domain.Devices.AutoattachPodInterface == nil || *spec.Domain.Devices.AutoattachPodInterface) {
		return "default" // KubeVirt's default interface
	}
	return ""
}

// vmiInterfaces is status.interfaces of a running VMI: one entry per interface; the one
// on the pod network has podIP. A secondary (Multus) network's address is whatever the
// guest configures: the static one its cloud-init network data gives the interface's
// MAC (as Koala's subnets do), else none.
func vmiInterfaces(vmi *virtv1.VirtualMachineInstance, podIP string) []virtv1.VirtualMachineInstanceNetworkInterface {
	ifaces := vmi.Spec.Domain.Devices.Interfaces
	if len(ifaces) == 0 && podNetworkName(&vmi.Spec) == "default" && len(vmi.Spec.Networks) == 0 {
		ifaces = []virtv1.Interface{{Name: "default"}}
	}
	pod := podNetworkName(&vmi.Spec)
	guestAddrs := networkDataAddresses(vmi)
	var out []virtv1.VirtualMachineInstanceNetworkInterface
	for i, iface := range ifaces {
		st := virtv1.VirtualMachineInstanceNetworkInterface{
			Name:          iface.Name,
			MAC:           macFor(vmi.UID, iface),
			InterfaceName: fmt.Sprintf("eth%d", i),
			InfoSource:    "domain, guest-agent",
			QueueCount:    1,
			LinkState:     "up",
		}
		if iface.Name == pod {
			st.PodInterfaceName = "eth0"
			if podIP != "" {
				st.IP = podIP
				st.IPs = []string{podIP}
			}
		} else {
			st.InfoSource = "domain, guest-agent, multus-status"
			// The guest configures what its cloud-init network data says for the
			// interface's MAC; the guest agent reports it.
			if addrs := guestAddrs[strings.ToLower(st.MAC)]; len(addrs) > 0 {
				st.IP, st.IPs = addrs[0], addrs
			}
			st.PodInterfaceName = fmt.Sprintf("pod%x", sha256.Sum256([]byte(iface.Name)))[:14]
		}
		out = append(out, st)
	}
	return out
}

// networkData is the part of cloud-init's network configuration (version 2) the
// simulated guest applies: static addresses of interfaces matched by MAC.
type networkData struct {
	Ethernets map[string]struct {
		Match struct {
			MACAddress string `json:"macaddress"`
		} `json:"match"`
		Addresses []string `json:"addresses"`
	} `json:"ethernets"`
}

// networkDataAddresses maps each MAC (lower case) of the VMI's NoCloud network data to
// its static addresses, without prefix lengths. Data it cannot read gives none: a real
// guest would not configure it either.
func networkDataAddresses(vmi *virtv1.VirtualMachineInstance) map[string][]string {
	out := map[string][]string{}
	for _, v := range vmi.Spec.Volumes {
		if v.CloudInitNoCloud == nil || v.CloudInitNoCloud.NetworkData == "" {
			continue
		}
		var nd networkData
		if err := yaml.Unmarshal([]byte(v.CloudInitNoCloud.NetworkData), &nd); err != nil {
			continue
		}
		for _, eth := range nd.Ethernets {
			mac := strings.ToLower(eth.Match.MACAddress)
			for _, a := range eth.Addresses {
				if p, err := netip.ParsePrefix(a); err == nil {
					out[mac] = append(out[mac], p.Addr().String())
				} else if ip, err := netip.ParseAddr(a); err == nil {
					out[mac] = append(out[mac], ip.String())
				}
			}
		}
	}
	return out
}

// diskTargets names each disk's device in the guest: vda, vdb, ... on virtio and sda, ...
// on sata, scsi and usb, in the order of the disks.
func diskTargets(disks []virtv1.Disk) map[string]string {
	targets := map[string]string{}
	count := map[string]int{}
	for _, d := range disks {
		prefix := "vd"
		switch {
		case d.CDRom != nil:
			prefix = busPrefix(d.CDRom.Bus, virtv1.DiskBusSATA)
		case d.LUN != nil:
			prefix = busPrefix(d.LUN.Bus, virtv1.DiskBusSCSI)
		case d.Disk != nil:
			prefix = busPrefix(d.Disk.Bus, virtv1.DiskBusVirtio)
		}
		targets[d.Name] = prefix + deviceSuffix(count[prefix])
		count[prefix]++
	}
	return targets
}

func busPrefix(bus, def virtv1.DiskBus) string {
	if bus == "" {
		bus = def
	}
	if bus == virtv1.DiskBusVirtio {
		return "vd"
	}
	return "sd"
}

// deviceSuffix is Linux's disk naming: a..z, aa..az, ...
func deviceSuffix(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}

// vmiVolumeStatus is status.volumeStatus of a running VMI. pvcs holds the PVCs of its
// claim volumes, by name; populating holds the claims whose DataVolume has not succeeded.
// A hotplugged volume is Ready once its PVC is bound and populated, Pending before.
func vmiVolumeStatus(vmi *virtv1.VirtualMachineInstance, pvcs map[string]*corev1.PersistentVolumeClaim, populating map[string]bool) []virtv1.VolumeStatus {
	targets := diskTargets(vmi.Spec.Domain.Devices.Disks)
	var out []virtv1.VolumeStatus
	for _, v := range vmi.Spec.Volumes {
		st := virtv1.VolumeStatus{Name: v.Name, Target: targets[v.Name], Phase: virtv1.VolumeReady}
		if claim := claimName(v); claim != "" {
			if pvc := pvcs[claim]; pvc != nil {
				info := &virtv1.PersistentVolumeClaimInfo{
					ClaimName:   claim,
					AccessModes: slices.Clone(pvc.Spec.AccessModes),
					VolumeMode:  pvc.Spec.VolumeMode,
					Capacity:    pvc.Status.Capacity.DeepCopy(),
					Requests:    pvc.Spec.Resources.Requests.DeepCopy(),
				}
				info.FilesystemOverhead = ptrTo(virtv1.Percent("0.055"))
				st.PersistentVolumeClaimInfo = info
				if q, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
					st.Size = q.Value()
				}
			}
			if isHotplug(v) {
				if pvc := pvcs[claim]; pvc == nil || pvc.Status.Phase != corev1.ClaimBound || populating[claim] {
					st.Phase = virtv1.VolumePending
					st.Reason = "PVCNotReady"
					st.Message = fmt.Sprintf("PVC %s is not ready to be hotplugged", claim)
				} else {
					st.HotplugVolume = &virtv1.HotplugVolumeStatus{
						AttachPodName: "hp-volume-" + shortHash(string(vmi.UID)+v.Name),
						AttachPodUID:  types.UID(fmt.Sprintf("%x", sha256.Sum256([]byte(string(vmi.UID)+"/hp/"+v.Name)))[:32]),
					}
					st.Reason = "VolumeReady"
					st.Message = fmt.Sprintf("Successfully attach hotplugged volume %s to VM", v.Name)
				}
			}
		}
		out = append(out, st)
	}
	return out
}

func isHotplug(v virtv1.Volume) bool {
	return (v.DataVolume != nil && v.DataVolume.Hotpluggable) ||
		(v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.Hotpluggable)
}

func shortHash(s string) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte(s)))[:5]
}

// liveMigratable is the VMI's LiveMigratable condition, with KubeVirt's reasons.
func liveMigratable(vmi *virtv1.VirtualMachineInstance, pvcs map[string]*corev1.PersistentVolumeClaim) virtv1.VirtualMachineInstanceCondition {
	c := virtv1.VirtualMachineInstanceCondition{Type: virtv1.VirtualMachineInstanceIsMigratable, Status: corev1.ConditionTrue}
	pod := podNetworkName(&vmi.Spec)
	for _, iface := range vmi.Spec.Domain.Devices.Interfaces {
		if iface.Name == pod && iface.Bridge != nil {
			c.Status = corev1.ConditionFalse
			c.Reason = virtv1.VirtualMachineInstanceReasonInterfaceNotMigratable
			c.Message = "cannot migrate VMI which does not use masquerade, bridge with kubevirt.io/allow-pod-bridge-network-live-migration VM annotation or a migratable plugin to connect to the pod network"
			return c
		}
	}
	for _, v := range vmi.Spec.Volumes {
		claim := claimName(v)
		if claim == "" {
			continue
		}
		pvc := pvcs[claim]
		if pvc == nil || !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
			c.Status = corev1.ConditionFalse
			c.Reason = virtv1.VirtualMachineInstanceReasonDisksNotMigratable
			c.Message = fmt.Sprintf("cannot migrate VMI: PVC %s is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)", claim)
			return c
		}
	}
	return c
}

// guestMemory is the memory the guest sees: domain.memory.guest, else the memory request.
func guestMemory(spec *virtv1.VirtualMachineInstanceSpec) *resource.Quantity {
	if spec.Domain.Memory != nil && spec.Domain.Memory.Guest != nil {
		q := spec.Domain.Memory.Guest.DeepCopy()
		return &q
	}
	if q, ok := spec.Domain.Resources.Requests[corev1.ResourceMemory]; ok {
		return &q
	}
	return nil
}

// cpuTopology is the guest's CPU topology (each count defaults to 1).
func cpuTopology(spec *virtv1.VirtualMachineInstanceSpec) *virtv1.CPUTopology {
	t := &virtv1.CPUTopology{Sockets: 1, Cores: 1, Threads: 1}
	if c := spec.Domain.CPU; c != nil {
		if c.Sockets > 0 {
			t.Sockets = c.Sockets
		}
		if c.Cores > 0 {
			t.Cores = c.Cores
		}
		if c.Threads > 0 {
			t.Threads = c.Threads
		}
	}
	return t
}

// setRunningStatus fills in what virt-handler reports for a running guest.
func setRunningStatus(st *virtv1.VirtualMachineInstanceStatus, vmi *virtv1.VirtualMachineInstance, podIP string, pvcs map[string]*corev1.PersistentVolumeClaim, populating map[string]bool, now metav1.Time) {
	st.Interfaces = vmiInterfaces(vmi, podIP)
	st.VolumeStatus = vmiVolumeStatus(vmi, pvcs, populating)
	st.GuestOSInfo = virtv1.VirtualMachineInstanceGuestOSInfo{
		Name:          simulatedOSName,
		ID:            "simulated",
		PrettyName:    simulatedOSName + " (KubeVirt simulator)",
		Version:       "1",
		VersionID:     "1",
		KernelRelease: "simulated",
		KernelVersion: "simulated",
		Machine:       "x86_64",
	}
	st.LauncherContainerImageVersion = simulatedLauncherImage
	st.QOSClass = ptrTo(corev1.PodQOSBurstable)
	st.Machine = &virtv1.Machine{Type: "q35"}
	st.CurrentCPUTopology = cpuTopology(&vmi.Spec)
	if mem := guestMemory(&vmi.Spec); mem != nil {
		st.Memory = &virtv1.MemoryStatus{GuestAtBoot: mem, GuestCurrent: ptrTo(mem.DeepCopy()), GuestRequested: ptrTo(mem.DeepCopy())}
	}
	st.RuntimeUser = 107
	st.Conditions = removeVMICondition(st.Conditions, virtv1.VirtualMachineInstanceConditionType(corev1.PodScheduled))
	st.Conditions = setVMICondition(st.Conditions, virtv1.VirtualMachineInstanceCondition{Type: virtv1.VirtualMachineInstanceReady, Status: corev1.ConditionTrue}, now)
	st.Conditions = setVMICondition(st.Conditions, liveMigratable(vmi, pvcs), now)
	st.Conditions = setVMICondition(st.Conditions, virtv1.VirtualMachineInstanceCondition{Type: virtv1.VirtualMachineInstanceAgentConnected, Status: corev1.ConditionTrue}, now)
}
