package instancetypes

import (
	"context"
	"sort"
	"strconv"
	"strings"

	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"

	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
)

// freeTier are the types EC2 lists as free tier eligible.
var freeTier = map[string]bool{"t2.micro": true, "t3.micro": true}

// clockSpeedGHz is the sustained clock speed shown for every type: Koala does not
// know the nodes' CPUs, and EC2's current Intel types are about this fast.
const clockSpeedGHz = 3.1

// view renders an instance type as EC2 describes it. Everything not in the catalog's
// view is what Koala offers to every type: EBS-backed HVM guests on demand, no
// instance store, no hibernation, no dedicated hosts, no placement groups.
func view(t catalog.Type) instanceTypeXML {
	nics := maxNetworkInterfaces(t.VCPUs)
	return instanceTypeXML{
		InstanceType:                 t.Name,
		CurrentGeneration:            true,
		FreeTierEligible:             freeTier[t.Name],
		SupportedUsageClasses:        []string{"on-demand"},
		SupportedRootDeviceTypes:     []string{"ebs"},
		SupportedVirtualizationTypes: []string{"hvm"},
		Hypervisor:                   "nitro",
		ProcessorInfo: processorInfoXML{
			SupportedArchitectures:   []string{t.Architecture},
			SustainedClockSpeedInGhz: clockSpeedGHz,
			Manufacturer:             manufacturer(t.Architecture),
		},
		VCPUInfo:   vCPUInfoXML{DefaultVCPUs: t.VCPUs, DefaultCores: t.Cores, DefaultThreadsPerCore: t.ThreadsPerCore},
		MemoryInfo: memoryInfoXML{SizeInMiB: t.MemoryMiB},
		EbsInfo:    ebsInfoXML{EbsOptimizedSupport: "default", EncryptionSupport: "supported", NvmeSupport: "required"},
		NetworkInfo: networkInfoXML{
			NetworkPerformance:       t.NetworkPerformance,
			MaximumNetworkInterfaces: nics,
			MaximumNetworkCards:      1,
			NetworkCards: []networkCardXML{
				{NetworkCardIndex: 0, NetworkPerformance: t.NetworkPerformance, MaximumNetworkInterfaces: nics},
			},
			IPv4AddressesPerInterface: 15,
			IPv6AddressesPerInterface: 15,
			EnaSupport:                "required",
		},
		BurstablePerformanceSupported: t.Burstable,
		AutoRecoverySupported:         true,
		SupportedBootModes:            []string{"legacy-bios", "uefi"},
		NitroEnclavesSupport:          "unsupported",
		NitroTpmSupport:               "unsupported",
		PhcSupport:                    "unsupported",
	}
}

// maxNetworkInterfaces grows with the type's size, as EC2's limits do.
func maxNetworkInterfaces(vcpus int32) int32 {
	switch {
	case vcpus <= 2:
		return 3
	case vcpus <= 8:
		return 4
	}
	return 8
}

// manufacturer names the CPU maker where Koala can say it; an admin's arm64 type
// runs on whatever Arm nodes the cluster has, so it is left out there.
func manufacturer(arch string) string {
	switch arch {
	case "x86_64", "i386":
		return "Intel"
	}
	return ""
}

// Field builders for typeFilters: each gives an item's values for one filter.
type field = func(*instanceTypeXML) []string

// text is a field with one value, or none when it is empty.
func text(get func(*instanceTypeXML) string) field {
	return func(x *instanceTypeXML) []string {
		if v := get(x); v != "" {
			return []string{v}
		}
		return nil
	}
}

func list(get func(*instanceTypeXML) []string) field { return get }

func boolean(get func(*instanceTypeXML) bool) field {
	return func(x *instanceTypeXML) []string { return []string{strconv.FormatBool(get(x))} }
}

func number[N int32 | int64](get func(*instanceTypeXML) N) field {
	return func(x *instanceTypeXML) []string { return []string{strconv.FormatInt(int64(get(x)), 10)} }
}

// absent is a documented filter on something Koala's types do not have: it matches
// no type, as it matches no type without that thing in EC2.
func absent(*instanceTypeXML) []string { return nil }

// typeFilters are DescribeInstanceTypes' filters, every one EC2 documents. They read
// the rendered item, so a filter matches exactly what the client sees.
var typeFilters = filter.Schema[*instanceTypeXML]{
	Fields: map[string]func(*instanceTypeXML) []string{
		"instance-type":                     text(func(x *instanceTypeXML) string { return x.InstanceType }),
		"current-generation":                boolean(func(x *instanceTypeXML) bool { return x.CurrentGeneration }),
		"free-tier-eligible":                boolean(func(x *instanceTypeXML) bool { return x.FreeTierEligible }),
		"auto-recovery-supported":           boolean(func(x *instanceTypeXML) bool { return x.AutoRecoverySupported }),
		"bare-metal":                        boolean(func(x *instanceTypeXML) bool { return x.BareMetal }),
		"burstable-performance-supported":   boolean(func(x *instanceTypeXML) bool { return x.BurstablePerformanceSupported }),
		"dedicated-hosts-supported":         boolean(func(x *instanceTypeXML) bool { return x.DedicatedHostsSupported }),
		"hibernation-supported":             boolean(func(x *instanceTypeXML) bool { return x.HibernationSupported }),
		"instance-storage-supported":        boolean(func(x *instanceTypeXML) bool { return x.InstanceStorageSupported }),
		"hypervisor":                        text(func(x *instanceTypeXML) string { return x.Hypervisor }),
		"nitro-enclaves-support":            text(func(x *instanceTypeXML) string { return x.NitroEnclavesSupport }),
		"nitro-tpm-support":                 text(func(x *instanceTypeXML) string { return x.NitroTpmSupport }),
		"nitro-tpm-info.supported-versions": absent,
		"reboot-migration-support":          absent,
		"memory-info.size-in-mib":           number(func(x *instanceTypeXML) int64 { return x.MemoryInfo.SizeInMiB }),
		"supported-boot-mode":               list(func(x *instanceTypeXML) []string { return x.SupportedBootModes }),
		"supported-root-device-type":        list(func(x *instanceTypeXML) []string { return x.SupportedRootDeviceTypes }),
		"supported-usage-class":             list(func(x *instanceTypeXML) []string { return x.SupportedUsageClasses }),
		"supported-virtualization-type":     list(func(x *instanceTypeXML) []string { return x.SupportedVirtualizationTypes }),

		"processor-info.supported-architecture": list(func(x *instanceTypeXML) []string { return x.ProcessorInfo.SupportedArchitectures }),
		"processor-info.sustained-clock-speed-in-ghz": func(x *instanceTypeXML) []string {
			return []string{strconv.FormatFloat(x.ProcessorInfo.SustainedClockSpeedInGhz, 'f', -1, 64)}
		},
		"processor-info.supported-features": absent,

		"vcpu-info.default-vcpus":            number(func(x *instanceTypeXML) int32 { return x.VCPUInfo.DefaultVCPUs }),
		"vcpu-info.default-cores":            number(func(x *instanceTypeXML) int32 { return x.VCPUInfo.DefaultCores }),
		"vcpu-info.default-threads-per-core": number(func(x *instanceTypeXML) int32 { return x.VCPUInfo.DefaultThreadsPerCore }),
		"vcpu-info.valid-cores":              absent,
		"vcpu-info.valid-threads-per-core":   absent,

		"ebs-info.ebs-optimized-support":                          text(func(x *instanceTypeXML) string { return x.EbsInfo.EbsOptimizedSupport }),
		"ebs-info.encryption-support":                             text(func(x *instanceTypeXML) string { return x.EbsInfo.EncryptionSupport }),
		"ebs-info.nvme-support":                                   text(func(x *instanceTypeXML) string { return x.EbsInfo.NvmeSupport }),
		"ebs-info.attachment-limit-type":                          absent,
		"ebs-info.maximum-ebs-attachments":                        absent,
		"ebs-info.ebs-optimized-info.baseline-bandwidth-in-mbps":  absent,
		"ebs-info.ebs-optimized-info.baseline-iops":               absent,
		"ebs-info.ebs-optimized-info.baseline-throughput-in-mbps": absent,
		"ebs-info.ebs-optimized-info.maximum-bandwidth-in-mbps":   absent,
		"ebs-info.ebs-optimized-info.maximum-iops":                absent,
		"ebs-info.ebs-optimized-info.maximum-throughput-in-mbps":  absent,

		"instance-storage-info.disk.count":         absent,
		"instance-storage-info.disk.size-in-gb":    absent,
		"instance-storage-info.disk.type":          absent,
		"instance-storage-info.encryption-support": absent,
		"instance-storage-info.nvme-support":       absent,
		"instance-storage-info.total-size-in-gb":   absent,

		"network-info.network-performance": text(func(x *instanceTypeXML) string { return x.NetworkInfo.NetworkPerformance }),
		"network-info.maximum-network-interfaces": number(func(x *instanceTypeXML) int32 {
			return x.NetworkInfo.MaximumNetworkInterfaces
		}),
		"network-info.maximum-network-cards": number(func(x *instanceTypeXML) int32 { return x.NetworkInfo.MaximumNetworkCards }),
		"network-info.ipv4-addresses-per-interface": number(func(x *instanceTypeXML) int32 {
			return x.NetworkInfo.IPv4AddressesPerInterface
		}),
		"network-info.ipv6-addresses-per-interface": number(func(x *instanceTypeXML) int32 {
			return x.NetworkInfo.IPv6AddressesPerInterface
		}),
		"network-info.ipv6-supported": boolean(func(x *instanceTypeXML) bool { return x.NetworkInfo.IPv6Supported }),
		"network-info.ena-support":    text(func(x *instanceTypeXML) string { return x.NetworkInfo.EnaSupport }),
		"network-info.efa-supported":  boolean(func(x *instanceTypeXML) bool { return x.NetworkInfo.EfaSupported }),
		"network-info.encryption-in-transit-supported": boolean(func(x *instanceTypeXML) bool {
			return x.NetworkInfo.EncryptionInTransitSupported
		}),
		"network-info.efa-info.maximum-efa-interfaces": absent,
		"network-info.bandwidth-weightings":            absent,
		"network-info.flexible-ena-queues-support":     absent,
	},
}

// describeInput is a DescribeInstanceTypes request: the names asked for, the filters
// and the page.
type describeInput struct {
	names              []string
	filters            []filter.Filter
	maxResults         int
	token              string
	scope              string
	includeUnsupported bool
}

func parseDescribe(p *protocol.Params) (describeInput, error) {
	var in describeInput
	var err error
	if in.names, err = p.Strings("InstanceType"); err != nil {
		return in, err
	}
	if in.filters, err = p.Filters(); err != nil {
		return in, err
	}
	// MaxResults may come with InstanceType.N: SDK paginators send both, and EC2
	// pages a long list of names as it pages the whole catalog.
	mr, _, err := p.Int("MaxResults", 5, 100)
	if err != nil {
		return in, err
	}
	in.maxResults = int(mr)
	in.token, _ = p.String("NextToken")
	if in.includeUnsupported, _, err = p.Bool("IncludeUnsupportedInRegion"); err != nil {
		return in, err
	}
	in.scope = "DescribeInstanceTypes?" + p.Canonical("NextToken", "MaxResults")
	return in, nil
}

func notFound(missing []string) error {
	return protocol.Errorf(protocol.CodeInvalidInstanceType,
		"The following supplied instance types do not exist: [%s]", strings.Join(missing, ", "))
}

// selectTypes returns the instancetypes named, each once, or all of them. Every name
// must exist.
func selectTypes(all []instancetypev1beta1.VirtualMachineClusterInstancetype, names []string) ([]*instancetypev1beta1.VirtualMachineClusterInstancetype, error) {
	out := make([]*instancetypev1beta1.VirtualMachineClusterInstancetype, 0, len(all))
	if len(names) == 0 {
		for i := range all {
			out = append(out, &all[i])
		}
		return out, nil
	}
	byName := make(map[string]*instancetypev1beta1.VirtualMachineClusterInstancetype, len(all))
	for i := range all {
		byName[all[i].Name] = &all[i]
	}
	var missing []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if it, ok := byName[n]; ok {
			out = append(out, it)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, notFound(missing)
	}
	return out, nil
}

func nameKey(x *instanceTypeXML) string { return x.InstanceType }

func (h *Handlers) describe(ctx context.Context, _ *action.Call, in describeInput) (protocol.Body, error) {
	match, err := typeFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	all, err := h.Store.InstanceTypes(ctx)
	if err != nil {
		return nil, err
	}
	selected, err := selectTypes(all, in.names)
	if err != nil {
		return nil, err
	}
	items := make([]instanceTypeXML, 0, len(selected))
	for _, it := range selected {
		x := view(catalog.Describe(it))
		if match.Match(&x) {
			items = append(items, x)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].InstanceType < items[j].InstanceType })
	page, next, err := protocol.Page(items, nameKey, in.maxResults, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	if in.includeUnsupported {
		supported := true
		for i := range page {
			page[i].SupportedInRegion = &supported
		}
	}
	return &describeInstanceTypesResponse{InstanceTypeSet: instanceTypeSetXML{Items: page}, NextToken: next}, nil
}
