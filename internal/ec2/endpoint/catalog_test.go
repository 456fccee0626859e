package endpoint_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"

	"github.com/koala-dev/koala/internal/catalog"
)

// instanceTypes walks DescribeInstanceTypes' pages and returns every type by name.
func (a *account) instanceTypes(g Gomega, in *ec2.DescribeInstanceTypesInput) map[string]types.InstanceTypeInfo {
	out := map[string]types.InstanceTypeInfo{}
	p := ec2.NewDescribeInstanceTypesPaginator(a.EC2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(a.ctx)
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		for _, it := range page.InstanceTypes {
			out[string(it.InstanceType)] = it
		}
	}
	return out
}

func TestDescribeInstanceTypesListsTheCatalogAndAnInstancetypeAddedLater(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)

	all := a.instanceTypes(g, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(10)})
	for _, it := range catalog.Default() {
		g.Expect(all).To(HaveKey(it.Name))
	}
	micro := all["t3.micro"]
	g.Expect(aws.ToInt32(micro.VCpuInfo.DefaultVCpus)).To(Equal(int32(2)))
	g.Expect(aws.ToInt64(micro.MemoryInfo.SizeInMiB)).To(Equal(int64(1024)))
	g.Expect(aws.ToBool(micro.BurstablePerformanceSupported)).To(BeTrue())
	g.Expect(aws.ToBool(micro.FreeTierEligible)).To(BeTrue())
	g.Expect(micro.ProcessorInfo.SupportedArchitectures).To(Equal([]types.ArchitectureType{types.ArchitectureTypeX8664}))
	g.Expect(aws.ToString(micro.NetworkInfo.NetworkPerformance)).To(Equal("Up to 5 Gigabit"))
	m5 := all["m5.xlarge"]
	g.Expect(aws.ToInt32(m5.VCpuInfo.DefaultVCpus)).To(Equal(int32(4)))
	g.Expect(aws.ToInt64(m5.MemoryInfo.SizeInMiB)).To(Equal(int64(16384)))
	g.Expect(aws.ToBool(m5.BurstablePerformanceSupported)).To(BeFalse())

	burstable := a.instanceTypes(g, &ec2.DescribeInstanceTypesInput{Filters: []types.Filter{filter("burstable-performance-supported", "true")}})
	for name := range burstable {
		g.Expect(name).To(HavePrefix("t3."))
	}
	g.Expect(burstable).To(HaveLen(7))

	_, err := a.NoRetry.DescribeInstanceTypes(a.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"t3.micro", "z1.nothing"}})
	e := expectError(g, err, "InvalidInstanceType")
	g.Expect(e.Message).To(ContainSubstring("z1.nothing"))

	// An admin adds an instancetype: it is an instance type at once.
	added := &instancetypev1beta1.VirtualMachineClusterInstancetype{
		ObjectMeta: metav1.ObjectMeta{Name: "x9.large"},
		Spec: instancetypev1beta1.VirtualMachineInstancetypeSpec{
			CPU:    instancetypev1beta1.CPUInstancetype{Guest: 4},
			Memory: instancetypev1beta1.MemoryInstancetype{Guest: resource.MustParse("12Gi")},
		},
	}
	g.Expect(k8s.Create(a.ctx, added)).To(Succeed())
	t.Cleanup(func() { _ = k8s.Delete(a.ctx, added) })
	g.Eventually(func(g Gomega) {
		out, err := a.EC2.DescribeInstanceTypes(a.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"x9.large"}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		g.Expect(out.InstanceTypes).To(HaveLen(1))
		it := out.InstanceTypes[0]
		g.Expect(aws.ToInt32(it.VCpuInfo.DefaultVCpus)).To(Equal(int32(4)))
		g.Expect(aws.ToInt64(it.MemoryInfo.SizeInMiB)).To(Equal(int64(12 * 1024)))
		g.Expect(aws.ToBool(it.BurstablePerformanceSupported)).To(BeFalse())
	}, timeout, poll).Should(Succeed())
	g.Expect(a.instanceTypes(g, &ec2.DescribeInstanceTypesInput{})).To(HaveKey("x9.large"))
	// ... and it launches.
	id := a.runOne(g, withType("x9.large"))
	a.waitRunning(g, id)
	g.Expect(string(a.describe(g, id).InstanceType)).To(Equal("x9.large"))
}

func TestDescribeRegionsAvailabilityZonesAndAccountAttributesDescribeTheCluster(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)

	regions, err := a.EC2.DescribeRegions(a.ctx, &ec2.DescribeRegionsInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(regions.Regions).To(HaveLen(1))
	g.Expect(aws.ToString(regions.Regions[0].RegionName)).To(Equal(region))
	g.Expect(aws.ToString(regions.Regions[0].Endpoint)).To(Equal("ec2.test-1.koala.test"))
	g.Expect(aws.ToString(regions.Regions[0].OptInStatus)).To(Equal("opt-in-not-required"))
	_, err = a.NoRetry.DescribeRegions(a.ctx, &ec2.DescribeRegionsInput{RegionNames: []string{"us-east-1"}})
	expectError(g, err, "InvalidParameterValue")

	zones, err := a.EC2.DescribeAvailabilityZones(a.ctx, &ec2.DescribeAvailabilityZonesInput{})
	g.Expect(err).NotTo(HaveOccurred())
	var names, zoneIDs []string
	for _, z := range zones.AvailabilityZones {
		names = append(names, aws.ToString(z.ZoneName))
		zoneIDs = append(zoneIDs, aws.ToString(z.ZoneId))
		g.Expect(z.State).To(Equal(types.AvailabilityZoneStateAvailable))
		g.Expect(aws.ToString(z.RegionName)).To(Equal(region))
		g.Expect(aws.ToString(z.ZoneType)).To(Equal("availability-zone"))
	}
	g.Expect(names).To(Equal([]string{zoneA, zoneB}), "the zones of the nodes")
	g.Expect(zoneIDs).To(Equal([]string{"test1-az1", "test1-az2"}))
	one, err := a.EC2.DescribeAvailabilityZones(a.ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{filter("zone-name", "*b")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(one.AvailabilityZones).To(HaveLen(1))
	g.Expect(aws.ToString(one.AvailabilityZones[0].ZoneName)).To(Equal(zoneB))

	attrs, err := a.EC2.DescribeAccountAttributes(a.ctx, &ec2.DescribeAccountAttributesInput{})
	g.Expect(err).NotTo(HaveOccurred())
	got := map[string]string{}
	for _, at := range attrs.AccountAttributes {
		var vs []string
		for _, v := range at.AttributeValues {
			vs = append(vs, aws.ToString(v.AttributeValue))
		}
		got[aws.ToString(at.AttributeName)] = strings.Join(vs, ",")
	}
	g.Expect(got).To(HaveKeyWithValue("supported-platforms", "VPC"))
	g.Expect(got).To(HaveKeyWithValue("default-vpc", "none"))
	g.Expect(got).To(HaveKey("max-instances"))
	some, err := a.EC2.DescribeAccountAttributes(a.ctx, &ec2.DescribeAccountAttributesInput{
		AttributeNames: []types.AccountAttributeName{types.AccountAttributeNameDefaultVpc}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(some.AccountAttributes).To(HaveLen(1))
	g.Expect(aws.ToString(some.AccountAttributes[0].AttributeName)).To(Equal("default-vpc"))
}
