package quota

import (
	"testing"

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
