package protocol

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an EC2 error: the code clients act on, a message for people, and the HTTP
// status it travels with.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Codes Koala answers with. Every code used anywhere must be in statusOf, which decides
// its HTTP status: a test checks that.
const (
	CodeAuthFailure                 = "AuthFailure"
	CodeDependencyViolation         = "DependencyViolation"
	CodeDryRunOperation             = "DryRunOperation"
	CodeIdempotentParameterMismatch = "IdempotentParameterMismatch"
	CodeIncompleteSignature         = "IncompleteSignature"
	CodeIncorrectInstanceState      = "IncorrectInstanceState"
	CodeIncorrectState              = "IncorrectState"
	CodeInsufficientCapacity        = "InsufficientInstanceCapacity"
	CodeInternalError               = "InternalError"
	CodeInvalidAction               = "InvalidAction"
	CodeInvalidAMIIDMalformed       = "InvalidAMIID.Malformed"
	CodeInvalidAMIIDNotFound        = "InvalidAMIID.NotFound"
	CodeInvalidAMIIDUnavailable     = "InvalidAMIID.Unavailable"
	CodeInvalidID                   = "InvalidID"
	CodeInvalidInstanceIDMalformed  = "InvalidInstanceID.Malformed"
	CodeInvalidInstanceIDNotFound   = "InvalidInstanceID.NotFound"
	CodeInvalidKeyPairDuplicate     = "InvalidKeyPair.Duplicate"
	CodeInvalidKeyPairFormat        = "InvalidKeyPair.Format"
	CodeInvalidKeyPairNotFound      = "InvalidKeyPair.NotFound"
	CodeInvalidPaginationToken      = "InvalidPaginationToken"
	CodeInvalidParameter            = "InvalidParameter"
	CodeInvalidParameterCombination = "InvalidParameterCombination"
	CodeInvalidParameterValue       = "InvalidParameterValue"
	CodeInvalidQueryParameter       = "InvalidQueryParameter"
	CodeInvalidRequest              = "InvalidRequest"
	CodeMalformedQueryString        = "MalformedQueryString"
	CodeMissingAction               = "MissingAction"
	CodeMissingAuthenticationToken  = "MissingAuthenticationToken"
	CodeMissingParameter            = "MissingParameter"
	CodeOperationNotPermitted       = "OperationNotPermitted"
	CodeRequestEntityTooLarge       = "RequestEntityTooLarge"
	CodeRequestExpired              = "RequestExpired"
	CodeRequestLimitExceeded        = "RequestLimitExceeded"
	CodeServiceUnavailable          = "ServiceUnavailable"
	CodeUnauthorizedOperation       = "UnauthorizedOperation"
	CodeUnknownParameter            = "UnknownParameter"
	CodeUnsupportedOperation        = "UnsupportedOperation"
	CodeUnsupportedProtocol         = "UnsupportedProtocol"
	CodeInvalidTagKeyMalformed      = "InvalidTagKey.Malformed"
	CodeTagLimitExceeded            = "TagLimitExceeded"
	CodeInvalidInstanceType         = "InvalidInstanceType"
	CodeInvalidUserDataMalformed    = "InvalidUserData.Malformed"
	CodeInvalidAvailabilityZone     = "InvalidAvailabilityZone"
	CodeInvalidFilter               = "InvalidFilter"
	CodeFilterLimitExceeded         = "FilterLimitExceeded"
	CodeInstanceLimitExceeded       = "InstanceLimitExceeded"
	CodeVcpuLimitExceeded           = "VcpuLimitExceeded"
	CodeVolumeLimitExceeded         = "VolumeLimitExceeded"
	CodeSnapshotLimitExceeded       = "SnapshotLimitExceeded"
	CodeResourceLimitExceeded       = "ResourceLimitExceeded"
	CodeInvalidRegionNotFound       = "InvalidRegion.NotFound"
	CodeInvalidZoneNotFound         = "InvalidZone.NotFound"
	// Volumes, snapshots and images.
	CodeInvalidVolumeNotFound             = "InvalidVolume.NotFound"
	CodeInvalidVolumeMalformed            = "InvalidVolume.Malformed"
	CodeInvalidVolumeZoneMismatch         = "InvalidVolume.ZoneMismatch"
	CodeVolumeInUse                       = "VolumeInUse"
	CodeInvalidAttachmentNotFound         = "InvalidAttachment.NotFound"
	CodeIncorrectModificationState        = "IncorrectModificationState"
	CodeInvalidSnapshotNotFound           = "InvalidSnapshot.NotFound"
	CodeInvalidSnapshotMalformed          = "InvalidSnapshot.Malformed"
	CodeInvalidSnapshotInUse              = "InvalidSnapshot.InUse"
	CodeInvalidAMINameDuplicate           = "InvalidAMIName.Duplicate"
	CodeInvalidBlockDeviceMapping         = "InvalidBlockDeviceMapping"
	CodeInvalidVolumeModificationNotFound = "InvalidVolumeModification.NotFound"
	// Networks: VPCs, subnets, security groups and Elastic IPs.
	CodeInvalidVpcIDNotFound                = "InvalidVpcID.NotFound"
	CodeInvalidVpcIDMalformed               = "InvalidVpcID.Malformed"
	CodeInvalidVpcRange                     = "InvalidVpc.Range"
	CodeDefaultVpcAlreadyExists             = "DefaultVpcAlreadyExists"
	CodeVPCIDNotSpecified                   = "VPCIdNotSpecified"
	CodeInvalidSubnetIDNotFound             = "InvalidSubnetID.NotFound"
	CodeInvalidSubnetIDMalformed            = "InvalidSubnetID.Malformed"
	CodeInvalidSubnetRange                  = "InvalidSubnet.Range"
	CodeInvalidSubnetConflict               = "InvalidSubnet.Conflict"
	CodeInvalidGroupNotFound                = "InvalidGroup.NotFound"
	CodeInvalidGroupDuplicate               = "InvalidGroup.Duplicate"
	CodeInvalidGroupIDMalformed             = "InvalidGroupId.Malformed"
	CodeInvalidGroupReserved                = "InvalidGroup.Reserved"
	CodeCannotDelete                        = "CannotDelete"
	CodeInvalidPermissionDuplicate          = "InvalidPermission.Duplicate"
	CodeInvalidPermissionNotFound           = "InvalidPermission.NotFound"
	CodeInvalidPermissionMalformed          = "InvalidPermission.Malformed"
	CodeInvalidSecurityGroupRuleIDNotFound  = "InvalidSecurityGroupRuleId.NotFound"
	CodeInvalidSecurityGroupRuleIDMalformed = "InvalidSecurityGroupRuleId.Malformed"
	CodeRulesPerSecurityGroupLimitExceeded  = "RulesPerSecurityGroupLimitExceeded"
	CodeAddressLimitExceeded                = "AddressLimitExceeded"
	CodeInvalidAllocationIDNotFound         = "InvalidAllocationID.NotFound"
	CodeInvalidAssociationIDNotFound        = "InvalidAssociationID.NotFound"
	CodeInvalidAddressNotFound              = "InvalidAddress.NotFound"
	CodeResourceAlreadyAssociated           = "Resource.AlreadyAssociated"
	CodeInvalidIPAddressInUse               = "InvalidIPAddress.InUse"
	CodeInsufficientFreeAddressesInSubnet   = "InsufficientFreeAddressesInSubnet"
	CodeInvalidNetworkInterfaceIDNotFound   = "InvalidNetworkInterfaceID.NotFound"
	CodeInsufficientAddressCapacity         = "InsufficientAddressCapacity"
	CodeInvalidInstanceIDForAssociation     = "InvalidInstanceID"
	CodeInvalidVpcState                     = "InvalidVpcState"
)

// statusOf is the table of every code and its HTTP status. EC2 answers nearly every
// client error with 400; the exceptions are here.
var statusOf = map[string]int{
	CodeAuthFailure:                 http.StatusUnauthorized,
	CodeDependencyViolation:         http.StatusBadRequest,
	CodeDryRunOperation:             http.StatusPreconditionFailed,
	CodeIdempotentParameterMismatch: http.StatusBadRequest,
	CodeIncompleteSignature:         http.StatusBadRequest,
	CodeIncorrectInstanceState:      http.StatusBadRequest,
	CodeIncorrectState:              http.StatusBadRequest,
	CodeInsufficientCapacity:        http.StatusInternalServerError,
	CodeInternalError:               http.StatusInternalServerError,
	CodeInvalidAction:               http.StatusBadRequest,
	CodeInvalidAMIIDMalformed:       http.StatusBadRequest,
	CodeInvalidAMIIDNotFound:        http.StatusBadRequest,
	CodeInvalidAMIIDUnavailable:     http.StatusBadRequest,
	CodeInvalidID:                   http.StatusBadRequest,
	CodeInvalidInstanceIDMalformed:  http.StatusBadRequest,
	CodeInvalidInstanceIDNotFound:   http.StatusBadRequest,
	CodeInvalidKeyPairDuplicate:     http.StatusBadRequest,
	CodeInvalidKeyPairFormat:        http.StatusBadRequest,
	CodeInvalidKeyPairNotFound:      http.StatusBadRequest,
	CodeInvalidPaginationToken:      http.StatusBadRequest,
	CodeInvalidParameter:            http.StatusBadRequest,
	CodeInvalidParameterCombination: http.StatusBadRequest,
	CodeInvalidParameterValue:       http.StatusBadRequest,
	CodeInvalidQueryParameter:       http.StatusBadRequest,
	CodeInvalidRequest:              http.StatusBadRequest,
	CodeMalformedQueryString:        http.StatusBadRequest,
	CodeMissingAction:               http.StatusBadRequest,
	CodeMissingAuthenticationToken:  http.StatusUnauthorized,
	CodeMissingParameter:            http.StatusBadRequest,
	CodeOperationNotPermitted:       http.StatusBadRequest,
	CodeRequestEntityTooLarge:       http.StatusRequestEntityTooLarge,
	CodeRequestExpired:              http.StatusBadRequest,
	CodeRequestLimitExceeded:        http.StatusServiceUnavailable,
	CodeServiceUnavailable:          http.StatusServiceUnavailable,
	CodeUnauthorizedOperation:       http.StatusForbidden,
	CodeUnknownParameter:            http.StatusBadRequest,
	CodeUnsupportedOperation:        http.StatusBadRequest,
	CodeUnsupportedProtocol:         http.StatusBadRequest,
	CodeInvalidTagKeyMalformed:      http.StatusBadRequest,
	CodeTagLimitExceeded:            http.StatusBadRequest,
	CodeInvalidInstanceType:         http.StatusBadRequest,
	CodeInvalidUserDataMalformed:    http.StatusBadRequest,
	CodeInvalidAvailabilityZone:     http.StatusBadRequest,
	CodeInvalidFilter:               http.StatusBadRequest,
	CodeFilterLimitExceeded:         http.StatusBadRequest,
	CodeInstanceLimitExceeded:       http.StatusBadRequest,
	CodeVcpuLimitExceeded:           http.StatusBadRequest,
	CodeVolumeLimitExceeded:         http.StatusBadRequest,
	CodeSnapshotLimitExceeded:       http.StatusBadRequest,
	CodeResourceLimitExceeded:       http.StatusBadRequest,
	CodeInvalidRegionNotFound:       http.StatusBadRequest,
	CodeInvalidZoneNotFound:         http.StatusBadRequest,
	// Volumes, snapshots and images.
	CodeInvalidVolumeNotFound:             http.StatusBadRequest,
	CodeInvalidVolumeMalformed:            http.StatusBadRequest,
	CodeInvalidVolumeZoneMismatch:         http.StatusBadRequest,
	CodeVolumeInUse:                       http.StatusBadRequest,
	CodeInvalidAttachmentNotFound:         http.StatusBadRequest,
	CodeIncorrectModificationState:        http.StatusBadRequest,
	CodeInvalidSnapshotNotFound:           http.StatusBadRequest,
	CodeInvalidSnapshotMalformed:          http.StatusBadRequest,
	CodeInvalidSnapshotInUse:              http.StatusBadRequest,
	CodeInvalidAMINameDuplicate:           http.StatusBadRequest,
	CodeInvalidBlockDeviceMapping:         http.StatusBadRequest,
	CodeInvalidVolumeModificationNotFound: http.StatusBadRequest,
	// Networks.
	CodeInvalidVpcIDNotFound:                http.StatusBadRequest,
	CodeInvalidVpcIDMalformed:               http.StatusBadRequest,
	CodeInvalidVpcRange:                     http.StatusBadRequest,
	CodeDefaultVpcAlreadyExists:             http.StatusBadRequest,
	CodeVPCIDNotSpecified:                   http.StatusBadRequest,
	CodeInvalidSubnetIDNotFound:             http.StatusBadRequest,
	CodeInvalidSubnetIDMalformed:            http.StatusBadRequest,
	CodeInvalidSubnetRange:                  http.StatusBadRequest,
	CodeInvalidSubnetConflict:               http.StatusBadRequest,
	CodeInvalidGroupNotFound:                http.StatusBadRequest,
	CodeInvalidGroupDuplicate:               http.StatusBadRequest,
	CodeInvalidGroupIDMalformed:             http.StatusBadRequest,
	CodeInvalidGroupReserved:                http.StatusBadRequest,
	CodeCannotDelete:                        http.StatusBadRequest,
	CodeInvalidPermissionDuplicate:          http.StatusBadRequest,
	CodeInvalidPermissionNotFound:           http.StatusBadRequest,
	CodeInvalidPermissionMalformed:          http.StatusBadRequest,
	CodeInvalidSecurityGroupRuleIDNotFound:  http.StatusBadRequest,
	CodeInvalidSecurityGroupRuleIDMalformed: http.StatusBadRequest,
	CodeRulesPerSecurityGroupLimitExceeded:  http.StatusBadRequest,
	CodeAddressLimitExceeded:                http.StatusBadRequest,
	CodeInvalidAllocationIDNotFound:         http.StatusBadRequest,
	CodeInvalidAssociationIDNotFound:        http.StatusBadRequest,
	CodeInvalidAddressNotFound:              http.StatusBadRequest,
	CodeResourceAlreadyAssociated:           http.StatusBadRequest,
	CodeInvalidIPAddressInUse:               http.StatusBadRequest,
	CodeInsufficientFreeAddressesInSubnet:   http.StatusBadRequest,
	CodeInvalidNetworkInterfaceIDNotFound:   http.StatusBadRequest,
	CodeInsufficientAddressCapacity:         http.StatusInternalServerError,
	CodeInvalidInstanceIDForAssociation:     http.StatusBadRequest,
	CodeInvalidVpcState:                     http.StatusBadRequest,
}

// Known reports whether code is in the table.
func Known(code string) bool {
	_, ok := statusOf[code]
	return ok
}

// Errorf makes an EC2 error with a formatted message. A code missing from the table is
// a programming error; it is answered as InternalError so it cannot reach a client
// with an invented status.
func Errorf(code, format string, args ...any) *Error {
	status, ok := statusOf[code]
	if !ok {
		return &Error{Code: CodeInternalError, Message: "unknown error code " + code, Status: http.StatusInternalServerError}
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

// AsError turns any error into the EC2 error to answer with. The second result is
// false when err was not an EC2 error: the caller answers InternalError (hiding the
// detail from the client) and should log err.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var coded interface{ EC2Code() (string, string) }
	if errors.As(err, &coded) {
		code, msg := coded.EC2Code()
		if Known(code) {
			return Errorf(code, "%s", msg), true
		}
	}
	return Errorf(CodeInternalError, "An internal error has occurred"), false
}

// Common errors with EC2's wording.

// MissingParameter says a required parameter is absent.
func MissingParameter(name string) *Error {
	return Errorf(CodeMissingParameter, "The request must contain the parameter %s", name)
}

// InvalidValue says a parameter's value is not acceptable.
func InvalidValue(name, value, why string) *Error {
	if why == "" {
		return Errorf(CodeInvalidParameterValue, "Invalid value '%s' for %s", value, name)
	}
	return Errorf(CodeInvalidParameterValue, "Invalid value '%s' for %s. %s", value, name, why)
}
