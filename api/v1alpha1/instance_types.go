package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InstanceDesiredState is the power state a user asks for.
// +kubebuilder:validation:Enum=running;stopped;terminated
type InstanceDesiredState string

const (
	// DesiredStateRunning asks for a running guest (EC2 RunInstances, StartInstances).
	DesiredStateRunning InstanceDesiredState = "running"
	// DesiredStateStopped asks for a stopped guest that keeps its disks (StopInstances).
	DesiredStateStopped InstanceDesiredState = "stopped"
	// DesiredStateTerminated asks for the instance to be terminated
	// (TerminateInstances): its VM is deleted and it stays visible as terminated for
	// the operator's retention period, then it is removed. It cannot be undone.
	DesiredStateTerminated InstanceDesiredState = "terminated"
)

// InstanceStateName is the EC2 state of an instance.
// +kubebuilder:validation:Enum=pending;running;shutting-down;terminated;stopping;stopped
type InstanceStateName string

const (
	// InstanceStatePending: the instance is being prepared to run (code 0).
	InstanceStatePending InstanceStateName = "pending"
	// InstanceStateRunning: the guest runs (code 16).
	InstanceStateRunning InstanceStateName = "running"
	// InstanceStateShuttingDown: the instance is being terminated (code 32).
	InstanceStateShuttingDown InstanceStateName = "shutting-down"
	// InstanceStateTerminated: the instance is gone but still listed (code 48).
	InstanceStateTerminated InstanceStateName = "terminated"
	// InstanceStateStopping: the guest is shutting down to stop (code 64).
	InstanceStateStopping InstanceStateName = "stopping"
	// InstanceStateStopped: the guest is off; its disks are kept (code 80).
	InstanceStateStopped InstanceStateName = "stopped"
)

// Code is the EC2 state code of the state name.
func (s InstanceStateName) Code() int32 {
	switch s {
	case InstanceStateRunning:
		return 16
	case InstanceStateShuttingDown:
		return 32
	case InstanceStateTerminated:
		return 48
	case InstanceStateStopping:
		return 64
	case InstanceStateStopped:
		return 80
	default:
		return 0
	}
}

// ShutdownBehavior is what happens when the guest shuts itself down.
// +kubebuilder:validation:Enum=stop;terminate
type ShutdownBehavior string

const (
	// ShutdownBehaviorStop stops the instance when the guest shuts down.
	ShutdownBehaviorStop ShutdownBehavior = "stop"
	// ShutdownBehaviorTerminate terminates the instance when the guest shuts down.
	ShutdownBehaviorTerminate ShutdownBehavior = "terminate"
)

// Placement says where an instance runs.
type Placement struct {
	// availabilityZone is the zone to run in, one of those DescribeAvailabilityZones
	// lists. Empty lets Koala choose.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AvailabilityZone string `json:"availabilityZone,omitempty"`
}

// InstanceSpec is the desired state of an instance. Field names follow the EC2 API's
// RunInstances members.
//
// +kubebuilder:validation:XValidation:rule="!(self.state == 'terminated' && has(self.disableApiTermination) && self.disableApiTermination)",message="disableApiTermination is true: set it to false before terminating the instance"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.state) || oldSelf.state == self.state || !(self.state == 'stopped' && has(self.disableApiStop) && self.disableApiStop)",message="disableApiStop is true: set it to false before stopping the instance"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.instanceType) || self.instanceType == oldSelf.instanceType || (self.state == 'stopped' && oldSelf.state == 'stopped')",message="instanceType can only be changed while the instance is stopped"
// +kubebuilder:validation:XValidation:rule="(has(self.userData) == has(oldSelf.userData) && (!has(self.userData) || self.userData == oldSelf.userData)) || (self.state == 'stopped' && oldSelf.state == 'stopped')",message="userData can only be changed while the instance is stopped"
type InstanceSpec struct {
	// imageId is the ID of the image (AMI, "ami-" and 17 hex digits) the root disk is
	// cloned from. It cannot be changed.
	// +required
	// +kubebuilder:validation:Pattern=`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="imageId cannot be changed"
	ImageID string `json:"imageId"`

	// instanceType names the instance type, for example "t3.micro": one of the cluster's
	// VirtualMachineClusterInstancetypes (`aws ec2 describe-instance-types` lists them).
	// It can be changed only while the instance is stopped.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`
	InstanceType string `json:"instanceType"`

	// keyName names a KeyPair of the same account whose public key is installed in the
	// guest for SSH. It cannot be changed.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="keyName cannot be changed"
	KeyName string `json:"keyName,omitempty"`

	// userData is given to the guest through cloud-init, base64-encoded as in EC2, at
	// most 16 KiB before encoding. It can be changed only while the instance is stopped.
	// +optional
	// +kubebuilder:validation:MaxLength=21848
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9+/]*={0,2}$`
	UserData string `json:"userData,omitempty"`

	// tags are the instance's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`

	// state is the power state asked for: running (the default), stopped or terminated.
	// A terminated instance cannot be started or stopped again.
	// +optional
	// +kubebuilder:default=running
	// +kubebuilder:validation:XValidation:rule="oldSelf != 'terminated' || self == 'terminated'",message="a terminated instance cannot be started or stopped"
	State InstanceDesiredState `json:"state,omitempty"`

	// disableApiTermination, when true, refuses termination until it is set to false.
	// +optional
	DisableAPITermination bool `json:"disableApiTermination,omitempty"`

	// disableApiStop, when true, refuses stopping until it is set to false.
	// +optional
	DisableAPIStop bool `json:"disableApiStop,omitempty"`

	// instanceInitiatedShutdownBehavior says whether a shutdown from inside the guest
	// stops (the default) or terminates the instance.
	// +optional
	// +kubebuilder:default=stop
	InstanceInitiatedShutdownBehavior ShutdownBehavior `json:"instanceInitiatedShutdownBehavior,omitempty"`

	// placement says where the instance runs. It cannot be changed.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="placement cannot be changed"
	Placement Placement `json:"placement,omitempty"`

	// blockDeviceMappings change the volumes the instance is launched with: an entry for
	// the image's root device sets the root volume's size (at least the image's), type
	// and deleteOnTermination; one for another of the image's devices changes or (with
	// noDevice) leaves out that volume; any other adds a volume, blank or restored from a
	// snapshot. The operator creates the volumes before the instance first starts (the
	// root volume is named "<instance>-root", the others "<instance>-<device>", e.g.
	// "web-sdf"); afterwards they are Volumes of their own. It cannot be changed.
	// +optional
	// +listType=map
	// +listMapKey=deviceName
	// +kubebuilder:validation:MaxItems=24
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="blockDeviceMappings cannot be changed"
	BlockDeviceMappings []BlockDeviceMapping `json:"blockDeviceMappings,omitempty"`

	// subnetId is the EC2 ID of the account's subnet the instance's interface is on.
	// Empty: the default subnet of the instance's zone, when the account has a default
	// VPC (the operator records the one it chose in status.subnetId); with no subnet at
	// all the instance has the pod network only. It cannot be changed once set.
	// +optional
	// +kubebuilder:validation:Pattern=`^(subnet-([0-9a-f]{8}|[0-9a-f]{17}))?$`
	// +kubebuilder:validation:XValidation:rule="oldSelf == '' || self == oldSelf",message="subnetId cannot be changed"
	SubnetID string `json:"subnetId,omitempty"`

	// securityGroupIds are the EC2 IDs of the security groups of the subnet's VPC that
	// the instance is in. Empty: the VPC's default group. They can be changed at any
	// time (ModifyInstanceAttribute groupSet); the policies follow at once.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`

	// privateIpAddress asks for this address of the subnet; it must be free and not one
	// of the five EC2 reserves. Empty: Koala chooses a free one. It cannot be changed.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="privateIpAddress must be an IPv4 address"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="privateIpAddress cannot be changed"
	PrivateIPAddress string `json:"privateIpAddress,omitempty"`

	// clientToken is the idempotency token of the RunInstances call that created the
	// instance, if any. It cannot be changed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="clientToken cannot be changed"
	ClientToken string `json:"clientToken,omitempty"`
}

// InstanceStatus is the observed state of an instance.
type InstanceStatus struct {
	// instanceId is the EC2 ID ("i-" and 17 hex digits), stable for the instance's life.
	// +optional
	// +kubebuilder:validation:MaxLength=19
	InstanceID string `json:"instanceId,omitempty"`

	// reservationId is the ID ("r-" and 17 hex digits) of the launch request.
	// +optional
	// +kubebuilder:validation:MaxLength=19
	ReservationID string `json:"reservationId,omitempty"`

	// state is the EC2 state name.
	// +optional
	State InstanceStateName `json:"state,omitempty"`

	// stateCode is the EC2 state code: 0 pending, 16 running, 32 shutting-down,
	// 48 terminated, 64 stopping, 80 stopped.
	// +optional
	StateCode int32 `json:"stateCode,omitempty"`

	// stateReason says why the instance is in its state, when that needs saying.
	// +optional
	StateReason *StateReason `json:"stateReason,omitempty"`

	// stateTransitionReason is EC2's free-text reason of the last state change, e.g.
	// "User initiated (2026-01-02 15:04:05 GMT)".
	// +optional
	// +kubebuilder:validation:MaxLength=256
	StateTransitionReason string `json:"stateTransitionReason,omitempty"`

	// privateIpAddress is the instance's primary IPv4 address: on a subnet, the one
	// Koala assigned, kept for the instance's life (shown while it is stopped too);
	// on the pod network only, the guest's address KubeVirt reports while it runs.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	PrivateIPAddress string `json:"privateIpAddress,omitempty"`

	// subnetId is the subnet the instance's interface is on: spec's, or the default
	// subnet of its zone that the operator chose at launch.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	SubnetID string `json:"subnetId,omitempty"`

	// vpcId is the VPC of the instance's subnet.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	VPCID string `json:"vpcId,omitempty"`

	// securityGroupIds are the groups the instance is in: spec's, or the VPC's default
	// group.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=32
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`

	// publicIpAddress is the Elastic IP associated with the instance, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	PublicIPAddress string `json:"publicIpAddress,omitempty"`

	// nodeName is the node the guest runs on.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName,omitempty"`

	// availabilityZone is the zone the instance is placed in.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AvailabilityZone string `json:"availabilityZone,omitempty"`

	// architecture is the CPU architecture of the image the instance was launched from.
	// +optional
	Architecture Architecture `json:"architecture,omitempty"`

	// rootDeviceName is the device name of the root disk, the image's.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	RootDeviceName string `json:"rootDeviceName,omitempty"`

	// launchTime is when the instance was last started.
	// +optional
	LaunchTime *metav1.Time `json:"launchTime,omitempty"`

	// terminatedAt is when the instance reached the terminated state; it is removed one
	// retention period later.
	// +optional
	TerminatedAt *metav1.Time `json:"terminatedAt,omitempty"`

	// lastRebootRequest is the value of the reboot annotation that the operator last
	// carried out.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	LastRebootRequest string `json:"lastRebootRequest,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the instance is in the state its spec asks for.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of an Instance's Ready condition.
const (
	// InstanceReasonPending: the VM is being created or the guest is starting.
	InstanceReasonPending = "Pending"
	// InstanceReasonRunning: the guest runs as asked.
	InstanceReasonRunning = "Running"
	// InstanceReasonStopping: the guest is shutting down.
	InstanceReasonStopping = "Stopping"
	// InstanceReasonStopped: the guest is stopped as asked.
	InstanceReasonStopped = "Stopped"
	// InstanceReasonShuttingDown: the instance is being terminated.
	InstanceReasonShuttingDown = "ShuttingDown"
	// InstanceReasonTerminated: the instance is terminated as asked.
	InstanceReasonTerminated = "Terminated"
	// InstanceReasonInstanceTypeNotFound: no VirtualMachineClusterInstancetype has the
	// name in spec.instanceType.
	InstanceReasonInstanceTypeNotFound = "InstanceTypeNotFound"
	// InstanceReasonImageNotFound: no image the account can use has spec.imageId.
	InstanceReasonImageNotFound = "ImageNotFound"
	// InstanceReasonImageNotAvailable: the image exists but is not available yet.
	InstanceReasonImageNotAvailable = "ImageNotAvailable"
	// InstanceReasonKeyPairNotFound: the account has no key pair named spec.keyName.
	InstanceReasonKeyPairNotFound = "KeyPairNotFound"
	// InstanceReasonRootVolumeNameTaken: a Volume named "<instance>-root" exists that is
	// not the instance's root volume.
	InstanceReasonRootVolumeNameTaken = "RootVolumeNameTaken"
	// InstanceReasonRootVolumeNotFound: the instance's root volume is gone; the
	// instance cannot start again.
	InstanceReasonRootVolumeNotFound = "RootVolumeNotFound"
	// InstanceReasonInvalidBlockDeviceMapping: spec.blockDeviceMappings cannot be
	// applied to the image (a root volume smaller than the image's, say).
	InstanceReasonInvalidBlockDeviceMapping = "InvalidBlockDeviceMapping"
	// InstanceReasonSubnetNotFound: the account has no subnet of spec.subnetId, or it
	// is not available yet.
	InstanceReasonSubnetNotFound = "SubnetNotFound"
	// InstanceReasonSecurityGroupNotFound: a group of spec.securityGroupIds is not a
	// group of the subnet's VPC.
	InstanceReasonSecurityGroupNotFound = "SecurityGroupNotFound"
	// InstanceReasonSubnetFull: every address of the subnet is held
	// (InsufficientFreeAddressesInSubnet).
	InstanceReasonSubnetFull = "InsufficientFreeAddressesInSubnet"
	// InstanceReasonAddressInUse: spec.privateIpAddress is held by another interface
	// (EC2's InvalidIPAddress.InUse; a condition's reason cannot hold a dot).
	InstanceReasonAddressInUse = "AddressInUse"
	// InstanceReasonAddressNotInSubnet: spec.privateIpAddress is outside the subnet's
	// range or one of its five reserved addresses.
	InstanceReasonAddressNotInSubnet = "AddressNotInSubnet"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala,shortName=inst
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 58 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="an instance's name must be a DNS label of at most 58 characters (its VirtualMachine, pod and root disk are named after it)"
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.instanceId`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.instanceType`
// +kubebuilder:printcolumn:name="IP",type=string,JSONPath=`.status.privateIpAddress`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Zone",type=string,JSONPath=`.status.availabilityZone`,priority=1
// +kubebuilder:printcolumn:name="Subnet",type=string,JSONPath=`.status.subnetId`,priority=1
// +kubebuilder:printcolumn:name="Public IP",type=string,JSONPath=`.status.publicIpAddress`,priority=1
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.imageId`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Instance is an EC2 instance: a KubeVirt VirtualMachine whose root disk (a Volume) is
// cloned from an image, with the instance's other Volumes hotplugged.
type Instance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the instance.
	// +required
	Spec InstanceSpec `json:"spec"`

	// status is the observed state of the instance.
	// +optional
	Status InstanceStatus `json:"status,omitempty"`
}

// DisplayState is the state EC2 clients see: the operator's status, except where the
// spec already asks for something the operator has not reported yet. A client that
// stops an instance sees it stopping at once, as EC2 shows it.
func (in *Instance) DisplayState() InstanceStateName {
	st := in.Status.State
	switch in.Spec.State {
	case DesiredStateTerminated:
		if st != InstanceStateTerminated {
			return InstanceStateShuttingDown
		}
	case DesiredStateStopped:
		if st == "" || st == InstanceStatePending || st == InstanceStateRunning {
			return InstanceStateStopping
		}
	case DesiredStateRunning:
		if st == InstanceStateStopped || st == InstanceStateStopping {
			return InstanceStatePending
		}
	}
	if st == "" {
		return InstanceStatePending
	}
	return st
}

// EC2ID is the instance's EC2 ID: the one in status once the operator has confirmed
// it, else the one the EC2 endpoint asked for at creation, else "".
func (in *Instance) EC2ID() string {
	if in.Status.InstanceID != "" {
		return in.Status.InstanceID
	}
	return in.Annotations[IDAnnotation]
}

// +kubebuilder:object:root=true

// InstanceList is a list of instances.
type InstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Instance `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Instance{}, &InstanceList{})
}
