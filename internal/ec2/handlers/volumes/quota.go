package volumes

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/quota"
)

// checkVolumeQuota refuses, before anything is created, a volume of gib GiB that
// would take the account past its storage limit (VolumeLimitExceeded). except names
// the volume a retried create would make again, which is counted already if the
// first request made it.
func (h *Handlers) checkVolumeQuota(ctx context.Context, c *action.Call, except string, gib int64) error {
	q := c.Account.Quotas
	if q.VolumeGiB == nil {
		return nil
	}
	vols, err := h.Store.Volumes(ctx, c.Account)
	if err != nil {
		return err
	}
	if exceeded := quota.CheckVolumeGiB(q, quota.VolumeGiB(vols, except), gib); exceeded != nil {
		return exceeded
	}
	return nil
}
