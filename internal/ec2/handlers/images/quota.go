package images

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/handlers/snapshots"
)

// checkSnapshotQuota refuses, before anything is created, an image whose snapshots
// (one per imaged volume) would take the account past its snapshot limit.
func (h *Handlers) checkSnapshotQuota(ctx context.Context, c *action.Call, imaged []imagedVolume) error {
	var n int64
	for _, iv := range imaged {
		if iv.vol != nil {
			n++
		}
	}
	return snapshots.CheckQuota(ctx, h.Store, c.Account, n)
}
