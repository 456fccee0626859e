package kubevirtsim

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)

// CDI's condition reasons and messages.
const (
	reasonBound           = "Bound"
	reasonPending         = "Pending"
	reasonTransferRunning = "TransferRunning"
	reasonPodRunning      = "Pod is running"
	reasonCompleted       = "Completed"
	reasonNotFound        = "NotFound"
	// reasonCloneWithoutSource: the clone source does not exist (yet).
	reasonCloneWithoutSource = "CloneWithoutSource"
	// reasonCloneSourceNotReady: the clone source exists but is still being populated.
	reasonCloneSourceNotReady = "CloneSourceNotReady"
)

// dvKind is what populating a DataVolume takes.
type dvKind int

const (
	dvImport      dvKind = iota // http, registry, blank, s3, gcs, imageio, vddk
	dvClone                     // source.pvc, source.snapshot or sourceRef to a DataSource
	dvUpload                    // source.upload: waits for an upload that never comes
	dvUnsupported               // no source at all
)

func dataVolumeKind(dv *cdiv1.DataVolume) dvKind {
	if dv.Spec.SourceRef != nil {
		return dvClone
	}
	src := dv.Spec.Source
	switch {
	case src == nil:
		return dvUnsupported
	case src.PVC != nil:
		return dvClone
	case src.Upload != nil:
		return dvUpload
	case src.Snapshot != nil:
		return dvClone
	}
	return dvImport
}

// setDVCondition sets a DataVolume condition as CDI's updateCondition does: a new status
// moves both times, a new reason or message moves the heartbeat.
func setDVCondition(conds []cdiv1.DataVolumeCondition, t cdiv1.DataVolumeConditionType, status corev1.ConditionStatus, message, reason string, now metav1.Time) []cdiv1.DataVolumeCondition {
	for i := range conds {
		c := &conds[i]
		if c.Type != t {
			continue
		}
		switch {
		case c.Status != status:
			c.LastTransitionTime, c.LastHeartbeatTime = now, now
		case c.Message != message || c.Reason != reason:
			c.LastHeartbeatTime = now
		}
		c.Status, c.Message, c.Reason = status, message, reason
		return conds
	}
	return append(conds, cdiv1.DataVolumeCondition{Type: t, Status: status, Message: message, Reason: reason, LastTransitionTime: now, LastHeartbeatTime: now})
}

// setBoundCondition reports the DataVolume's PVC in the Bound condition (and Ready False
// while it is not bound), as CDI's updateBoundCondition does.
func setBoundCondition(st *cdiv1.DataVolumeStatus, pvc *corev1.PersistentVolumeClaim, now metav1.Time) {
	switch {
	case pvc == nil:
		st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeBound, corev1.ConditionFalse, "No PVC found", reasonNotFound, now)
		st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeReady, corev1.ConditionFalse, "", "", now)
	case pvc.Status.Phase == corev1.ClaimBound:
		st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeBound, corev1.ConditionTrue, fmt.Sprintf("PVC %s Bound", pvc.Name), reasonBound, now)
	default:
		st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeBound, corev1.ConditionFalse, fmt.Sprintf("PVC %s Pending", pvc.Name), reasonPending, now)
		st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeReady, corev1.ConditionFalse, "", "", now)
	}
}

// setTransferRunning: the importer or cloner is running.
func setTransferRunning(st *cdiv1.DataVolumeStatus, now metav1.Time) {
	st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeRunning, corev1.ConditionTrue, "", reasonPodRunning, now)
	st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeReady, corev1.ConditionFalse, "", reasonTransferRunning, now)
}

// setTransferWaiting: nothing runs yet.
func setTransferWaiting(st *cdiv1.DataVolumeStatus, message, reason string, now metav1.Time) {
	st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeRunning, corev1.ConditionFalse, message, reason, now)
	st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeReady, corev1.ConditionFalse, "", "", now)
}

// setSucceeded: the data is in place.
func setSucceeded(st *cdiv1.DataVolumeStatus, clone bool, now metav1.Time) {
	st.Phase = cdiv1.Succeeded
	st.Progress = "100.0%"
	msg := "Import Complete"
	if clone {
		msg = "Clone Complete"
	}
	st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeRunning, corev1.ConditionFalse, msg, reasonCompleted, now)
	st.Conditions = setDVCondition(st.Conditions, cdiv1.DataVolumeReady, corev1.ConditionTrue, "", "", now)
}

// progress is CDI's progress string for a fraction in [0, 1].
func progress(fraction float64) cdiv1.DataVolumeProgress {
	return cdiv1.DataVolumeProgress(fmt.Sprintf("%.2f%%", fraction*100))
}
