package images

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/handlers/snapshots"
)

// lockSnapshotQuota refuses, before anything is created, an image whose snapshots
// (one per imaged volume) would take the account past its snapshot limit; else it
// holds the account's quota lock until unlock (see snapshots.LockQuota).
func (h *Handlers) lockSnapshotQuota(ctx context.Context, c *action.Call, imaged []imagedVolume) (unlock func(), err error) {
	var n int64
	for _, iv := range imaged {
		if iv.vol != nil {
			n++
		}
	}
	return snapshots.LockQuota(ctx, h.Store, h.QuotaLocks, c.Account, n)
}
