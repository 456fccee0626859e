//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// sdkClient is an aws-sdk-go-v2 EC2 client with the settings of the stack's .koala/env.
// The configuration is built from them directly, so that neither the test process's
// environment nor the user's ~/.aws is read.
func (s *stack) sdkClient() *ec2.Client {
	return ec2.NewFromConfig(aws.Config{
		Region:       s.vars["AWS_DEFAULT_REGION"],
		BaseEndpoint: aws.String(s.vars["AWS_ENDPOINT_URL"]),
		Credentials:  credentials.NewStaticCredentialsProvider(s.vars["AWS_ACCESS_KEY_ID"], s.vars["AWS_SECRET_ACCESS_KEY"], ""),
	})
}

// Waiters poll every second instead of every 15 s: what they accept is the same.
const (
	waiterMinDelay = time.Second
	waiterMaxDelay = 2 * time.Second
	waitFor        = 2 * time.Minute
)

func TestSDKLaunchesWaitsDescribesStopsStartsAndTerminatesWithWaiters(t *testing.T) {
	t.Parallel()
	s := suite.shared
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := s.sdkClient()

	images, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"amazon"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{imageName}}},
	})
	if err != nil || len(images.Images) != 1 {
		t.Fatalf("DescribeImages %s: %v %+v", imageName, err, images)
	}
	image := images.Images[0]
	itypes, err := client.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceTypeT3Micro}})
	if err != nil || len(itypes.InstanceTypes) != 1 {
		t.Fatalf("DescribeInstanceTypes t3.micro: %v %+v", err, itypes)
	}
	vcpu := itypes.InstanceTypes[0].VCpuInfo
	zones, err := client.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var zoneNames []string
	for _, z := range zones.AvailabilityZones {
		zoneNames = append(zoneNames, aws.ToString(z.ZoneName))
	}

	token := uniqueName("sdk")
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId:      image.ImageId,
		InstanceType: types.InstanceTypeT3Micro,
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
		ClientToken:  aws.String(token),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeInstance,
			Tags:         []types.Tag{{Key: aws.String("Name"), Value: aws.String(token)}},
		}},
	})
	if err != nil || len(run.Instances) != 1 {
		t.Fatalf("RunInstances: %v %+v", err, run)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	ids := []string{id}
	if got := run.Instances[0].State; got == nil || aws.ToInt32(got.Code) != 0 || got.Name != types.InstanceStateNamePending {
		t.Errorf("RunInstances answered state %+v, want 0/pending", got)
	}
	t.Cleanup(func() {
		_, _ = client.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: ids})
	})

	running := ec2.NewInstanceRunningWaiter(client, func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = waiterMinDelay, waiterMaxDelay
	})
	if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, waitFor); err != nil {
		t.Fatalf("InstanceRunningWaiter: %v", err)
	}

	describe := func() (types.Reservation, types.Instance) {
		t.Helper()
		out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
			t.Fatalf("DescribeInstances %s: %v %+v", id, err, out)
		}
		return out.Reservations[0], out.Reservations[0].Instances[0]
	}
	res, inst := describe()
	check := func(field string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("DescribeInstances %s: %s is %v, want %v", id, field, got, want)
		}
	}
	check("ReservationId", aws.ToString(res.ReservationId), aws.ToString(run.ReservationId))
	check("OwnerId", aws.ToString(res.OwnerId), accountID)
	check("InstanceId", aws.ToString(inst.InstanceId), id)
	check("ImageId", aws.ToString(inst.ImageId), aws.ToString(image.ImageId))
	check("State.Code", aws.ToInt32(inst.State.Code), int32(16))
	check("State.Name", inst.State.Name, types.InstanceStateNameRunning)
	ip := aws.ToString(inst.PrivateIpAddress)
	if !ipv4Pattern.MatchString(ip) {
		t.Errorf("DescribeInstances %s: PrivateIpAddress is %q, want an IPv4 address", id, ip)
	}
	check("PrivateDnsName", aws.ToString(inst.PrivateDnsName), "ip-"+strings.ReplaceAll(ip, ".", "-")+"."+region+".compute.internal")
	check("InstanceType", inst.InstanceType, types.InstanceTypeT3Micro)
	if lt := aws.ToTime(inst.LaunchTime); time.Since(lt) > 10*time.Minute || time.Until(lt) > time.Minute {
		t.Errorf("DescribeInstances %s: LaunchTime is %v, want the time of the launch", id, lt)
	}
	if inst.Placement == nil || !slices.Contains(zoneNames, aws.ToString(inst.Placement.AvailabilityZone)) {
		t.Errorf("DescribeInstances %s: Placement is %+v, want a zone of %v", id, inst.Placement, zoneNames)
	}
	if len(inst.Tags) != 1 || aws.ToString(inst.Tags[0].Key) != "Name" || aws.ToString(inst.Tags[0].Value) != token {
		t.Errorf("DescribeInstances %s: Tags are %+v, want Name=%s", id, inst.Tags, token)
	}
	check("AmiLaunchIndex", aws.ToInt32(inst.AmiLaunchIndex), int32(0))
	check("Architecture", inst.Architecture, image.Architecture)
	check("RootDeviceName", aws.ToString(inst.RootDeviceName), aws.ToString(image.RootDeviceName))
	check("RootDeviceType", inst.RootDeviceType, types.DeviceTypeEbs)
	check("VirtualizationType", inst.VirtualizationType, types.VirtualizationTypeHvm)
	check("Hypervisor", inst.Hypervisor, types.HypervisorTypeXen)
	check("ClientToken", aws.ToString(inst.ClientToken), token)
	// The stack's account has a default VPC: the instance is in its default group.
	check("number of SecurityGroups", len(inst.SecurityGroups), 1)
	if len(inst.SecurityGroups) == 1 {
		check("SecurityGroups[0].GroupName", aws.ToString(inst.SecurityGroups[0].GroupName), "default")
	}
	check("number of ProductCodes", len(inst.ProductCodes), 0)
	if inst.Monitoring == nil || inst.Monitoring.State != types.MonitoringStateDisabled {
		t.Errorf("DescribeInstances %s: Monitoring is %+v, want disabled", id, inst.Monitoring)
	}
	if c := inst.CpuOptions; c == nil || aws.ToInt32(c.CoreCount) != aws.ToInt32(vcpu.DefaultCores) || aws.ToInt32(c.ThreadsPerCore) != aws.ToInt32(vcpu.DefaultThreadsPerCore) {
		t.Errorf("DescribeInstances %s: CpuOptions is %s, want t3.micro's %d cores x %d threads as DescribeInstanceTypes says",
			id, cpuOptions(c), aws.ToInt32(vcpu.DefaultCores), aws.ToInt32(vcpu.DefaultThreadsPerCore))
	}
	if m := inst.MetadataOptions; m == nil || m.State != types.InstanceMetadataOptionsStateApplied || m.HttpEndpoint != types.InstanceMetadataEndpointStateEnabled {
		t.Errorf("DescribeInstances %s: MetadataOptions is %+v, want applied and enabled", id, m)
	}

	// Stop: stopping at once, then stopped, keeping its private address as in EC2.
	stop, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	expectChange(t, "StopInstances", stop.StoppingInstances, types.InstanceStateNameRunning, types.InstanceStateNameStopping)
	stopped := ec2.NewInstanceStoppedWaiter(client, func(o *ec2.InstanceStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = waiterMinDelay, waiterMaxDelay
	})
	if err := stopped.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, waitFor); err != nil {
		t.Fatalf("InstanceStoppedWaiter: %v", err)
	}
	_, inst = describe()
	check("State.Code when stopped", aws.ToInt32(inst.State.Code), int32(80))
	check("PrivateIpAddress when stopped", aws.ToString(inst.PrivateIpAddress), ip)
	if inst.StateReason == nil || aws.ToString(inst.StateReason.Code) != "Client.UserInitiatedShutdown" {
		t.Errorf("DescribeInstances %s: StateReason when stopped by the user is %+v, want Client.UserInitiatedShutdown", id, inst.StateReason)
	}

	start, err := client.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("StartInstances: %v", err)
	}
	expectChange(t, "StartInstances", start.StartingInstances, types.InstanceStateNameStopped, types.InstanceStateNamePending)
	if err := running.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, waitFor); err != nil {
		t.Fatalf("InstanceRunningWaiter after StartInstances: %v", err)
	}
	_, inst = describe()
	check("State.Code when started again", aws.ToInt32(inst.State.Code), int32(16))
	// On the pod network an instance gets a new address each time it starts, as any
	// KubeVirt VM there does (EC2 would keep it: stable addresses come with Koala's own
	// subnets). It must be a new, real address, reported once the guest runs again.
	if again := aws.ToString(inst.PrivateIpAddress); net.ParseIP(again).To4() == nil {
		t.Errorf("PrivateIpAddress after a stop and a start is %q, want an IPv4 address", again)
	}

	term, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("TerminateInstances: %v", err)
	}
	expectChange(t, "TerminateInstances", term.TerminatingInstances, types.InstanceStateNameRunning, types.InstanceStateNameShuttingDown)
	terminated := ec2.NewInstanceTerminatedWaiter(client, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = waiterMinDelay, waiterMaxDelay
	})
	if err := terminated.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, waitFor); err != nil {
		t.Fatalf("InstanceTerminatedWaiter: %v", err)
	}
	_, inst = describe()
	check("State.Code when terminated", aws.ToInt32(inst.State.Code), int32(48))
	// Terminating again is not an error (EC2 is idempotent here).
	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Errorf("TerminateInstances of a terminated instance: %v", err)
	}

	_, err = client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidInstanceID.NotFound" || apiErr.ErrorMessage() == "" {
		t.Errorf("DescribeInstances of a missing instance: %v, want the API error InvalidInstanceID.NotFound with a message", err)
	}
}

// expectChange checks a state change answered by Stop/Start/TerminateInstances.
func expectChange(t *testing.T, call string, changes []types.InstanceStateChange, from, to types.InstanceStateName) {
	t.Helper()
	if len(changes) != 1 || changes[0].PreviousState == nil || changes[0].CurrentState == nil ||
		changes[0].PreviousState.Name != from || changes[0].CurrentState.Name != to {
		t.Errorf("%s answered %s, want %s -> %s", call, stateChanges(changes), from, to)
	}
}

func stateChanges(changes []types.InstanceStateChange) string {
	var out []string
	for _, c := range changes {
		var from, to types.InstanceStateName
		if c.PreviousState != nil {
			from = c.PreviousState.Name
		}
		if c.CurrentState != nil {
			to = c.CurrentState.Name
		}
		out = append(out, aws.ToString(c.InstanceId)+": "+string(from)+" -> "+string(to))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func cpuOptions(c *types.CpuOptions) string {
	if c == nil {
		return "missing"
	}
	return fmt.Sprintf("%d cores x %d threads", aws.ToInt32(c.CoreCount), aws.ToInt32(c.ThreadsPerCore))
}
