package instances

import (
	"context"
	"strconv"
	"strings"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/netobjects"
	"github.com/koala-dev/koala/internal/zones"
)

func stateOf(s koalav1.InstanceStateName) stateXML {
	return stateXML{Code: s.Code(), Name: string(s)}
}

// launchIndex is the instance's position in its launch request.
func launchIndex(inst *koalav1.Instance) int32 {
	n, err := strconv.Atoi(inst.Annotations[koalav1.LaunchIndexAnnotation])
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// rootDeviceName is the image's root device, recorded at launch; until the operator
// has, EC2's usual /dev/xvda.
func rootDeviceName(inst *koalav1.Instance) string {
	return orDefault(inst.Status.RootDeviceName, "/dev/xvda")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// reservationID is the launch request's ID: the operator's, or the endpoint's before the
// operator has confirmed it.
func reservationID(inst *koalav1.Instance) string {
	if inst.Status.ReservationID != "" {
		return inst.Status.ReservationID
	}
	return inst.Annotations[koalav1.ReservationIDAnnotation]
}

// privateDNSName is EC2's internal host name for an address ("ip-10-0-0-5.koala-1.compute.internal").
func privateDNSName(ip, region string) string {
	if ip == "" || strings.Contains(ip, ":") {
		return ""
	}
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.internal"
}

// view is what renders an instance: the region, and the nodes' labels, from which the
// zone of an instance the operator has not confirmed yet is computed as the operator
// will choose it.
type view struct {
	region     string
	nodeLabels []map[string]string
	// types is the catalog, for the CPU options of each instance's type.
	types map[string]catalog.Type
	// volumesOf reads an instance's volumes, for its block device mapping.
	volumesOf func(*koalav1.Instance) []koalav1.Volume
	// groupNames are the account's security groups' names by ID; publicIPs the Elastic
	// IPs associated with its instances, by instance ID.
	groupNames map[string]string
	publicIPs  map[string]string
	// vpcOfSubnet maps the account's subnets to their VPCs, for instances the operator
	// has not confirmed yet.
	vpcOfSubnet map[string]string
	ownerID     string
}

// networkOf fills the view's security group names and Elastic IPs of the account.
func (h *Handlers) networkOf(ctx context.Context, acct store.Account, v *view) error {
	groups, err := h.Store.SecurityGroups(ctx, acct)
	if err != nil {
		return err
	}
	v.groupNames = make(map[string]string, len(groups))
	for i := range groups {
		v.groupNames[groups[i].EC2ID()] = groups[i].Spec.GroupName
	}
	addrs, err := h.Store.Addresses(ctx, acct)
	if err != nil {
		return err
	}
	v.publicIPs = map[string]string{}
	for i := range addrs {
		if a := &addrs[i]; a.Spec.InstanceID != "" && a.DeletionTimestamp.IsZero() {
			if ip := orDefault(a.Spec.PublicIP, a.Status.PublicIP); ip != "" {
				v.publicIPs[a.Spec.InstanceID] = ip
			}
		}
	}
	subnets, err := h.Store.Subnets(ctx, acct)
	if err != nil {
		return err
	}
	v.vpcOfSubnet = make(map[string]string, len(subnets))
	for i := range subnets {
		v.vpcOfSubnet[subnets[i].EC2ID()] = subnets[i].Spec.VPCID
	}
	v.ownerID = acct.ID
	return nil
}

func (h *Handlers) view(ctx context.Context, acct store.Account) (view, error) {
	labels, err := h.Store.NodeLabels(ctx)
	if err != nil {
		return view{}, err
	}
	types, err := h.catalog(ctx)
	if err != nil {
		return view{}, err
	}
	volumesOf := func(inst *koalav1.Instance) []koalav1.Volume { return h.volumesOf(ctx, inst) }
	v := view{region: h.Region, nodeLabels: labels, types: types, volumesOf: volumesOf}
	return v, h.networkOf(ctx, acct, &v)
}

// cpuOptions are the type's CPU options; an instance whose type has since left the
// catalog shows one core.
func (v view) cpuOptions(instanceType string) cpuOptionsXML {
	if t, ok := v.types[instanceType]; ok {
		return cpuOptionsXML{CoreCount: t.Cores, ThreadsPerCore: t.ThreadsPerCore}
	}
	return cpuOptionsXML{CoreCount: 1, ThreadsPerCore: 1}
}

// zone is where the instance is: the operator's record, the zone asked for, or the one
// the operator will choose (seeded by the reservation, so a launch shares one zone).
func (v view) zone(inst *koalav1.Instance) string {
	if z := zoneOf(inst); z != "" {
		return z
	}
	z, _ := zones.Assign(v.region, v.nodeLabels, reservationID(inst))
	return z
}

func (v view) instance(inst *koalav1.Instance) instanceXML {
	state := inst.DisplayState()
	zone := v.zone(inst)
	launch := inst.CreationTimestamp.Time
	if inst.Status.LaunchTime != nil {
		launch = inst.Status.LaunchTime.Time
	}
	x := instanceXML{
		InstanceID:          inst.EC2ID(),
		ImageID:             inst.Spec.ImageID,
		InstanceState:       stateOf(state),
		PrivateDNSName:      privateDNSName(inst.Status.PrivateIPAddress, v.region),
		Reason:              inst.Status.StateTransitionReason,
		KeyName:             inst.Spec.KeyName,
		AmiLaunchIndex:      launchIndex(inst),
		InstanceType:        inst.Spec.InstanceType,
		LaunchTime:          protocol.FormatTime(launch),
		Placement:           placementXML{AvailabilityZone: zone, Tenancy: "default"},
		Monitoring:          monitoringXML{State: "disabled"},
		PrivateIPAddress:    inst.Status.PrivateIPAddress,
		Architecture:        orDefault(string(inst.Status.Architecture), "x86_64"),
		RootDeviceType:      "ebs",
		RootDeviceName:      rootDeviceName(inst),
		VirtualizationType:  "hvm",
		ClientToken:         inst.Spec.ClientToken,
		TagSet:              tagging.Set(inst.Spec.Tags),
		Hypervisor:          "xen",
		EnaSupport:          true,
		SourceDestCheck:     true,
		CPUOptions:          v.cpuOptions(inst.Spec.InstanceType),
		CapacityReservation: capacityReservationXML{Preference: "open"},
		MetadataOptions: metadataOptionsXML{
			State: "applied", HTTPTokens: "optional", HTTPPutResponseHopLimit: 1,
			HTTPEndpoint: "enabled", HTTPProtocolIPv6: "disabled", InstanceMetadataTags: "disabled",
		},
		BootMode:              "legacy-bios",
		CurrentBootMode:       "legacy-bios",
		PlatformDetails:       "Linux/UNIX",
		UsageOperation:        "RunInstances",
		UsageOperationUpdate:  protocol.FormatTime(inst.CreationTimestamp.Time),
		PrivateDNSNameOptions: privateDNSNameOptionsXML{HostnameType: "ip-name"},
		MaintenanceOptions:    maintenanceOptionsXML{AutoRecovery: "default"},
	}
	v.network(inst, state, &x)
	if r := inst.Status.StateReason; r != nil && state != koalav1.InstanceStateRunning {
		x.StateReason = &stateReasonXML{Code: r.Code, Message: r.Message}
	}
	if v.volumesOf != nil {
		x.BlockDeviceMapping = blockDevices(v.volumesOf(inst), inst.EC2ID(), x.RootDeviceName)
	}
	return x
}

// reservations groups instances (in their order) by reservation, as EC2 answers.
func (v view) reservations(insts []*koalav1.Instance, ownerID string) []reservationXML {
	var out []reservationXML
	at := map[string]int{}
	for _, inst := range insts {
		rid := reservationID(inst)
		i, ok := at[rid]
		if !ok {
			i = len(out)
			at[rid] = i
			out = append(out, reservationXML{ReservationID: rid, OwnerID: ownerID})
		}
		out[i].InstancesSet = append(out[i].InstancesSet, v.instance(inst))
	}
	return out
}

// subnetOf, vpcOf and groupsOf are the instance's network: the operator's record, else
// what the launch asked for.
func subnetOf(i *koalav1.Instance) string { return orDefault(i.Status.SubnetID, i.Spec.SubnetID) }
func vpcOf(i *koalav1.Instance) string    { return i.Status.VPCID }
func groupsOf(i *koalav1.Instance) []string {
	if len(i.Spec.SecurityGroupIDs) > 0 {
		return i.Spec.SecurityGroupIDs // a change shows at once, as in EC2
	}
	return i.Status.SecurityGroupIDs
}

// privateIP is the instance's address: the operator's record, else the one the launch
// claimed.
func privateIP(i *koalav1.Instance) string {
	return orDefault(i.Status.PrivateIPAddress, i.Spec.PrivateIPAddress)
}

// network renders the instance's subnet, groups, interface and public address. A
// terminated instance has none, as in EC2.
func (v view) network(inst *koalav1.Instance, state koalav1.InstanceStateName, x *instanceXML) {
	groups := groupsOf(inst)
	for _, g := range groups {
		x.GroupSet.Items = append(x.GroupSet.Items, groupXML{GroupID: g, GroupName: v.groupNames[g]})
	}
	if state == koalav1.InstanceStateTerminated || subnetOf(inst) == "" {
		return
	}
	x.SubnetID, x.VPCID = subnetOf(inst), orDefault(vpcOf(inst), v.vpcOfSubnet[subnetOf(inst)])
	x.PrivateIPAddress = privateIP(inst)
	x.PrivateDNSName = privateDNSName(x.PrivateIPAddress, v.region)
	x.PublicIPAddress = orDefault(v.publicIPs[inst.EC2ID()], inst.Status.PublicIPAddress)
	var assoc *interfaceAssociationXML
	if x.PublicIPAddress != "" {
		assoc = &interfaceAssociationXML{PublicIP: x.PublicIPAddress, IPOwnerID: v.ownerID}
	}
	id := inst.EC2ID()
	x.NetworkInterfaceSet.Items = []networkInterfaceXML{{
		NetworkInterfaceID: ids.FromSeed(ids.NetworkInterface, id),
		SubnetID:           x.SubnetID,
		VPCID:              x.VPCID,
		OwnerID:            v.ownerID,
		Status:             "in-use",
		MACAddress:         netobjects.MACAddress(id, netobjects.SubnetNetworkName),
		PrivateIPAddress:   x.PrivateIPAddress,
		PrivateDNSName:     x.PrivateDNSName,
		SourceDestCheck:    true,
		GroupSet:           x.GroupSet,
		Attachment: interfaceAttachmentXML{
			AttachmentID: ids.FromSeed(ids.InterfaceAttachment, id), Status: "attached",
			AttachTime: protocol.FormatTime(inst.CreationTimestamp.Time), DeleteOnTermination: true,
		},
		Association:        assoc,
		PrivateIPAddresses: []privateAddressXML{{PrivateIPAddress: x.PrivateIPAddress, PrivateDNSName: x.PrivateDNSName, Primary: true, Association: assoc}},
		InterfaceType:      "interface",
	}}
}
