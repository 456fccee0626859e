package endpoint_test

import (
	"sort"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
)

func sorted(s ...string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

func TestDescribeInstancesFiltersAndAcrossFiltersAndOrWithinOne(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	_, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k1")})
	g.Expect(err).NotTo(HaveOccurred())
	private := a.privateImage(g, "golden")

	// A: t3.micro with a key in zone A; B: t3.small of the private image in zone B;
	// C: t3.nano, terminated.
	instA := a.runOne(g, withKey("k1"), withZone(zoneA), withTags("Name", "web-1", "env", "prod"))
	instB := a.runOne(g, withType(types.InstanceTypeT3Small), withImage(private), withZone(zoneB), withTags("Name", "web-2", "env", "dev"))
	instC := a.runOne(g, withType(types.InstanceTypeT3Nano), withTags("Name", "db"))
	a.waitRunning(g, instA, instB, instC)
	_, err = a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{instC}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitTerminated(g, instC)

	descA := a.describe(g, instA)
	ipA := aws.ToString(descA.PrivateIpAddress)
	g.Expect(ipA).NotTo(BeEmpty())
	launchA := descA.LaunchTime.UTC().Format("2006-01-02T15:04:05.000Z")

	cases := map[string]struct {
		filters []types.Filter
		want    []string
	}{
		"instance-id selects that instance":                 {[]types.Filter{filter("instance-id", instA)}, sorted(instA)},
		"instance-state-name running selects the running":   {[]types.Filter{filter("instance-state-name", "running")}, sorted(instA, instB)},
		"instance-state-name terminated selects C":          {[]types.Filter{filter("instance-state-name", "terminated")}, sorted(instC)},
		"instance-state-name is case-sensitive":             {[]types.Filter{filter("instance-state-name", "RUNNING")}, nil},
		"two values of instance-state-name are either":      {[]types.Filter{filter("instance-state-name", "running", "terminated")}, sorted(instA, instB, instC)},
		"instance-state-name of a state no one is in":       {[]types.Filter{filter("instance-state-name", "stopped")}, nil},
		"instance-state-name with a star":                   {[]types.Filter{filter("instance-state-name", "*ing")}, sorted(instA, instB)},
		"instance-state-name and a tag both apply":          {[]types.Filter{filter("instance-state-name", "running"), filter("tag:Name", "db")}, nil},
		"a tag and instance-state-name both apply":          {[]types.Filter{filter("tag:Name", "db", "web-1"), filter("instance-state-name", "terminated")}, sorted(instC)},
		"instance-state-code 16 selects the running":        {[]types.Filter{filter("instance-state-code", "16")}, sorted(instA, instB)},
		"instance-state-code 48 selects the terminated":     {[]types.Filter{filter("instance-state-code", "48")}, sorted(instC)},
		"instance-type selects one type":                    {[]types.Filter{filter("instance-type", "t3.micro")}, sorted(instA)},
		"instance-type with two values selects either":      {[]types.Filter{filter("instance-type", "t3.micro", "t3.small")}, sorted(instA, instB)},
		"instance-type with a star selects the family":      {[]types.Filter{filter("instance-type", "t3.*")}, sorted(instA, instB, instC)},
		"instance-type with a ? matches one character":      {[]types.Filter{filter("instance-type", "t3.?ano")}, sorted(instC)},
		"image-id of the private image selects B":           {[]types.Filter{filter("image-id", private)}, sorted(instB)},
		"image-id of the public image selects A and C":      {[]types.Filter{filter("image-id", publicImageID)}, sorted(instA, instC)},
		"key-name selects the instance launched with it":    {[]types.Filter{filter("key-name", "k1")}, sorted(instA)},
		"key-name * matches only instances with a key":      {[]types.Filter{filter("key-name", "*")}, sorted(instA)},
		"private-ip-address selects the instance":           {[]types.Filter{filter("private-ip-address", ipA)}, sorted(instA)},
		"availability-zone B selects B":                     {[]types.Filter{filter("availability-zone", zoneB), filter("instance-state-name", "running")}, sorted(instB)},
		"availability-zone A selects A":                     {[]types.Filter{filter("availability-zone", zoneA), filter("instance-state-name", "running")}, sorted(instA)},
		"launch-time in a year long past selects nothing":   {[]types.Filter{filter("launch-time", "1999-*")}, nil},
		"launch-time with the launch year selects all":      {[]types.Filter{filter("launch-time", launchA[:4]+"-*")}, sorted(instA, instB, instC)},
		"tag:Name with a star selects the web servers":      {[]types.Filter{filter("tag:Name", "web-*")}, sorted(instA, instB)},
		"tag:Name with a literal value selects C":           {[]types.Filter{filter("tag:Name", "db")}, sorted(instC)},
		"tag:Name of a key nobody has selects nothing":      {[]types.Filter{filter("tag:Owner", "*")}, nil},
		"tag-key selects instances with the key":            {[]types.Filter{filter("tag-key", "env")}, sorted(instA, instB)},
		"tag-value selects instances with the value":        {[]types.Filter{filter("tag-value", "prod")}, sorted(instA)},
		"tag-value with two values selects either":          {[]types.Filter{filter("tag-value", "prod", "dev")}, sorted(instA, instB)},
		"two filters must both match":                       {[]types.Filter{filter("tag:Name", "web-*"), filter("instance-type", "t3.small")}, sorted(instB)},
		"two filters that exclude each other match nothing": {[]types.Filter{filter("instance-type", "t3.micro"), filter("tag-value", "dev")}, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := a.instanceIDs(g, &ec2.DescribeInstancesInput{Filters: tc.filters})
			g.Expect(got).To(Equal(tc.want))
		})
	}

	t.Run("launch-time with the exact time or ? wildcards selects the instance", func(t *testing.T) {
		g := NewWithT(t)
		for _, v := range []string{launchA, launchA[:len(launchA)-4] + "???Z", launchA[:10] + "T*"} {
			got := a.instanceIDs(g, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("launch-time", v)}})
			g.Expect(got).To(ContainElement(instA), "launch-time %s", v)
		}
	})

	t.Run("an unknown filter is InvalidParameterValue", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("no-such-filter", "x")}})
		e := expectError(g, err, "InvalidParameterValue")
		g.Expect(e.Message).To(ContainSubstring("no-such-filter"))
	})

	t.Run("a terminated instance stays listed as terminated", func(t *testing.T) {
		g := NewWithT(t)
		c := a.describe(g, instC)
		g.Expect(c.State.Name).To(Equal(types.InstanceStateNameTerminated))
		g.Expect(aws.ToInt32(c.State.Code)).To(Equal(int32(48)))
		g.Expect(a.instanceIDs(g, &ec2.DescribeInstancesInput{})).To(Equal(sorted(instA, instB, instC)))
	})
}

func TestDescribeInstancesByIDReturnsThoseInstancesOrNamesTheMissingOnes(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	out := a.runInstances(g, 2)
	one, two := aws.ToString(out.Instances[0].InstanceId), aws.ToString(out.Instances[1].InstanceId)

	t.Run("returns exactly the instances named", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(a.instanceIDs(g, &ec2.DescribeInstancesInput{InstanceIds: []string{two}})).To(Equal([]string{two}))
		g.Expect(a.instanceIDs(g, &ec2.DescribeInstancesInput{InstanceIds: []string{one, two, one}})).To(Equal(sorted(one, two)))
	})
	t.Run("unknown IDs are InvalidInstanceID.NotFound naming each", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{
			InstanceIds: []string{one, "i-0000000000000aaaa", "i-0000000000000bbbb"}})
		e := expectError(g, err, "InvalidInstanceID.NotFound")
		g.Expect(e.Message).To(And(ContainSubstring("i-0000000000000aaaa"), ContainSubstring("i-0000000000000bbbb")))
		g.Expect(e.Message).NotTo(ContainSubstring(one))
	})
	t.Run("a malformed ID is InvalidInstanceID.Malformed", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-xyz"}})
		expectError(g, err, "InvalidInstanceID.Malformed")
	})
	t.Run("MaxResults with InstanceId is InvalidParameterCombination", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{one}, MaxResults: aws.Int32(5)})
		expectError(g, err, "InvalidParameterCombination")
	})
}

func TestDescribeInstancesPagesWalkEveryInstanceOnceAndEndWithoutAToken(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	var launched []string
	for i := 0; i < 3; i++ {
		out := a.runInstances(g, 4, withTags("batch", strconv.Itoa(i)))
		for _, inst := range out.Instances {
			launched = append(launched, aws.ToString(inst.InstanceId))
		}
	}
	g.Expect(launched).To(HaveLen(12))

	var seen []string
	var sizes []int
	var token *string
	for pages := 0; ; pages++ {
		g.Expect(pages).To(BeNumerically("<", 10), "pagination does not end")
		out, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: token})
		g.Expect(err).NotTo(HaveOccurred())
		n := 0
		for _, r := range out.Reservations {
			g.Expect(aws.ToString(r.OwnerId)).To(Equal(a.ID))
			for _, i := range r.Instances {
				seen = append(seen, aws.ToString(i.InstanceId))
				n++
			}
		}
		sizes = append(sizes, n)
		if out.NextToken == nil {
			break
		}
		g.Expect(*out.NextToken).NotTo(BeEmpty())
		token = out.NextToken
	}
	g.Expect(sizes).To(Equal([]int{5, 5, 2}))
	g.Expect(seen).To(ConsistOf(launched), "every instance exactly once")

	t.Run("a page that holds the rest has no NextToken", func(t *testing.T) {
		g := NewWithT(t)
		out, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{
			MaxResults: aws.Int32(5), Filters: []types.Filter{filter("tag:batch", "1")}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out.NextToken).To(BeNil())
		g.Expect(out.Reservations).To(HaveLen(1))
		g.Expect(out.Reservations[0].Instances).To(HaveLen(4))
	})
	t.Run("the SDK's paginator walks all pages", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(a.instanceIDs(g, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})).To(Equal(sorted(launched...)))
	})
	t.Run("a token the server did not issue is InvalidPaginationToken", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: aws.String("garbage")})
		expectError(g, err, "InvalidPaginationToken")
	})
	t.Run("a token used with other filters is InvalidPaginationToken", func(t *testing.T) {
		g := NewWithT(t)
		first, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5),
			Filters: []types.Filter{filter("instance-type", "t3.micro")}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(first.NextToken).NotTo(BeNil())
		_, err = a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: first.NextToken,
			Filters: []types.Filter{filter("instance-type", "t3.micro", "t3.small")}})
		expectError(g, err, "InvalidPaginationToken")
	})
	t.Run("MaxResults below 5 is InvalidParameterValue", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(4)})
		expectError(g, err, "InvalidParameterValue")
	})
}
