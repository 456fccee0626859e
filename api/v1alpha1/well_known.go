package v1alpha1

// Labels and annotations that Koala reads or writes on its own objects and on the
// objects it creates.
const (
	// IDAnnotation carries the EC2 ID that the EC2 endpoint chose when it created the
	// object, so that the ID is known (and returned to the client) before the operator
	// has seen the object. The operator confirms it into status; status is the truth.
	IDAnnotation = "cloud.koala.dev/id"

	// ReservationIDAnnotation carries the reservation (r-...) an instance was launched in.
	ReservationIDAnnotation = "cloud.koala.dev/reservation-id"

	// ClientTokenHashAnnotation holds a digest of the parameters of the RunInstances call
	// that created an instance with a client token, so that a retry with the same token
	// and different parameters is told IdempotentParameterMismatch.
	ClientTokenHashAnnotation = "cloud.koala.dev/client-token-hash"

	// LaunchIndexAnnotation is the instance's position (0-based) in its launch request.
	LaunchIndexAnnotation = "cloud.koala.dev/launch-index"

	// LaunchCountAnnotation is how many instances its launch request started (between
	// MinCount and MaxCount, as quotas allowed), so that a retry with the same client
	// token answers with the same instances.
	LaunchCountAnnotation = "cloud.koala.dev/launch-count"

	// RebootRequestedAnnotation asks for a reboot: set it to the current time (RFC 3339)
	// and the operator restarts the guest once for each new value.
	RebootRequestedAnnotation = "cloud.koala.dev/reboot-requested-at"

	// AccountIDLabel is put by the operator on an account's namespace and carries the
	// account's 12-digit ID.
	AccountIDLabel = "cloud.koala.dev/account-id"

	// AccountLabel is put by the operator on an account's namespace and names the
	// Account (cluster-scoped) that owns it.
	AccountLabel = "cloud.koala.dev/account"

	// AccessKeyLabel is put by the operator on the Secret that holds an AccessKey's
	// credentials (AccessKeyIDKey and SecretAccessKeyKey) and names the AccessKey. A
	// Secret is a key only when an AccessKey's status points at it.
	AccessKeyLabel = "cloud.koala.dev/access-key"

	// InstanceIDLabel is put on the objects behind an instance (VirtualMachine and its
	// template), so that an instance's objects can be selected by its EC2 ID.
	InstanceIDLabel = "cloud.koala.dev/instance-id"

	// InstanceNameLabel is put on the objects behind an instance and names the Instance.
	InstanceNameLabel = "cloud.koala.dev/instance"

	// ImageNameLabel is put on the objects behind an image and names the Image.
	ImageNameLabel = "cloud.koala.dev/image"

	// VolumeNameLabel is put on the DataVolume behind a volume (also on a root volume's,
	// which the instance's VirtualMachine creates) and names the Volume.
	VolumeNameLabel = "cloud.koala.dev/volume"

	// SnapshotNameLabel is put on the objects behind a snapshot (its VolumeSnapshot, and
	// the temporary DataVolume of a copy) and names the Snapshot.
	SnapshotNameLabel = "cloud.koala.dev/snapshot"

	// AttachTimeAnnotation on a Volume is when the EC2 endpoint attached it (RFC 3339),
	// so that the attachment's time is the one AttachVolume answered with; the operator
	// copies it into status.
	AttachTimeAnnotation = "cloud.koala.dev/attach-time"

	// ModifyTimeAnnotation on a Volume is when the EC2 endpoint modified it (RFC 3339):
	// the start time of the modification.
	ModifyTimeAnnotation = "cloud.koala.dev/modify-time"

	// SecurityGroupLabelPrefix begins the label that makes an instance a member of a
	// security group (SecurityGroupMemberLabel): Koala puts one per group on the VM's
	// template, so that the virt-launcher pod carries it and the group's policies select
	// it.
	SecurityGroupLabelPrefix = "sg.cloud.koala.dev/"

	// SecurityGroupNameLabel is put on the NetworkPolicy and MultiNetworkPolicy of a
	// security group and names the SecurityGroup.
	SecurityGroupNameLabel = "cloud.koala.dev/security-group"

	// SubnetNameLabel is put on the NetworkAttachmentDefinition of a subnet and names
	// the Subnet.
	SubnetNameLabel = "cloud.koala.dev/subnet"

	// AddressNameLabel is put on the Service of an Elastic IP and names the Address.
	AddressNameLabel = "cloud.koala.dev/address"

	// DefaultVPCAnnotation on an Account is the ID of the default VPC the operator made
	// for it. It is written once: a default VPC the user deleted is not made again
	// (CreateDefaultVpc makes a new one, as in EC2).
	DefaultVPCAnnotation = "cloud.koala.dev/default-vpc"

	// Instance type annotations on VirtualMachineClusterInstancetype objects: what EC2
	// says about a type that KubeVirt's instancetype does not hold. All are optional.
	InstanceTypeBurstableAnnotation          = "cloud.koala.dev/burstable-performance"
	InstanceTypeNetworkPerformanceAnnotation = "cloud.koala.dev/network-performance"
	InstanceTypeArchitectureAnnotation       = "cloud.koala.dev/architecture"
)

// Data keys of an access key Secret; the same names the AWS CLI reads from the
// environment.
const (
	AccessKeyIDKey     = "AWS_ACCESS_KEY_ID"
	SecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"
)
