package snapshots

import (
	"context"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/quota"
)

// SnapshotLister is what LockQuota reads.
type SnapshotLister interface {
	Snapshots(ctx context.Context, acct store.Account) ([]koalav1.Snapshot, error)
}

// LockQuota refuses, before anything is created, n more snapshots that would take
// the account past its snapshot limit (SnapshotLimitExceeded). When the account has a
// limit it holds the account's quota lock until unlock, so that the snapshots created
// meanwhile are counted before the next check. CreateSnapshot, CopySnapshot and
// CreateImage call it.
func LockQuota(ctx context.Context, s SnapshotLister, locks *quota.Locks, acct store.Account, n int64) (unlock func(), err error) {
	if acct.Quotas.Snapshots == nil || n == 0 {
		return func() {}, nil
	}
	return locks.CheckLocked(acct.Namespace, func() error {
		snaps, err := s.Snapshots(ctx, acct)
		if err != nil {
			return err
		}
		if exceeded := quota.CheckSnapshots(acct.Quotas, quota.SnapshotCount(snaps), n); exceeded != nil {
			return exceeded
		}
		return nil
	})
}
