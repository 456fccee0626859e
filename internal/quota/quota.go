// Package quota checks an account's usage against its limits. The EC2 endpoint checks
// before it creates anything (so the client gets EC2's LimitExceeded error); the
// operator checks again before it starts anything, which also covers what kubectl
// users create and launches that raced each other on different endpoint replicas.
package quota

import (
	"fmt"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
)

// Usage is what an account uses (or a request would add).
type Usage struct {
	Instances int64
	VCPUs     int64
	MemoryMiB int64
}

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{Instances: u.Instances + o.Instances, VCPUs: u.VCPUs + o.VCPUs, MemoryMiB: u.MemoryMiB + o.MemoryMiB}
}

// Counts reports whether an instance uses its account's capacity: as in EC2, running
// (and starting) instances do; stopped and terminated ones do not.
func Counts(inst *koalav1.Instance) bool {
	return inst.Spec.State == koalav1.DesiredStateRunning && inst.DeletionTimestamp.IsZero()
}

// Of is what n instances of a type use.
func Of(t catalog.Type, n int64) Usage {
	return Usage{Instances: n, VCPUs: n * int64(t.VCPUs), MemoryMiB: n * t.MemoryMiB}
}

// Exceeded is a limit a request would pass. Code is EC2's error code for it.
type Exceeded struct {
	Code    string
	Message string
}

func (e *Exceeded) Error() string { return e.Code + ": " + e.Message }

// EC2Code lets the EC2 endpoint answer with the error as it is.
func (e *Exceeded) EC2Code() (string, string) { return e.Code, e.Message }

// Error codes, as EC2 names them.
const (
	CodeInstanceLimitExceeded = "InstanceLimitExceeded"
	CodeVcpuLimitExceeded     = "VcpuLimitExceeded"
	CodeVolumeLimitExceeded   = "VolumeLimitExceeded"
	CodeSnapshotLimitExceeded = "SnapshotLimitExceeded"
)

// Check reports the first limit of q that used plus more passes, or nil.
func Check(q koalav1.AccountQuotas, used, more Usage) *Exceeded {
	total := used.Add(more)
	if q.Instances != nil && total.Instances > int64(*q.Instances) {
		return &Exceeded{Code: CodeInstanceLimitExceeded, Message: fmt.Sprintf(
			"You have requested more instances (%d) than your current instance limit of %d allows (%d in use).",
			more.Instances, *q.Instances, used.Instances)}
	}
	if q.VCPUs != nil && total.VCPUs > int64(*q.VCPUs) {
		return &Exceeded{Code: CodeVcpuLimitExceeded, Message: fmt.Sprintf(
			"You have requested more vCPU capacity (%d) than your current vCPU limit of %d allows (%d in use).",
			more.VCPUs, *q.VCPUs, used.VCPUs)}
	}
	if q.MemoryMiB != nil && total.MemoryMiB > *q.MemoryMiB {
		// EC2 has no memory limit of its own; its instance limit error is the nearest a
		// client knows.
		return &Exceeded{Code: CodeInstanceLimitExceeded, Message: fmt.Sprintf(
			"You have requested more memory (%d MiB) than your current memory limit of %d MiB allows (%d MiB in use).",
			more.MemoryMiB, *q.MemoryMiB, used.MemoryMiB)}
	}
	return nil
}

// Limited reports whether q limits instances at all (so that usage need not be
// counted when it does not).
func Limited(q koalav1.AccountQuotas) bool {
	return q.Instances != nil || q.VCPUs != nil || q.MemoryMiB != nil
}

// InstanceUsage adds up what the instances use, with types giving each type's size.
// An instance whose type is unknown counts as an instance without vCPUs or memory.
func InstanceUsage(insts []koalav1.Instance, types map[string]catalog.Type) Usage {
	var u Usage
	for i := range insts {
		if !Counts(&insts[i]) {
			continue
		}
		u = u.Add(Of(types[insts[i].Spec.InstanceType], 1))
	}
	return u
}

// VolumeGiB adds up the sizes of the volumes: the storage they hold. A volume being
// deleted no longer counts (the user sees it deleting; its storage is on its way
// out), nor does the one named except: a retried create's own volume, which the
// first request already counted.
func VolumeGiB(vols []koalav1.Volume, except string) int64 {
	var gib int64
	for i := range vols {
		if vols[i].Name == except || !vols[i].DeletionTimestamp.IsZero() {
			continue
		}
		gib += int64(vols[i].Spec.Size)
	}
	return gib
}

// CheckVolumeGiB reports whether more GiB of volumes pass the account's storage limit
// with used GiB in use, or nil.
func CheckVolumeGiB(q koalav1.AccountQuotas, used, more int64) *Exceeded {
	if q.VolumeGiB == nil || used+more <= *q.VolumeGiB {
		return nil
	}
	return &Exceeded{Code: CodeVolumeLimitExceeded, Message: fmt.Sprintf(
		"You have requested more volume storage (%d GiB) than your current storage limit of %d GiB allows (%d GiB in use).",
		more, *q.VolumeGiB, used)}
}

// SnapshotCount counts the snapshots that are not being deleted.
func SnapshotCount(snaps []koalav1.Snapshot) int64 {
	var n int64
	for i := range snaps {
		if snaps[i].DeletionTimestamp.IsZero() {
			n++
		}
	}
	return n
}

// CheckSnapshots reports whether more snapshots pass the account's snapshot limit
// with used of them kept, or nil.
func CheckSnapshots(q koalav1.AccountQuotas, used, more int64) *Exceeded {
	if q.Snapshots == nil || used+more <= int64(*q.Snapshots) {
		return nil
	}
	return &Exceeded{Code: CodeSnapshotLimitExceeded, Message: fmt.Sprintf(
		"You have requested more snapshots (%d) than your current snapshot limit of %d allows (%d in use).",
		more, *q.Snapshots, used)}
}
