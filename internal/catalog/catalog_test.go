package catalog

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
)

func TestDefaultCatalogHasTheFamiliesFromNanoToLarge(t *testing.T) {
	byName := map[string]Type{}
	for i := range Default() {
		it := Default()[i]
		byName[it.Name] = Describe(&it)
	}
	want := map[string]Type{
		"t3.nano":     {Name: "t3.nano", VCPUs: 2, Cores: 1, ThreadsPerCore: 2, MemoryMiB: 512, Burstable: true, Architecture: "x86_64", NetworkPerformance: "Up to 5 Gigabit"},
		"t3.micro":    {Name: "t3.micro", VCPUs: 2, Cores: 1, ThreadsPerCore: 2, MemoryMiB: 1024, Burstable: true, Architecture: "x86_64", NetworkPerformance: "Up to 5 Gigabit"},
		"m5.24xlarge": {Name: "m5.24xlarge", VCPUs: 96, Cores: 48, ThreadsPerCore: 2, MemoryMiB: 384 * 1024, Architecture: "x86_64", NetworkPerformance: "25 Gigabit"},
		"c5.large":    {Name: "c5.large", VCPUs: 2, Cores: 1, ThreadsPerCore: 2, MemoryMiB: 4096, Architecture: "x86_64", NetworkPerformance: "Up to 10 Gigabit"},
		"r5.xlarge":   {Name: "r5.xlarge", VCPUs: 4, Cores: 2, ThreadsPerCore: 2, MemoryMiB: 32768, Architecture: "x86_64", NetworkPerformance: "Up to 10 Gigabit"},
	}
	for name, w := range want {
		if got := byName[name]; got != w {
			t.Errorf("%s = %+v, want %+v", name, got, w)
		}
	}
	if len(byName) != 31 {
		t.Errorf("catalog has %d types, want 31 (t3 7, m5 8, c5 8, r5 8)", len(byName))
	}
}

func TestDescribeDefaultsForAnAdminsInstancetype(t *testing.T) {
	it := &instancetypev1beta1.VirtualMachineClusterInstancetype{
		ObjectMeta: metav1.ObjectMeta{Name: "t4g.small"},
		Spec: instancetypev1beta1.VirtualMachineInstancetypeSpec{
			CPU:    instancetypev1beta1.CPUInstancetype{Guest: 2},
			Memory: instancetypev1beta1.MemoryInstancetype{Guest: resource.MustParse("2Gi")},
		},
	}
	got := Describe(it)
	if !got.Burstable || got.MemoryMiB != 2048 || got.Architecture != "x86_64" || got.NetworkPerformance != "Moderate" ||
		got.Cores != 1 || got.ThreadsPerCore != 2 {
		t.Errorf("got %+v", got)
	}
	it.Name = "u1.medium"
	if Describe(it).Burstable {
		t.Error("a non-T type without annotation is not burstable")
	}
}
