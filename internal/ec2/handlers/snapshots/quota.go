package snapshots

import (
	"context"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/quota"
)

// SnapshotLister is what CheckQuota reads.
type SnapshotLister interface {
	Snapshots(ctx context.Context, acct store.Account) ([]koalav1.Snapshot, error)
}

// CheckQuota refuses, before anything is created, n more snapshots that would take
// the account past its snapshot limit (SnapshotLimitExceeded). CreateSnapshot,
// CopySnapshot and CreateImage call it.
func CheckQuota(ctx context.Context, s SnapshotLister, acct store.Account, n int64) error {
	if acct.Quotas.Snapshots == nil || n == 0 {
		return nil
	}
	snaps, err := s.Snapshots(ctx, acct)
	if err != nil {
		return err
	}
	if exceeded := quota.CheckSnapshots(acct.Quotas, quota.SnapshotCount(snaps), n); exceeded != nil {
		return exceeded
	}
	return nil
}
