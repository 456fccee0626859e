package instances

import (
	"context"
	"strconv"
	"strings"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/zones"
)

// displayState is the state EC2 clients see: the operator's status, except where the
// spec already asks for something the operator has not reported yet. A client that
// stops an instance sees it stopping at once, as EC2 shows it.
func displayState(inst *koalav1.Instance) koalav1.InstanceStateName {
	st := inst.Status.State
	switch inst.Spec.State {
	case koalav1.DesiredStateTerminated:
		if st != koalav1.InstanceStateTerminated {
			return koalav1.InstanceStateShuttingDown
		}
	case koalav1.DesiredStateStopped:
		if st == "" || st == koalav1.InstanceStatePending || st == koalav1.InstanceStateRunning {
			return koalav1.InstanceStateStopping
		}
	case koalav1.DesiredStateRunning:
		if st == koalav1.InstanceStateStopped || st == koalav1.InstanceStateStopping {
			return koalav1.InstanceStatePending
		}
	}
	if st == "" {
		return koalav1.InstanceStatePending
	}
	return st
}

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
}

func (h *Handlers) view(ctx context.Context) (view, error) {
	labels, err := h.Store.NodeLabels(ctx)
	if err != nil {
		return view{}, err
	}
	types, err := h.catalog(ctx)
	if err != nil {
		return view{}, err
	}
	volumesOf := func(inst *koalav1.Instance) []koalav1.Volume { return h.volumesOf(ctx, inst) }
	return view{region: h.Region, nodeLabels: labels, types: types, volumesOf: volumesOf}, nil
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
	state := displayState(inst)
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
