package endpoint_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

func expectChange(g Gomega, changes []types.InstanceStateChange, id string, previous, current types.InstanceStateName, prevCode, curCode int32) {
	g.ExpectWithOffset(1, changes).To(HaveLen(1))
	c := changes[0]
	g.ExpectWithOffset(1, aws.ToString(c.InstanceId)).To(Equal(id))
	g.ExpectWithOffset(1, c.PreviousState.Name).To(Equal(previous))
	g.ExpectWithOffset(1, aws.ToInt32(c.PreviousState.Code)).To(Equal(prevCode))
	g.ExpectWithOffset(1, c.CurrentState.Name).To(Equal(current))
	g.ExpectWithOffset(1, aws.ToInt32(c.CurrentState.Code)).To(Equal(curCode))
}

func TestStopStartRebootTerminateReportEachTransitionAndTheWaitersSucceed(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g)
	a.waitRunning(g, id)
	ids := []string{id}

	_, err := a.NoRetry.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: ids, DryRun: aws.Bool(true)})
	g.Expect(asAPIError(err)).To(Equal(apiError{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set.", Status: 412}))
	_, err = a.NoRetry.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids, DryRun: aws.Bool(true)})
	expectError(g, err, "DryRunOperation")
	g.Consistently(func(g Gomega) {
		g.Expect(a.describe(g, id).State.Name).To(Equal(types.InstanceStateNameRunning))
	}, 300*time.Millisecond, poll).Should(Succeed(), "a dry run changes nothing")

	stop, err := a.EC2.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	g.Expect(err).NotTo(HaveOccurred())
	expectChange(g, stop.StoppingInstances, id, types.InstanceStateNameRunning, types.InstanceStateNameStopping, 16, 64)
	// The state filter, answered from an index, sees the change as soon as the call
	// returns; running no longer finds it.
	g.Expect(a.instanceIDs(g, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name", "stopping", "stopped")}})).To(Equal(ids))
	g.Expect(a.instanceIDs(g, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name", "running")}})).To(BeEmpty())
	a.waitStopped(g, id)
	g.Expect(aws.ToInt32(a.describe(g, id).State.Code)).To(Equal(int32(80)))

	again, err := a.EC2.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	g.Expect(err).NotTo(HaveOccurred(), "stopping a stopped instance is allowed")
	expectChange(g, again.StoppingInstances, id, types.InstanceStateNameStopped, types.InstanceStateNameStopped, 80, 80)

	start, err := a.EC2.StartInstances(a.ctx, &ec2.StartInstancesInput{InstanceIds: ids})
	g.Expect(err).NotTo(HaveOccurred())
	expectChange(g, start.StartingInstances, id, types.InstanceStateNameStopped, types.InstanceStateNamePending, 80, 0)
	a.waitRunning(g, id)
	g.Expect(aws.ToString(a.describe(g, id).PrivateIpAddress)).To(HavePrefix("172.31."), "an address of the default VPC's default subnet")

	_, err = a.EC2.RebootInstances(a.ctx, &ec2.RebootInstancesInput{InstanceIds: ids})
	g.Expect(err).NotTo(HaveOccurred())
	obj := &koalav1.Instance{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKey{Namespace: a.Namespace, Name: id}, obj)).To(Succeed())
		g.Expect(obj.Status.LastRebootRequest).NotTo(BeEmpty(), "the operator acted on the reboot")
	}, timeout, poll).Should(Succeed())
	a.waitRunning(g, id)

	term, err := a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	g.Expect(err).NotTo(HaveOccurred())
	expectChange(g, term.TerminatingInstances, id, types.InstanceStateNameRunning, types.InstanceStateNameShuttingDown, 16, 32)
	a.waitTerminated(g, id)
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(a.ctx, client.ObjectKey{Namespace: a.Namespace, Name: id}, &kubevirtv1.VirtualMachine{}))
	}, timeout, poll).Should(BeTrue(), "the VM of a terminated instance is deleted")

	twice, err := a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	g.Expect(err).NotTo(HaveOccurred(), "terminating is idempotent")
	expectChange(g, twice.TerminatingInstances, id, types.InstanceStateNameTerminated, types.InstanceStateNameTerminated, 48, 48)

	_, err = a.NoRetry.StartInstances(a.ctx, &ec2.StartInstancesInput{InstanceIds: ids})
	expectError(g, err, "IncorrectInstanceState")
	_, err = a.NoRetry.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	expectError(g, err, "IncorrectInstanceState")
	_, err = a.NoRetry.RebootInstances(a.ctx, &ec2.RebootInstancesInput{InstanceIds: ids})
	expectError(g, err, "IncorrectInstanceState")
	g.Expect(a.describe(g, id).State.Name).To(Equal(types.InstanceStateNameTerminated))
}

func TestStopInstancesOfAPendingInstanceIsIncorrectInstanceState(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	// The guest takes about half a second to boot, so the instance is usually still
	// pending when the stop arrives; on a loaded machine it may have booted already.
	// Then the stop is allowed (of a running instance) and the launch is tried again:
	// a stop that the endpoint let through for an instance it saw pending still fails.
	for attempt := 1; ; attempt++ {
		id := a.runOne(g)
		out, err := a.NoRetry.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
		if err == nil {
			g.Expect(out.StoppingInstances).To(HaveLen(1))
			g.Expect(out.StoppingInstances[0].PreviousState.Name).To(Equal(types.InstanceStateNameRunning), "a pending instance was stopped")
			g.Expect(attempt).To(BeNumerically("<", 5), "the guest always booted before the stop arrived")
			continue
		}
		expectError(g, err, "IncorrectInstanceState")
		a.waitRunning(g, id)
		return
	}
}

func TestStopAndTerminateOfUnknownInstancesAreNotFoundAndChangeNothing(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g)
	a.waitRunning(g, id)
	_, err := a.NoRetry.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id, "i-00000000000000042"}})
	e := expectError(g, err, "InvalidInstanceID.NotFound")
	g.Expect(e.Message).To(ContainSubstring("i-00000000000000042"))
	_, err = a.NoRetry.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-bad"}})
	expectError(g, err, "InvalidInstanceID.Malformed")
	g.Consistently(func(g Gomega) {
		g.Expect(a.describe(g, id).State.Name).To(Equal(types.InstanceStateNameRunning))
	}, 300*time.Millisecond, poll).Should(Succeed(), "a refused call changes no instance it names")
}

func TestTerminateWithDisableApiTerminationIsRefusedUntilModifyInstanceAttributeClearsIt(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g, func(in *ec2.RunInstancesInput) { in.DisableApiTermination = aws.Bool(true) })
	a.waitRunning(g, id)

	_, err := a.NoRetry.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	expectError(g, err, "OperationNotPermitted")
	g.Expect(a.describe(g, id).State.Name).To(Equal(types.InstanceStateNameRunning))

	// Terraform's delete path: clear the attribute, terminate, wait.
	_, err = a.EC2.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(false)}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.TerminateInstances(a.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitTerminated(g, id)
}

func TestDescribeInstanceStatusShowsRunningInstancesUnlessIncludeAllInstances(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	running := a.runOne(g, withZone(zoneB))
	stopped := a.runOne(g)
	a.waitRunning(g, running, stopped)
	_, err := a.EC2.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{stopped}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitStopped(g, stopped)

	w := ec2.NewInstanceStatusOkWaiter(a.EC2, func(o *ec2.InstanceStatusOkWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 500*time.Millisecond
	})
	g.Expect(w.Wait(a.ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{running}}, timeout)).To(Succeed())

	def, err := a.EC2.DescribeInstanceStatus(a.ctx, &ec2.DescribeInstanceStatusInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(def.InstanceStatuses).To(HaveLen(1), "only the running instance by default")
	st := def.InstanceStatuses[0]
	g.Expect(aws.ToString(st.InstanceId)).To(Equal(running))
	g.Expect(aws.ToString(st.AvailabilityZone)).To(Equal(zoneB))
	g.Expect(st.InstanceState.Name).To(Equal(types.InstanceStateNameRunning))
	g.Expect(st.InstanceStatus.Status).To(Equal(types.SummaryStatusOk))
	g.Expect(st.SystemStatus.Status).To(Equal(types.SummaryStatusOk))
	g.Expect(st.InstanceStatus.Details).To(ContainElement(types.InstanceStatusDetails{
		Name: types.StatusNameReachability, Status: types.StatusTypePassed}))

	all, err := a.EC2.DescribeInstanceStatus(a.ctx, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(all.InstanceStatuses).To(HaveLen(2))
	states := map[string]types.InstanceStateName{}
	for _, s := range all.InstanceStatuses {
		states[aws.ToString(s.InstanceId)] = s.InstanceState.Name
		if aws.ToString(s.InstanceId) == stopped {
			g.Expect(s.InstanceStatus.Status).To(Equal(types.SummaryStatusNotApplicable))
		}
	}
	g.Expect(states).To(Equal(map[string]types.InstanceStateName{running: types.InstanceStateNameRunning, stopped: types.InstanceStateNameStopped}))

	onlyStopped, err := a.EC2.DescribeInstanceStatus(a.ctx, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true),
		Filters: []types.Filter{filter("instance-state-name", "stopped")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(onlyStopped.InstanceStatuses).To(HaveLen(1))
	g.Expect(aws.ToString(onlyStopped.InstanceStatuses[0].InstanceId)).To(Equal(stopped))
}

func TestModifyInstanceTypeIsRefusedWhileRunningAndChangesTheVMWhileStopped(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g)
	a.waitRunning(g, id)
	resize := &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), InstanceType: &types.AttributeValue{Value: aws.String("t3.small")}}

	_, err := a.NoRetry.ModifyInstanceAttribute(a.ctx, resize)
	expectError(g, err, "IncorrectInstanceState")

	_, err = a.EC2.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitStopped(g, id)
	_, err = a.NoRetry.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		InstanceType: &types.AttributeValue{Value: aws.String("t9.enormous")}})
	expectError(g, err, "InvalidParameterValue")
	_, err = a.EC2.ModifyInstanceAttribute(a.ctx, resize)
	g.Expect(err).NotTo(HaveOccurred())

	attr, err := a.EC2.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id),
		Attribute: types.InstanceAttributeNameInstanceType})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToString(attr.InstanceType.Value)).To(Equal("t3.small"))
	g.Expect(a.describe(g, id).InstanceType).To(Equal(types.InstanceTypeT3Small))
	vm := &kubevirtv1.VirtualMachine{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(a.ctx, client.ObjectKey{Namespace: a.Namespace, Name: id}, vm)).To(Succeed())
		g.Expect(vm.Spec.Instancetype).NotTo(BeNil())
		g.Expect(vm.Spec.Instancetype.Name).To(Equal("t3.small"))
	}, timeout, poll).Should(Succeed())

	_, err = a.EC2.StartInstances(a.ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitRunning(g, id)
	g.Expect(a.describe(g, id).InstanceType).To(Equal(types.InstanceTypeT3Small))
}

func TestInstanceAttributesTerraformReadsRoundTripThroughModifyInstanceAttribute(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	id := a.runOne(g)
	a.waitRunning(g, id)
	describe := func(attr types.InstanceAttributeName) *ec2.DescribeInstanceAttributeOutput {
		out, err := a.EC2.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: attr})
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		g.ExpectWithOffset(1, aws.ToString(out.InstanceId)).To(Equal(id))
		return out
	}
	modify := func(in *ec2.ModifyInstanceAttributeInput) {
		in.InstanceId = aws.String(id)
		_, err := a.EC2.ModifyInstanceAttribute(a.ctx, in)
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	}

	// The defaults of a plain launch.
	g.Expect(aws.ToBool(describe(types.InstanceAttributeNameDisableApiStop).DisableApiStop.Value)).To(BeFalse())
	g.Expect(aws.ToBool(describe(types.InstanceAttributeNameDisableApiTermination).DisableApiTermination.Value)).To(BeFalse())
	g.Expect(aws.ToString(describe(types.InstanceAttributeNameInstanceInitiatedShutdownBehavior).InstanceInitiatedShutdownBehavior.Value)).To(Equal("stop"))
	g.Expect(aws.ToString(describe(types.InstanceAttributeNameUserData).UserData.Value)).To(BeEmpty())

	modify(&ec2.ModifyInstanceAttributeInput{DisableApiStop: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
	g.Expect(aws.ToBool(describe(types.InstanceAttributeNameDisableApiStop).DisableApiStop.Value)).To(BeTrue())
	_, err := a.NoRetry.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	expectError(g, err, "OperationNotPermitted")
	modify(&ec2.ModifyInstanceAttributeInput{DisableApiStop: &types.AttributeBooleanValue{Value: aws.Bool(false)}})
	g.Expect(aws.ToBool(describe(types.InstanceAttributeNameDisableApiStop).DisableApiStop.Value)).To(BeFalse())

	modify(&ec2.ModifyInstanceAttributeInput{DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
	g.Expect(aws.ToBool(describe(types.InstanceAttributeNameDisableApiTermination).DisableApiTermination.Value)).To(BeTrue())

	modify(&ec2.ModifyInstanceAttributeInput{InstanceInitiatedShutdownBehavior: &types.AttributeValue{Value: aws.String("terminate")}})
	g.Expect(aws.ToString(describe(types.InstanceAttributeNameInstanceInitiatedShutdownBehavior).InstanceInitiatedShutdownBehavior.Value)).To(Equal("terminate"))
	// The Attribute/Value form that the CLI's --attribute takes.
	modify(&ec2.ModifyInstanceAttributeInput{Attribute: types.InstanceAttributeNameInstanceInitiatedShutdownBehavior, Value: aws.String("stop")})
	g.Expect(aws.ToString(describe(types.InstanceAttributeNameInstanceInitiatedShutdownBehavior).InstanceInitiatedShutdownBehavior.Value)).To(Equal("stop"))

	// User data changes only while stopped; the SDK base64-encodes the blob.
	script := []byte("#cloud-config\nhostname: changed\n")
	_, err = a.NoRetry.ModifyInstanceAttribute(a.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id),
		UserData: &types.SecureBlobAttributeValue{Value: script}})
	expectError(g, err, "IncorrectInstanceState")
	_, err = a.EC2.StopInstances(a.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	a.waitStopped(g, id)
	modify(&ec2.ModifyInstanceAttributeInput{UserData: &types.SecureBlobAttributeValue{Value: script}})
	g.Expect(aws.ToString(describe(types.InstanceAttributeNameUserData).UserData.Value)).To(Equal(base64.StdEncoding.EncodeToString(script)))

	_, err = a.NoRetry.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String("i-0000000000000beef"),
		Attribute: types.InstanceAttributeNameUserData})
	expectError(g, err, "InvalidInstanceID.NotFound")
}

func TestDescribeInstanceCreditSpecificationsShowsT3InstancesUnlimited(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	t3 := a.runOne(g)
	a.runOne(g, withType(types.InstanceTypeM5Large))

	out, err := a.EC2.DescribeInstanceCreditSpecifications(a.ctx, &ec2.DescribeInstanceCreditSpecificationsInput{InstanceIds: []string{t3}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.InstanceCreditSpecifications).To(HaveLen(1))
	g.Expect(aws.ToString(out.InstanceCreditSpecifications[0].InstanceId)).To(Equal(t3))
	g.Expect(aws.ToString(out.InstanceCreditSpecifications[0].CpuCredits)).To(Equal("unlimited"))

	all, err := a.EC2.DescribeInstanceCreditSpecifications(a.ctx, &ec2.DescribeInstanceCreditSpecificationsInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(all.InstanceCreditSpecifications).To(HaveLen(1), "only burstable instances have credits")
	g.Expect(aws.ToString(all.InstanceCreditSpecifications[0].InstanceId)).To(Equal(t3))
}

func TestTerraformsReadPathOfARunningT3MicroSucceeds(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)

	// Create: DescribeImages for the root device, RunInstances, wait, CreateTags.
	imgs, err := a.EC2.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{publicImageID}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(imgs.Images).To(HaveLen(1))
	g.Expect(aws.ToString(imgs.Images[0].RootDeviceName)).To(Equal("/dev/xvda"))
	id := a.runOne(g, func(in *ec2.RunInstancesInput) { in.ClientToken = aws.String("terraform-20260101000000000000000001") })
	a.waitRunning(g, id)
	_, err = a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("tf")}}})
	g.Expect(err).NotTo(HaveOccurred())

	// Refresh, each call fatal to Terraform if it fails.
	inst := a.describe(g, id)
	g.Expect(inst.State.Name).To(Equal(types.InstanceStateNameRunning))
	g.Expect(inst.InstanceType).To(Equal(types.InstanceTypeT3Micro))

	it, err := a.EC2.DescribeInstanceTypes(a.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{inst.InstanceType}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(it.InstanceTypes).To(HaveLen(1))
	g.Expect(aws.ToBool(it.InstanceTypes[0].BurstablePerformanceSupported)).To(BeTrue())
	g.Expect(aws.ToInt32(it.InstanceTypes[0].VCpuInfo.DefaultVCpus)).To(Equal(int32(2)))
	g.Expect(aws.ToInt64(it.InstanceTypes[0].MemoryInfo.SizeInMiB)).To(Equal(int64(1024)))

	tags, err := a.EC2.DescribeTags(a.ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("resource-id", id), filter("key", "Name")}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tags.Tags).To(Equal([]types.TagDescription{{ResourceId: aws.String(id), ResourceType: types.ResourceTypeInstance,
		Key: aws.String("Name"), Value: aws.String("tf")}}))

	for _, attr := range []types.InstanceAttributeName{types.InstanceAttributeNameDisableApiStop, types.InstanceAttributeNameDisableApiTermination,
		types.InstanceAttributeNameUserData, types.InstanceAttributeNameInstanceInitiatedShutdownBehavior} {
		out, err := a.EC2.DescribeInstanceAttribute(a.ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: attr})
		g.Expect(err).NotTo(HaveOccurred(), "attribute %s", attr)
		g.Expect(aws.ToString(out.InstanceId)).To(Equal(id))
	}

	credits, err := a.EC2.DescribeInstanceCreditSpecifications(a.ctx, &ec2.DescribeInstanceCreditSpecificationsInput{InstanceIds: []string{id}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(credits.InstanceCreditSpecifications).To(HaveLen(1))
	g.Expect(aws.ToString(credits.InstanceCreditSpecifications[0].CpuCredits)).To(Equal("unlimited"))
}
