package instances

import (
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
)

// XML shapes of the instance actions, named as in botocore's EC2 model.

type stateXML struct {
	Code int32  `xml:"code"`
	Name string `xml:"name"`
}

type stateReasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type placementXML struct {
	AvailabilityZone   string `xml:"availabilityZone"`
	AvailabilityZoneID string `xml:"availabilityZoneId,omitempty"`
	GroupName          string `xml:"groupName"`
	Tenancy            string `xml:"tenancy"`
}

type monitoringXML struct {
	State string `xml:"state"`
}

type groupXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

// groupSetXML is always present, empty or not, as EC2 sends it: clients read it
// without checking.
type groupSetXML struct {
	Items []groupXML `xml:"item"`
}

// emptyListXML renders a list EC2 always sends and Koala has nothing to put in yet
// (product codes, ...) as an empty element.
type emptyListXML struct{}

type cpuOptionsXML struct {
	CoreCount      int32 `xml:"coreCount"`
	ThreadsPerCore int32 `xml:"threadsPerCore"`
}

type metadataOptionsXML struct {
	State                   string `xml:"state"`
	HTTPTokens              string `xml:"httpTokens"`
	HTTPPutResponseHopLimit int32  `xml:"httpPutResponseHopLimit"`
	HTTPEndpoint            string `xml:"httpEndpoint"`
	HTTPProtocolIPv6        string `xml:"httpProtocolIpv6"`
	InstanceMetadataTags    string `xml:"instanceMetadataTags"`
}

type enabledXML struct {
	Enabled bool `xml:"enabled"`
}

type configuredXML struct {
	Configured bool `xml:"configured"`
}

type capacityReservationXML struct {
	Preference string `xml:"capacityReservationPreference"`
}

type privateDNSNameOptionsXML struct {
	HostnameType                    string `xml:"hostnameType"`
	EnableResourceNameDNSARecord    bool   `xml:"enableResourceNameDnsARecord"`
	EnableResourceNameDNSAAAARecord bool   `xml:"enableResourceNameDnsAAAARecord"`
}

type maintenanceOptionsXML struct {
	AutoRecovery string `xml:"autoRecovery"`
}

// networkInterfaceSetXML is always present, empty (an instance on the pod network
// alone) or not.
type networkInterfaceSetXML struct {
	Items []networkInterfaceXML `xml:"item"`
}

type interfaceAttachmentXML struct {
	AttachmentID        string `xml:"attachmentId"`
	DeviceIndex         int32  `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	NetworkCardIndex    int32  `xml:"networkCardIndex"`
}

type interfaceAssociationXML struct {
	PublicIP      string `xml:"publicIp"`
	PublicDNSName string `xml:"publicDnsName"`
	IPOwnerID     string `xml:"ipOwnerId"`
}

type privateAddressXML struct {
	PrivateIPAddress string                   `xml:"privateIpAddress"`
	PrivateDNSName   string                   `xml:"privateDnsName"`
	Primary          bool                     `xml:"primary"`
	Association      *interfaceAssociationXML `xml:"association,omitempty"`
}

// networkInterfaceXML is the instance's primary interface, on its subnet.
type networkInterfaceXML struct {
	NetworkInterfaceID string                   `xml:"networkInterfaceId"`
	SubnetID           string                   `xml:"subnetId"`
	VPCID              string                   `xml:"vpcId"`
	Description        string                   `xml:"description"`
	OwnerID            string                   `xml:"ownerId"`
	Status             string                   `xml:"status"`
	MACAddress         string                   `xml:"macAddress"`
	PrivateIPAddress   string                   `xml:"privateIpAddress"`
	PrivateDNSName     string                   `xml:"privateDnsName"`
	SourceDestCheck    bool                     `xml:"sourceDestCheck"`
	GroupSet           groupSetXML              `xml:"groupSet"`
	Attachment         interfaceAttachmentXML   `xml:"attachment"`
	Association        *interfaceAssociationXML `xml:"association,omitempty"`
	PrivateIPAddresses []privateAddressXML      `xml:"privateIpAddressesSet>item"`
	InterfaceType      string                   `xml:"interfaceType"`
}

// instanceXML is one instance, as DescribeInstances and RunInstances return it.
type instanceXML struct {
	InstanceID            string                   `xml:"instanceId"`
	ImageID               string                   `xml:"imageId"`
	InstanceState         stateXML                 `xml:"instanceState"`
	PrivateDNSName        string                   `xml:"privateDnsName"`
	DNSName               string                   `xml:"dnsName"`
	Reason                string                   `xml:"reason"`
	KeyName               string                   `xml:"keyName,omitempty"`
	AmiLaunchIndex        int32                    `xml:"amiLaunchIndex"`
	ProductCodes          emptyListXML             `xml:"productCodes"`
	InstanceType          string                   `xml:"instanceType"`
	LaunchTime            string                   `xml:"launchTime"`
	Placement             placementXML             `xml:"placement"`
	Monitoring            monitoringXML            `xml:"monitoring"`
	PrivateIPAddress      string                   `xml:"privateIpAddress,omitempty"`
	PublicIPAddress       string                   `xml:"ipAddress,omitempty"`
	SubnetID              string                   `xml:"subnetId,omitempty"`
	VPCID                 string                   `xml:"vpcId,omitempty"`
	GroupSet              groupSetXML              `xml:"groupSet"`
	StateReason           *stateReasonXML          `xml:"stateReason,omitempty"`
	Architecture          string                   `xml:"architecture"`
	RootDeviceType        string                   `xml:"rootDeviceType"`
	RootDeviceName        string                   `xml:"rootDeviceName"`
	BlockDeviceMapping    blockDeviceMappingXML    `xml:"blockDeviceMapping"`
	VirtualizationType    string                   `xml:"virtualizationType"`
	ClientToken           string                   `xml:"clientToken"`
	TagSet                []tagging.Item           `xml:"tagSet>item,omitempty"`
	Hypervisor            string                   `xml:"hypervisor"`
	NetworkInterfaceSet   networkInterfaceSetXML   `xml:"networkInterfaceSet"`
	EbsOptimized          bool                     `xml:"ebsOptimized"`
	EnaSupport            bool                     `xml:"enaSupport"`
	SourceDestCheck       bool                     `xml:"sourceDestCheck"`
	CPUOptions            cpuOptionsXML            `xml:"cpuOptions"`
	CapacityReservation   capacityReservationXML   `xml:"capacityReservationSpecification"`
	HibernationOptions    configuredXML            `xml:"hibernationOptions"`
	MetadataOptions       metadataOptionsXML       `xml:"metadataOptions"`
	EnclaveOptions        enabledXML               `xml:"enclaveOptions"`
	BootMode              string                   `xml:"bootMode"`
	PlatformDetails       string                   `xml:"platformDetails"`
	UsageOperation        string                   `xml:"usageOperation"`
	UsageOperationUpdate  string                   `xml:"usageOperationUpdateTime"`
	PrivateDNSNameOptions privateDNSNameOptionsXML `xml:"privateDnsNameOptions"`
	MaintenanceOptions    maintenanceOptionsXML    `xml:"maintenanceOptions"`
	CurrentBootMode       string                   `xml:"currentInstanceBootMode"`
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	RequesterID   string        `xml:"requesterId,omitempty"`
	GroupSet      groupSetXML   `xml:"groupSet"`
	InstancesSet  []instanceXML `xml:"instancesSet>item"`
}

type runInstancesResponse struct {
	protocol.Meta
	reservationXML
}

type describeInstancesResponse struct {
	protocol.Meta
	ReservationSet []reservationXML `xml:"reservationSet>item"`
	NextToken      string           `xml:"nextToken,omitempty"`
}

type stateChangeXML struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  stateXML `xml:"currentState"`
	PreviousState stateXML `xml:"previousState"`
}

type stateChangeResponse struct {
	protocol.Meta
	InstancesSet []stateChangeXML `xml:"instancesSet>item"`
}

type statusDetailXML struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type statusSummaryXML struct {
	Status  string            `xml:"status"`
	Details []statusDetailXML `xml:"details>item"`
}

type instanceStatusXML struct {
	InstanceID         string           `xml:"instanceId"`
	AvailabilityZone   string           `xml:"availabilityZone"`
	AvailabilityZoneID string           `xml:"availabilityZoneId,omitempty"`
	InstanceState      stateXML         `xml:"instanceState"`
	SystemStatus       statusSummaryXML `xml:"systemStatus"`
	InstanceStatus     statusSummaryXML `xml:"instanceStatus"`
	AttachedEbsStatus  statusSummaryXML `xml:"attachedEbsStatus"`
	EventsSet          *emptyListXML    `xml:"eventsSet,omitempty"`
}

type describeInstanceStatusResponse struct {
	protocol.Meta
	InstanceStatusSet []instanceStatusXML `xml:"instanceStatusSet>item"`
	NextToken         string              `xml:"nextToken,omitempty"`
}

type creditSpecificationXML struct {
	InstanceID string `xml:"instanceId"`
	CPUCredits string `xml:"cpuCredits"`
}

type describeCreditSpecificationsResponse struct {
	protocol.Meta
	Set       []creditSpecificationXML `xml:"instanceCreditSpecificationSet>item"`
	NextToken string                   `xml:"nextToken,omitempty"`
}

type valueXML struct {
	Value string `xml:"value"`
}

type boolValueXML struct {
	Value bool `xml:"value"`
}

// instanceAttributeResponse carries the one attribute asked for; the others stay nil
// and are omitted.
type instanceAttributeResponse struct {
	protocol.Meta
	InstanceID                        string                 `xml:"instanceId"`
	InstanceType                      *valueXML              `xml:"instanceType,omitempty"`
	Kernel                            *valueXML              `xml:"kernel,omitempty"`
	Ramdisk                           *valueXML              `xml:"ramdisk,omitempty"`
	UserData                          *valueXML              `xml:"userData,omitempty"`
	DisableAPITermination             *boolValueXML          `xml:"disableApiTermination,omitempty"`
	DisableAPIStop                    *boolValueXML          `xml:"disableApiStop,omitempty"`
	InstanceInitiatedShutdownBehavior *valueXML              `xml:"instanceInitiatedShutdownBehavior,omitempty"`
	RootDeviceName                    *valueXML              `xml:"rootDeviceName,omitempty"`
	SourceDestCheck                   *boolValueXML          `xml:"sourceDestCheck,omitempty"`
	EbsOptimized                      *boolValueXML          `xml:"ebsOptimized,omitempty"`
	EnaSupport                        *boolValueXML          `xml:"enaSupport,omitempty"`
	SriovNetSupport                   *valueXML              `xml:"sriovNetSupport,omitempty"`
	EnclaveOptions                    *enabledXML            `xml:"enclaveOptions,omitempty"`
	BlockDeviceMapping                *blockDeviceMappingXML `xml:"blockDeviceMapping,omitempty"`
	ProductCodes                      *emptyListXML          `xml:"productCodes,omitempty"`
	GroupSet                          *groupSetXML           `xml:"groupSet,omitempty"`
}
