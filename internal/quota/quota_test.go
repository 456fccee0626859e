package quota

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
)

func ptr[T any](v T) *T { return &v }

func TestCheck(t *testing.T) {
	small := catalog.Type{VCPUs: 2, MemoryMiB: 1024}
	cases := map[string]struct {
		quotas   koalav1.AccountQuotas
		used     Usage
		more     Usage
		wantCode string
	}{
		"no quotas allow anything":               {koalav1.AccountQuotas{}, Of(small, 1000), Of(small, 1000), ""},
		"exactly at the instance limit is fine":  {koalav1.AccountQuotas{Instances: ptr(int32(3))}, Of(small, 2), Of(small, 1), ""},
		"one past the instance limit is refused": {koalav1.AccountQuotas{Instances: ptr(int32(3))}, Of(small, 2), Of(small, 2), CodeInstanceLimitExceeded},
		"vCPUs are checked after instances":      {koalav1.AccountQuotas{Instances: ptr(int32(10)), VCPUs: ptr(int32(4))}, Of(small, 1), Of(small, 2), CodeVcpuLimitExceeded},
		"memory past its limit is refused":       {koalav1.AccountQuotas{MemoryMiB: ptr(int64(2048))}, Of(small, 2), Of(small, 1), CodeInstanceLimitExceeded},
		"a zero limit refuses the first":         {koalav1.AccountQuotas{Instances: ptr(int32(0))}, Usage{}, Of(small, 1), CodeInstanceLimitExceeded},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Check(tc.quotas, tc.used, tc.more)
			code := ""
			if got != nil {
				code = got.Code
			}
			if code != tc.wantCode {
				t.Errorf("Check = %v, want code %q", got, tc.wantCode)
			}
		})
	}
}

func TestInstanceUsageCountsOnlyInstancesAskedToRun(t *testing.T) {
	types := map[string]catalog.Type{"t3.micro": {VCPUs: 2, MemoryMiB: 1024}}
	insts := []koalav1.Instance{
		{Spec: koalav1.InstanceSpec{InstanceType: "t3.micro", State: koalav1.DesiredStateRunning}},
		{Spec: koalav1.InstanceSpec{InstanceType: "t3.micro", State: koalav1.DesiredStateStopped}},
		{Spec: koalav1.InstanceSpec{InstanceType: "t3.micro", State: koalav1.DesiredStateTerminated}},
		{Spec: koalav1.InstanceSpec{InstanceType: "gone.type", State: koalav1.DesiredStateRunning}},
	}
	got := InstanceUsage(insts, types)
	if want := (Usage{Instances: 2, VCPUs: 2, MemoryMiB: 1024}); got != want {
		t.Errorf("InstanceUsage = %+v, want %+v", got, want)
	}
}

func TestStorageQuotas(t *testing.T) {
	vol := func(name string, size int32, deleting bool) koalav1.Volume {
		v := koalav1.Volume{Spec: koalav1.VolumeSpec{Size: size}}
		v.Name = name
		if deleting {
			now := metav1.Now()
			v.DeletionTimestamp = &now
		}
		return v
	}
	vols := []koalav1.Volume{vol("a", 8, false), vol("b", 4, false), vol("gone", 100, true)}
	if got := VolumeGiB(vols, ""); got != 12 {
		t.Errorf("VolumeGiB = %d, want 12: volumes being deleted do not count", got)
	}
	if got := VolumeGiB(vols, "b"); got != 8 {
		t.Errorf("VolumeGiB except b = %d, want 8", got)
	}
	now := metav1.Now()
	snaps := []koalav1.Snapshot{{}, {}, {ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}}
	if got := SnapshotCount(snaps); got != 2 {
		t.Errorf("SnapshotCount = %d, want 2", got)
	}

	cases := map[string]struct {
		got      *Exceeded
		wantCode string
	}{
		"no storage limit allows any size":           {CheckVolumeGiB(koalav1.AccountQuotas{}, 1<<20, 1<<20), ""},
		"filling the storage limit exactly is fine":  {CheckVolumeGiB(koalav1.AccountQuotas{VolumeGiB: ptr(int64(20))}, 12, 8), ""},
		"one GiB past the storage limit is refused":  {CheckVolumeGiB(koalav1.AccountQuotas{VolumeGiB: ptr(int64(20))}, 12, 9), CodeVolumeLimitExceeded},
		"no snapshot limit allows any number":        {CheckSnapshots(koalav1.AccountQuotas{}, 1000, 1), ""},
		"the last snapshot the limit allows is fine": {CheckSnapshots(koalav1.AccountQuotas{Snapshots: ptr(int32(3))}, 2, 1), ""},
		"one snapshot past the limit is refused":     {CheckSnapshots(koalav1.AccountQuotas{Snapshots: ptr(int32(3))}, 3, 1), CodeSnapshotLimitExceeded},
		"instance limits do not limit snapshots":     {CheckSnapshots(koalav1.AccountQuotas{Instances: ptr(int32(0))}, 3, 1), ""},
		"a zero storage limit refuses the first GiB": {CheckVolumeGiB(koalav1.AccountQuotas{VolumeGiB: ptr(int64(0))}, 0, 1), CodeVolumeLimitExceeded},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code := ""
			if tc.got != nil {
				code = tc.got.Code
			}
			if code != tc.wantCode {
				t.Errorf("got %v, want code %q", tc.got, tc.wantCode)
			}
		})
	}
}
