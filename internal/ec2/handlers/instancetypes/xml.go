package instancetypes

import "github.com/koala-dev/koala/internal/ec2/protocol"

// XML shapes of DescribeInstanceTypes, named as in botocore's EC2 model
// (InstanceTypeInfo and its members).

// emptyListXML renders a list EC2 always sends and Koala has nothing to put in as an
// empty element.
type emptyListXML struct{}

type processorInfoXML struct {
	SupportedArchitectures   []string `xml:"supportedArchitectures>item"`
	SustainedClockSpeedInGhz float64  `xml:"sustainedClockSpeedInGhz"`
	Manufacturer             string   `xml:"manufacturer,omitempty"`
}

// vCPUInfoXML leaves out validCores and validThreadsPerCore, as EC2 does for types
// whose CPU options cannot be changed: RunInstances does not take CpuOptions.
type vCPUInfoXML struct {
	DefaultVCPUs          int32 `xml:"defaultVCpus"`
	DefaultCores          int32 `xml:"defaultCores"`
	DefaultThreadsPerCore int32 `xml:"defaultThreadsPerCore"`
}

type memoryInfoXML struct {
	SizeInMiB int64 `xml:"sizeInMiB"`
}

type ebsInfoXML struct {
	EbsOptimizedSupport string `xml:"ebsOptimizedSupport"`
	EncryptionSupport   string `xml:"encryptionSupport"`
	NvmeSupport         string `xml:"nvmeSupport"`
}

type networkCardXML struct {
	NetworkCardIndex         int32  `xml:"networkCardIndex"`
	NetworkPerformance       string `xml:"networkPerformance"`
	MaximumNetworkInterfaces int32  `xml:"maximumNetworkInterfaces"`
}

type networkInfoXML struct {
	NetworkPerformance           string           `xml:"networkPerformance"`
	MaximumNetworkInterfaces     int32            `xml:"maximumNetworkInterfaces"`
	MaximumNetworkCards          int32            `xml:"maximumNetworkCards"`
	DefaultNetworkCardIndex      int32            `xml:"defaultNetworkCardIndex"`
	NetworkCards                 []networkCardXML `xml:"networkCards>item"`
	IPv4AddressesPerInterface    int32            `xml:"ipv4AddressesPerInterface"`
	IPv6AddressesPerInterface    int32            `xml:"ipv6AddressesPerInterface"`
	IPv6Supported                bool             `xml:"ipv6Supported"`
	EnaSupport                   string           `xml:"enaSupport"`
	EfaSupported                 bool             `xml:"efaSupported"`
	EncryptionInTransitSupported bool             `xml:"encryptionInTransitSupported"`
	EnaSrdSupported              bool             `xml:"enaSrdSupported"`
}

// placementGroupInfoXML lists no strategies: Koala has no placement groups.
type placementGroupInfoXML struct {
	SupportedStrategies emptyListXML `xml:"supportedStrategies"`
}

// instanceTypeXML is one InstanceTypeInfo.
type instanceTypeXML struct {
	InstanceType                  string                `xml:"instanceType"`
	CurrentGeneration             bool                  `xml:"currentGeneration"`
	FreeTierEligible              bool                  `xml:"freeTierEligible"`
	SupportedUsageClasses         []string              `xml:"supportedUsageClasses>item"`
	SupportedRootDeviceTypes      []string              `xml:"supportedRootDeviceTypes>item"`
	SupportedVirtualizationTypes  []string              `xml:"supportedVirtualizationTypes>item"`
	BareMetal                     bool                  `xml:"bareMetal"`
	Hypervisor                    string                `xml:"hypervisor"`
	ProcessorInfo                 processorInfoXML      `xml:"processorInfo"`
	VCPUInfo                      vCPUInfoXML           `xml:"vCpuInfo"`
	MemoryInfo                    memoryInfoXML         `xml:"memoryInfo"`
	InstanceStorageSupported      bool                  `xml:"instanceStorageSupported"`
	EbsInfo                       ebsInfoXML            `xml:"ebsInfo"`
	NetworkInfo                   networkInfoXML        `xml:"networkInfo"`
	PlacementGroupInfo            placementGroupInfoXML `xml:"placementGroupInfo"`
	HibernationSupported          bool                  `xml:"hibernationSupported"`
	BurstablePerformanceSupported bool                  `xml:"burstablePerformanceSupported"`
	DedicatedHostsSupported       bool                  `xml:"dedicatedHostsSupported"`
	AutoRecoverySupported         bool                  `xml:"autoRecoverySupported"`
	SupportedBootModes            []string              `xml:"supportedBootModes>item"`
	NitroEnclavesSupport          string                `xml:"nitroEnclavesSupport"`
	NitroTpmSupport               string                `xml:"nitroTpmSupport"`
	PhcSupport                    string                `xml:"phcSupport"`
	// SupportedInRegion is sent only when IncludeUnsupportedInRegion asks for it:
	// every type the cluster holds can be launched here.
	SupportedInRegion *bool `xml:"supportedInRegion,omitempty"`
}

// instanceTypeSetXML is always sent, empty or not, as EC2 does: botocore then gives
// clients an empty list rather than no key at all.
type instanceTypeSetXML struct {
	Items []instanceTypeXML `xml:"item"`
}

type describeInstanceTypesResponse struct {
	protocol.Meta
	InstanceTypeSet instanceTypeSetXML `xml:"instanceTypeSet"`
	NextToken       string             `xml:"nextToken,omitempty"`
}
