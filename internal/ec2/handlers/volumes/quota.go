package volumes

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/quota"
)

// lockVolumeQuota refuses, before anything is created, a volume of gib GiB that
// would take the account past its storage limit (VolumeLimitExceeded). except names
// the volume a retried create would make again, which is counted already if the
// first request made it. When the account has a limit it holds the account's quota
// lock until unlock, so that the creation that follows is counted before the next
// check (the store's Create waits until its cache has the volume).
func (h *Handlers) lockVolumeQuota(ctx context.Context, c *action.Call, except string, gib int64) (unlock func(), err error) {
	q := c.Account.Quotas
	if q.VolumeGiB == nil {
		return func() {}, nil
	}
	return h.QuotaLocks.CheckLocked(c.Account.Namespace, func() error {
		vols, err := h.Store.Volumes(ctx, c.Account)
		if err != nil {
			return err
		}
		if exceeded := quota.CheckVolumeGiB(q, quota.VolumeGiB(vols, except), gib); exceeded != nil {
			return exceeded
		}
		return nil
	})
}
