package controllers

import (
	"fmt"
	"strings"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// snapshotObservation is what the status of a snapshot is computed from.
type snapshotObservation struct {
	// volumeSnapshot is the snapshot's VolumeSnapshot, nil until it exists.
	volumeSnapshot *snapshotv1.VolumeSnapshot
	// copyProgress is the progress of a copy's temporary volume ("" when none), e.g.
	// "40.00%".
	copyProgress string
	// volumeSize is the size in GiB of the volume snapshotted (0 when unknown).
	volumeSize int32
	// blocked is why the snapshot cannot be taken (yet).
	blocked  *metav1.Condition
	deleting bool
	now      time.Time
}

// setSnapshotStatus computes the status of a snapshot from the observation, in place.
// It is pure: the same observation and previous status give the same result.
func setSnapshotStatus(st *koalav1.SnapshotStatus, o snapshotObservation) {
	if o.volumeSize > 0 && st.VolumeSize == 0 {
		st.VolumeSize = o.volumeSize
	}
	vs := o.volumeSnapshot
	if vs != nil && vs.Status != nil && vs.Status.RestoreSize != nil && st.VolumeSize == 0 {
		st.VolumeSize = int32((vs.Status.RestoreSize.Value() + gib - 1) / gib)
	}
	cond := metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse, Reason: koalav1.SnapshotReasonPending, Message: "The snapshot is being taken"}
	switch {
	case st.State == koalav1.SnapshotStateCompleted:
		// A completed snapshot stays completed: its data is taken.
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, koalav1.SnapshotReasonCompleted, "The snapshot is completed"
	case vs != nil && vs.Status != nil && vs.Status.ReadyToUse != nil && *vs.Status.ReadyToUse:
		st.State, st.Progress, st.StatusMessage = koalav1.SnapshotStateCompleted, "100%", ""
		st.CompletionTime = &metav1.Time{Time: o.now}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, koalav1.SnapshotReasonCompleted, "The snapshot is completed"
	case vs != nil && vs.Status != nil && vs.Status.Error != nil && vs.Status.Error.Message != nil:
		st.State, st.StatusMessage = koalav1.SnapshotStateError, truncate(*vs.Status.Error.Message, 1024)
		cond.Reason, cond.Message = koalav1.SnapshotReasonFailed, st.StatusMessage
	default:
		st.State = koalav1.SnapshotStatePending
		switch {
		case vs != nil && vs.Status != nil && vs.Status.CreationTime != nil:
			st.Progress = "50%" // the point in time is cut; the data is being saved
		case o.copyProgress != "":
			st.Progress = copyPercent(o.copyProgress)
		default:
			st.Progress = "0%"
		}
		if o.blocked != nil {
			cond.Reason, cond.Message = o.blocked.Reason, o.blocked.Message
		}
	}
	if o.deleting && o.blocked != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, o.blocked.Reason, o.blocked.Message
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}

// copyPercent maps a copy's restore progress ("40.00%") onto the first half of the
// snapshot's progress.
func copyPercent(p string) string {
	var f float64
	if _, err := fmt.Sscanf(strings.TrimSuffix(p, "%"), "%f", &f); err != nil {
		return "0%"
	}
	return fmt.Sprintf("%d%%", int(f/2))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
