package store

import (
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/protocol"
)

// QuotaError turns the API server's refusal of a create by a ResourceQuota (403
// Forbidden, "exceeded quota") into the EC2 limit error of the object's kind, which
// is what it is to the client: its account is full. The endpoint checks the account's
// quotas before it creates, so this answers for what those checks cannot see: a
// create that raced another replica's, or a ResourceQuota the platform team added to
// the namespace. Any other error is returned as it is.
func QuotaError(obj client.Object, err error) error {
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
		return err
	}
	// The API server's words say which quota and by how much; they name nothing the
	// account cannot see with kubectl in its own namespace.
	detail := err.Error()
	if _, after, ok := strings.Cut(detail, "is forbidden: "); ok {
		detail = after
	}
	var code, what string
	switch obj.(type) {
	case *koalav1.Instance:
		code, what = protocol.CodeInstanceLimitExceeded, "instance"
	case *koalav1.Volume:
		code, what = protocol.CodeVolumeLimitExceeded, "volume"
	case *koalav1.Snapshot:
		code, what = protocol.CodeSnapshotLimitExceeded, "snapshot"
	case *koalav1.Address:
		code, what = protocol.CodeAddressLimitExceeded, "address"
	default:
		code, what = protocol.CodeResourceLimitExceeded, "resource"
	}
	return protocol.Errorf(code, "The account's %s limit has been reached (%s).", what, detail)
}
