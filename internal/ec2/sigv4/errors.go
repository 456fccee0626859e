package sigv4

import "errors"

// EC2 error codes this package answers with. They are the codes EC2 itself uses for
// authentication failures (EC2 says AuthFailure where other services say
// SignatureDoesNotMatch or InvalidClientTokenId).
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeAuthFailure                = "AuthFailure"
	CodeRequestExpired             = "RequestExpired"
)

// Messages that EC2 uses word for word.
const (
	msgMissingToken  = "Request is missing Authentication Token"
	msgUnknownKey    = "AWS was not able to validate the provided access credentials"
	msgBadSignature  = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	msgExpiredPrefix = "Request has expired."
)

// ErrUnknownKey is what a Lookup returns (wrapped or not) for an access key ID that
// does not exist. Any other Lookup error is treated as an internal failure.
var ErrUnknownKey = errors.New("unknown access key")

// Error is a request that failed authentication. Code is the EC2 error code to answer
// with and Message is safe to show the client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// EC2Code lets the EC2 server turn the error into its response without importing this
// package's type.
func (e *Error) EC2Code() (code, message string) { return e.Code, e.Message }

func newError(code, message string) *Error { return &Error{Code: code, Message: message} }
