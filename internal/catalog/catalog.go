// Package catalog is the instance type catalog: the EC2 types Koala installs as
// KubeVirt VirtualMachineClusterInstancetypes, and the EC2 view (vCPUs, memory,
// burstable, ...) of any instancetype the cluster holds, including those an admin adds.
package catalog

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// FamilyLabel names an instancetype's EC2 family ("t3") on the catalog's objects.
const FamilyLabel = "cloud.koala.dev/instance-family"

// Type is what EC2 says about an instance type.
type Type struct {
	Name  string
	VCPUs int32
	// Cores and ThreadsPerCore are EC2's default CPU options for the type: two threads
	// per core when the vCPUs pair up, as on EC2's x86 types.
	Cores              int32
	ThreadsPerCore     int32
	MemoryMiB          int64
	Burstable          bool
	Architecture       string
	NetworkPerformance string
}

type family struct {
	name      string
	burstable bool
	sizes     []size
}

type size struct {
	name      string
	vcpus     int32
	memoryGiB float64
	network   string
}

// families are the EC2 types of the default catalog, with EC2's published vCPUs,
// memory and network performance.
var families = []family{
	{name: "t3", burstable: true, sizes: []size{
		{"nano", 2, 0.5, "Up to 5 Gigabit"}, {"micro", 2, 1, "Up to 5 Gigabit"}, {"small", 2, 2, "Up to 5 Gigabit"},
		{"medium", 2, 4, "Up to 5 Gigabit"}, {"large", 2, 8, "Up to 5 Gigabit"}, {"xlarge", 4, 16, "Up to 5 Gigabit"},
		{"2xlarge", 8, 32, "Up to 5 Gigabit"},
	}},
	{name: "m5", sizes: []size{
		{"large", 2, 8, "Up to 10 Gigabit"}, {"xlarge", 4, 16, "Up to 10 Gigabit"}, {"2xlarge", 8, 32, "Up to 10 Gigabit"},
		{"4xlarge", 16, 64, "Up to 10 Gigabit"}, {"8xlarge", 32, 128, "10 Gigabit"}, {"12xlarge", 48, 192, "12 Gigabit"},
		{"16xlarge", 64, 256, "20 Gigabit"}, {"24xlarge", 96, 384, "25 Gigabit"},
	}},
	{name: "c5", sizes: []size{
		{"large", 2, 4, "Up to 10 Gigabit"}, {"xlarge", 4, 8, "Up to 10 Gigabit"}, {"2xlarge", 8, 16, "Up to 10 Gigabit"},
		{"4xlarge", 16, 32, "Up to 10 Gigabit"}, {"9xlarge", 36, 72, "12 Gigabit"}, {"12xlarge", 48, 96, "12 Gigabit"},
		{"18xlarge", 72, 144, "25 Gigabit"}, {"24xlarge", 96, 192, "25 Gigabit"},
	}},
	{name: "r5", sizes: []size{
		{"large", 2, 16, "Up to 10 Gigabit"}, {"xlarge", 4, 32, "Up to 10 Gigabit"}, {"2xlarge", 8, 64, "Up to 10 Gigabit"},
		{"4xlarge", 16, 128, "Up to 10 Gigabit"}, {"8xlarge", 32, 256, "10 Gigabit"}, {"12xlarge", 48, 384, "12 Gigabit"},
		{"16xlarge", 64, 512, "20 Gigabit"}, {"24xlarge", 96, 768, "25 Gigabit"},
	}},
}

// Default returns the default catalog as VirtualMachineClusterInstancetypes, sorted by
// name.
func Default() []instancetypev1beta1.VirtualMachineClusterInstancetype {
	var out []instancetypev1beta1.VirtualMachineClusterInstancetype
	for _, f := range families {
		for _, s := range f.sizes {
			mem := resource.MustParse(fmt.Sprintf("%dMi", int64(s.memoryGiB*1024)))
			annotations := map[string]string{
				koalav1.InstanceTypeNetworkPerformanceAnnotation: s.network,
				koalav1.InstanceTypeArchitectureAnnotation:       "x86_64",
			}
			if f.burstable {
				annotations[koalav1.InstanceTypeBurstableAnnotation] = "true"
			}
			out = append(out, instancetypev1beta1.VirtualMachineClusterInstancetype{
				TypeMeta: metav1.TypeMeta{APIVersion: instancetypev1beta1.SchemeGroupVersion.String(), Kind: "VirtualMachineClusterInstancetype"},
				ObjectMeta: metav1.ObjectMeta{
					Name:        f.name + "." + s.name,
					Labels:      map[string]string{FamilyLabel: f.name, "app.kubernetes.io/part-of": "koala"},
					Annotations: annotations,
				},
				Spec: instancetypev1beta1.VirtualMachineInstancetypeSpec{
					CPU:    instancetypev1beta1.CPUInstancetype{Guest: uint32(s.vcpus)},
					Memory: instancetypev1beta1.MemoryInstancetype{Guest: mem},
				},
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Describe returns the EC2 view of an instancetype. What the instancetype does not say
// comes from Koala's annotations, else from defaults: x86_64, burstable only for the
// T families, "Moderate" network performance.
func Describe(it *instancetypev1beta1.VirtualMachineClusterInstancetype) Type {
	t := Type{
		Name:               it.Name,
		VCPUs:              int32(it.Spec.CPU.Guest),
		MemoryMiB:          it.Spec.Memory.Guest.Value() / (1 << 20),
		Architecture:       "x86_64",
		NetworkPerformance: "Moderate",
	}
	t.Cores, t.ThreadsPerCore = t.VCPUs, 1
	if t.VCPUs >= 2 && t.VCPUs%2 == 0 {
		t.Cores, t.ThreadsPerCore = t.VCPUs/2, 2
	}
	a := it.Annotations
	if v := a[koalav1.InstanceTypeArchitectureAnnotation]; v != "" {
		t.Architecture = v
	}
	if v := a[koalav1.InstanceTypeNetworkPerformanceAnnotation]; v != "" {
		t.NetworkPerformance = v
	}
	if v, ok := a[koalav1.InstanceTypeBurstableAnnotation]; ok {
		t.Burstable = v == "true"
	} else {
		t.Burstable = isTFamily(it.Name)
	}
	return t
}

// isTFamily reports whether a type name is of EC2's burstable T families (t2, t3,
// t3a, t4g).
func isTFamily(name string) bool {
	fam, _, _ := strings.Cut(name, ".")
	return len(fam) >= 2 && fam[0] == 't' && fam[1] >= '0' && fam[1] <= '9'
}
