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

	// RebootRequestedAnnotation asks for a reboot: set it to the current time (RFC 3339)
	// and the operator restarts the guest once for each new value.
	RebootRequestedAnnotation = "cloud.koala.dev/reboot-requested-at"

	// AccountIDLabel marks a namespace as an account and carries its 12-digit ID.
	AccountIDLabel = "cloud.koala.dev/account-id"

	// AccessKeyLabel marks a Secret as an access key of the account that owns the
	// Secret's namespace. The Secret holds AccessKeyIDKey and SecretAccessKeyKey.
	AccessKeyLabel = "cloud.koala.dev/access-key"

	// InstanceIDLabel is put on the objects behind an instance (VirtualMachine and its
	// template), so that an instance's objects can be selected by its EC2 ID.
	InstanceIDLabel = "cloud.koala.dev/instance-id"

	// InstanceNameLabel is put on the objects behind an instance and names the Instance.
	InstanceNameLabel = "cloud.koala.dev/instance"

	// ImageNameLabel is put on the objects behind an image and names the Image.
	ImageNameLabel = "cloud.koala.dev/image"

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
