package endpoint_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/testgen"
)

func TestRunInstancesLaunchesOneInstanceWithTheKeyUserDataTagsAndZoneAsked(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	_, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("deployer")})
	g.Expect(err).NotTo(HaveOccurred())
	userData := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hello > /tmp/hello\n"))
	before := time.Now().Add(-time.Second)

	out := a.runInstances(g, 1, withKey("deployer"), withZone(zoneA), withTags("Name", "web", "env", "prod"),
		func(in *ec2.RunInstancesInput) { in.UserData = aws.String(userData) })

	g.Expect(ids.Valid(ids.Reservation, aws.ToString(out.ReservationId))).To(BeTrue(), "reservation ID %q", aws.ToString(out.ReservationId))
	g.Expect(aws.ToString(out.OwnerId)).To(Equal(a.ID))
	inst := out.Instances[0]
	id := aws.ToString(inst.InstanceId)
	g.Expect(ids.Valid(ids.Instance, id)).To(BeTrue(), "instance ID %q", id)
	g.Expect(aws.ToString(inst.ImageId)).To(Equal(publicImageID))
	g.Expect(inst.InstanceType).To(Equal(types.InstanceTypeT3Micro))
	g.Expect(inst.State.Name).To(Equal(types.InstanceStateNamePending))
	g.Expect(aws.ToInt32(inst.State.Code)).To(Equal(int32(0)))
	g.Expect(aws.ToInt32(inst.AmiLaunchIndex)).To(Equal(int32(0)))
	g.Expect(aws.ToString(inst.KeyName)).To(Equal("deployer"))
	g.Expect(aws.ToString(inst.Placement.AvailabilityZone)).To(Equal(zoneA))
	g.Expect(tagMap(inst.Tags)).To(Equal(map[string]string{"Name": "web", "env": "prod"}))
	g.Expect(inst.LaunchTime).NotTo(BeNil())
	g.Expect(*inst.LaunchTime).To(BeTemporally(">=", before))
	g.Expect(aws.ToString(inst.ClientToken)).NotTo(BeEmpty(), "the SDK sends a client token of its own")
	g.Expect(aws.ToString(inst.RootDeviceName)).To(Equal("/dev/xvda"))
	g.Expect(inst.Architecture).To(Equal(types.ArchitectureValuesX8664))

	// What the launch made is there to read as soon as it has answered: the instance
	// and its root volume (the endpoint waits for its cache once, after its last write).
	g.Expect(aws.ToString(a.describe(g, id).InstanceId)).To(Equal(id))
	g.Expect(a.volumesOf(g, id)).To(HaveKey("/dev/xvda"), "the root volume, read right after the launch")

	attr, err := a.EC2.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameUserData})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(attr.InstanceId)).To(Equal(id))
	g.Expect(aws.ToString(attr.UserData.Value)).To(Equal(userData))

	a.waitRunning(g, id)
	running := a.describe(g, id)
	g.Expect(running.State.Name).To(Equal(types.InstanceStateNameRunning))
	g.Expect(aws.ToInt32(running.State.Code)).To(Equal(int32(16)))
	ip := aws.ToString(running.PrivateIpAddress)
	g.Expect(ip).To(HavePrefix("172.31."), "an address of the default VPC's default subnet")
	g.Expect(aws.ToString(running.PrivateDnsName)).To(Equal("ip-" + strings.ReplaceAll(ip, ".", "-") + ".test-1.compute.internal"))
	g.Expect(aws.ToString(running.Placement.AvailabilityZone)).To(Equal(zoneA), "the guest runs on a node of the zone asked for")
	g.Expect(aws.ToString(running.KeyName)).To(Equal("deployer"))
	g.Expect(tagMap(running.Tags)).To(Equal(map[string]string{"Name": "web", "env": "prod"}))
}

func TestInstanceLaunchedThroughTheAPIIsAnInstanceObjectNamedByItsID(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g, withType(types.InstanceTypeT3Small), withTags("Name", "api"))

	obj := &koalav1.Instance{}
	g.Expect(k8s.Get(a.ctx, client.ObjectKey{Namespace: a.Namespace, Name: id}, obj)).To(Succeed())
	g.Expect(obj.Spec.ImageID).To(Equal(publicImageID))
	g.Expect(obj.Spec.InstanceType).To(Equal("t3.small"))
	g.Expect(obj.Spec.Tags).To(Equal(koalav1.Tags{"Name": "api"}))
	g.Expect(obj.Spec.State).To(Equal(koalav1.DesiredStateRunning))
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		g.Expect(obj.Status.InstanceID).To(Equal(id))
		g.Expect(obj.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout, poll).Should(Succeed())
}

func TestInstanceCreatedWithKubectlIsDescribedWithAnInstanceID(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	obj := testgen.Instance("db", a.Namespace, publicImageID, testgen.WithType("t3.small"), testgen.WithTags(map[string]string{"Name": "db"}))
	g.Expect(k8s.Create(a.ctx, obj)).To(Succeed())

	var id string
	g.Eventually(func(g Gomega) {
		out, err := a.EC2.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:Name", "db")}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		g.Expect(out.Reservations).To(HaveLen(1))
		g.Expect(out.Reservations[0].Instances).To(HaveLen(1))
		inst := out.Reservations[0].Instances[0]
		id = aws.ToString(inst.InstanceId)
		g.Expect(inst.State.Name).To(Equal(types.InstanceStateNameRunning))
		g.Expect(inst.InstanceType).To(Equal(types.InstanceTypeT3Small))
		g.Expect(aws.ToString(inst.ImageId)).To(Equal(publicImageID))
		g.Expect(ids.Valid(ids.Reservation, aws.ToString(out.Reservations[0].ReservationId))).To(BeTrue())
		g.Expect(aws.ToString(out.Reservations[0].OwnerId)).To(Equal(a.ID))
	}, timeout, poll).Should(Succeed())
	g.Expect(ids.Valid(ids.Instance, id)).To(BeTrue(), "instance ID %q", id)
	g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	g.Expect(obj.Status.InstanceID).To(Equal(id))
	// The ID works wherever an instance ID is taken.
	g.Expect(aws.ToString(a.describe(g, id).InstanceId)).To(Equal(id))
}

func TestRunInstancesWithMaxCountThreeMakesOneReservationOfThreePendingInstances(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	out := a.runInstances(g, 3, withTags("Name", "fleet"))

	rid := aws.ToString(out.ReservationId)
	g.Expect(ids.Valid(ids.Reservation, rid)).To(BeTrue())
	var got []int32
	var idList []string
	for _, inst := range out.Instances {
		got = append(got, aws.ToInt32(inst.AmiLaunchIndex))
		idList = append(idList, aws.ToString(inst.InstanceId))
		g.Expect(inst.State.Name).To(Equal(types.InstanceStateNamePending))
		g.Expect(tagMap(inst.Tags)).To(Equal(map[string]string{"Name": "fleet"}))
	}
	g.Expect(got).To(ConsistOf(int32(0), int32(1), int32(2)))
	g.Expect(a.instanceObjects(g)).To(Equal(3))
	// The zone is chosen at launch, one for the whole reservation, and never changes.
	zone := aws.ToString(out.Instances[0].Placement.AvailabilityZone)
	g.Expect(zone).To(BeElementOf(zoneA, zoneB))
	for _, inst := range out.Instances {
		g.Expect(aws.ToString(inst.Placement.AvailabilityZone)).To(Equal(zone))
	}

	a.waitRunning(g, idList...)
	desc, err := a.EC2.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("reservation-id", rid)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(desc.Reservations).To(HaveLen(1), "the three instances are one reservation")
	g.Expect(aws.ToString(desc.Reservations[0].ReservationId)).To(Equal(rid))
	g.Expect(desc.Reservations[0].Instances).To(HaveLen(3))
	for _, inst := range desc.Reservations[0].Instances {
		g.Expect(inst.State.Name).To(Equal(types.InstanceStateNameRunning))
		g.Expect(aws.ToString(inst.Placement.AvailabilityZone)).To(Equal(zone))
	}
}

func TestRunInstancesWithTheSameClientTokenAndParametersReturnsTheSameInstances(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	token := func(in *ec2.RunInstancesInput) { in.ClientToken = aws.String("retry-me-1") }
	first := a.runInstances(g, 2, token, withTags("Name", "idem"))
	second := a.runInstances(g, 2, token, withTags("Name", "idem"))

	g.Expect(aws.ToString(second.ReservationId)).To(Equal(aws.ToString(first.ReservationId)))
	idsOf := func(out *ec2.RunInstancesOutput) []string {
		var s []string
		for _, i := range out.Instances {
			s = append(s, aws.ToString(i.InstanceId))
			g.Expect(aws.ToString(i.ClientToken)).To(Equal("retry-me-1"))
		}
		return s
	}
	g.Expect(idsOf(second)).To(ConsistOf(idsOf(first)))
	g.Expect(a.instanceObjects(g)).To(Equal(2), "a retry creates nothing")
}

func TestALaunchOfOneThroughTheSDKCostsThreeAPIRoundTrips(t *testing.T) {
	// The SDKs (and the AWS CLI, and Terraform) send a client token with every
	// RunInstances: the endpoint asks the API server once whether the token launched
	// before, then makes the address claim and the root volume at once, then the
	// instance. Asking twice whether it launched before was a fourth round trip.
	// Not parallel: every request the endpoint makes meanwhile is this launch's.
	g := NewWithT(t)
	a := newAccount(t)
	// A launch that comes before the endpoint has seen the new account's default
	// subnets claims no address (the operator places the instance later).
	g.Eventually(func(g Gomega) {
		out, err := a.EC2.DescribeSubnets(a.ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("default-for-az", "true")}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		g.Expect(out.Subnets).To(HaveLen(2), "a default subnet in each zone")
	}, timeout, poll).Should(Succeed())
	before := endpointRequests.count()
	out := a.runInstances(g, 1)
	g.Expect(aws.ToString(out.Instances[0].ClientToken)).NotTo(BeEmpty(), "the SDK sends a client token of its own")
	reqs := endpointRequests.since(before)
	var gets, creates []string
	for _, r := range reqs {
		switch {
		case strings.HasPrefix(r, "GET ") && strings.Contains(r, "/instances/"):
			gets = append(gets, r)
		case strings.HasPrefix(r, "POST "):
			creates = append(creates, r)
		}
	}
	g.Expect(gets).To(HaveLen(1), "one read of the token's instance: %v", reqs)
	g.Expect(creates).To(ConsistOf(ContainSubstring("/networkclaims"), ContainSubstring("/volumes"), ContainSubstring("/instances")),
		"the address claim, the root volume and the instance: %v", reqs)
}

func TestRunInstancesWithTheSameClientTokenAndOtherParametersIsIdempotentParameterMismatch(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	token := func(in *ec2.RunInstancesInput) { in.ClientToken = aws.String("once-only") }
	a.runOne(g, token)

	_, err := a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID),
		InstanceType: types.InstanceTypeT3Small, MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String("once-only")})
	expectError(g, err, "IdempotentParameterMismatch")
	_, err = a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID),
		InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(3), MaxCount: aws.Int32(3), ClientToken: aws.String("once-only")})
	expectError(g, err, "IdempotentParameterMismatch")

	g.Expect(a.instanceObjects(g)).To(Equal(1), "a mismatched retry creates nothing")
}

// withoutValidation drops the SDK's own check of required parameters, so that the
// request reaches the endpoint as a client without that check would send it.
func withoutValidation(o *ec2.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		_, err := s.Initialize.Remove("OperationInputValidation")
		return err
	})
}

func TestRunInstancesRefusesWhatCannotLaunchAndCreatesNothing(t *testing.T) {
	t.Parallel()
	a := newAccount(t)
	cases := map[string]struct {
		edit   func(*ec2.RunInstancesInput)
		code   string
		status int
	}{
		"an image that does not exist is InvalidAMIID.NotFound": {
			edit: withImage("ami-0000000000000dead"), code: "InvalidAMIID.NotFound"},
		"a malformed image ID is InvalidAMIID.Malformed": {
			edit: withImage("ami-not-hex"), code: "InvalidAMIID.Malformed"},
		"an unknown instance type is InvalidParameterValue": {
			edit: withType("t9.enormous"), code: "InvalidParameterValue"},
		"an unknown key pair is InvalidKeyPair.NotFound": {
			edit: withKey("nobody-has-this-key"), code: "InvalidKeyPair.NotFound"},
		"a zone the region does not have is InvalidParameterValue": {
			edit: withZone("test-1z"), code: "InvalidParameterValue"},
		"MinCount greater than MaxCount is InvalidParameterValue": {
			edit: func(in *ec2.RunInstancesInput) { in.MinCount, in.MaxCount = aws.Int32(3), aws.Int32(2) }, code: "InvalidParameterValue"},
		"a missing MinCount is MissingParameter": {
			edit: func(in *ec2.RunInstancesInput) { in.MinCount = nil }, code: "MissingParameter"},
		"DryRun of a launch that would succeed is DryRunOperation with HTTP 412": {
			edit: func(in *ec2.RunInstancesInput) { in.DryRun = aws.Bool(true) }, code: "DryRunOperation", status: http.StatusPreconditionFailed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			in := &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), InstanceType: types.InstanceTypeT3Micro,
				MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
			tc.edit(in)
			_, err := a.NoRetry.RunInstances(a.ctx, in, withoutValidation)
			e := expectError(g, err, tc.code)
			if tc.status != 0 {
				g.Expect(e.Status).To(Equal(tc.status))
			} else {
				g.Expect(e.Status).To(Equal(http.StatusBadRequest))
			}
		})
	}
	g := NewWithT(t)
	g.Expect(a.instanceObjects(g)).To(BeZero(), "no refused launch leaves an instance behind")
	out, err := a.EC2.DescribeInstances(a.ctx, &ec2.DescribeInstancesInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.Reservations).To(BeEmpty())
}

func TestRunInstancesAcceptsUserDataBase64WrappedInLines(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	script := []byte(strings.Repeat("#!/bin/sh\necho a line long enough to wrap\n", 8))
	// What MIME encoders (Python's base64.encodebytes, Java's MIME encoder) produce.
	flat := base64.StdEncoding.EncodeToString(script)
	var wrapped strings.Builder
	for i := 0; i < len(flat); i += 76 {
		wrapped.WriteString(flat[i:min(i+76, len(flat))])
		wrapped.WriteString("\n")
	}
	id := a.runOne(g, func(in *ec2.RunInstancesInput) { in.UserData = aws.String(wrapped.String()) })

	attr, err := a.EC2.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{
		InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameUserData})
	g.Expect(err).NotTo(HaveOccurred())
	got, err := base64.StdEncoding.DecodeString(aws.ToString(attr.UserData.Value))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(script))
	a.waitRunning(g, id)
}
