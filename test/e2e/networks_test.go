//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestAWSCLINetworksFromVPCToElasticIP walks what a user does with the AWS CLI to put
// an instance on a network of their own: a VPC, a subnet, a security group with rules,
// an instance with a chosen address, an Elastic IP on it; and the errors EC2 gives for
// what is in use.
func TestAWSCLINetworksFromVPCToElasticIP(t *testing.T) {
	requireTools(t, "aws", "kubectl")
	t.Parallel()
	s := suite.shared
	image := s.imageID(t)

	// The account has a default VPC with a default subnet per zone, as in EC2.
	def := s.awsText(t, "describe-vpcs", "--filters", "Name=is-default,Values=true", "--query", "Vpcs[0].CidrBlock")
	if def != "172.31.0.0/16" {
		t.Errorf("the default VPC has CIDR %q, want 172.31.0.0/16", def)
	}

	vpc := s.awsText(t, "create-vpc", "--cidr-block", "10.60.0.0/16", "--query", "Vpc.VpcId")
	if !strings.HasPrefix(vpc, "vpc-") {
		t.Fatalf("create-vpc answered %q", vpc)
	}
	s.wait(t, "vpc-available", "--vpc-ids", vpc)
	s.expectEC2Error(t, "InvalidVpc.Range", "create-vpc", "--cidr-block", "10.0.0.0/8")

	zone := s.awsText(t, "describe-availability-zones", "--query", "AvailabilityZones[0].ZoneName")
	subnet := s.awsText(t, "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.60.1.0/28", "--availability-zone", zone, "--query", "Subnet.SubnetId")
	if !strings.HasPrefix(subnet, "subnet-") {
		t.Fatalf("create-subnet answered %q", subnet)
	}
	s.wait(t, "subnet-available", "--subnet-ids", subnet)
	s.expectEC2Error(t, "InvalidSubnet.Range", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.61.0.0/24")
	s.expectEC2Error(t, "InvalidSubnet.Conflict", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.60.1.0/24")
	// A /28 has 16 addresses, of which EC2 reserves five.
	if free := s.awsText(t, "describe-subnets", "--subnet-ids", subnet, "--query", "Subnets[0].AvailableIpAddressCount"); free != "11" {
		t.Errorf("a new /28 has %s free addresses, want 11", free)
	}

	sg := s.awsText(t, "create-security-group", "--group-name", "web", "--description", "web", "--vpc-id", vpc, "--query", "GroupId")
	s.mustRun(t, "aws", "ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	s.mustRun(t, "aws", "ec2", "authorize-security-group-ingress", "--group-id", sg,
		"--ip-permissions", "IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=10.0.0.0/8,Description=https}]")
	s.expectEC2Error(t, "InvalidPermission.Duplicate", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	s.expectEC2Error(t, "InvalidGroup.Duplicate", "create-security-group", "--group-name", "web", "--description", "again", "--vpc-id", vpc)
	if n := s.awsText(t, "describe-security-group-rules", "--filters", "Name=group-id,Values="+sg, "--query", "length(SecurityGroupRules[?IsEgress==`false`])"); n != "2" {
		t.Errorf("the group has %s ingress rules, want 2", n)
	}

	id := s.awsText(t, "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--subnet-id", subnet,
		"--security-group-ids", sg, "--private-ip-address", "10.60.1.10", "--query", "Instances[0].InstanceId")
	t.Cleanup(func() { s.run(t, "", "aws", "ec2", "terminate-instances", "--instance-ids", id) })
	s.waitForState(t, "running", id)
	if ip := s.awsText(t, "describe-instances", "--instance-ids", id, "--query", "Reservations[0].Instances[0].PrivateIpAddress"); ip != "10.60.1.10" {
		t.Errorf("the instance has address %q, want the one asked for", ip)
	}
	s.expectEC2Error(t, "InvalidIPAddress.InUse", "run-instances", "--image-id", image, "--subnet-id", subnet, "--private-ip-address", "10.60.1.10")
	if got := s.awsText(t, "describe-instances", "--filters", "Name=subnet-id,Values="+subnet, "Name=instance.group-id,Values="+sg,
		"--query", "Reservations[].Instances[].InstanceId"); got != id {
		t.Errorf("filtering by subnet and group finds %q, want %s", got, id)
	}
	s.expectEC2Error(t, "DependencyViolation", "delete-security-group", "--group-id", sg)
	s.expectEC2Error(t, "DependencyViolation", "delete-subnet", "--subnet-id", subnet)
	s.expectEC2Error(t, "DependencyViolation", "delete-vpc", "--vpc-id", vpc)

	// The address survives a stop and a start.
	s.mustRun(t, "aws", "ec2", "stop-instances", "--instance-ids", id)
	s.waitForState(t, "stopped", id)
	s.mustRun(t, "aws", "ec2", "start-instances", "--instance-ids", id)
	s.waitForState(t, "running", id)
	if ip := s.awsText(t, "describe-instances", "--instance-ids", id, "--query", "Reservations[0].Instances[0].PrivateIpAddress"); ip != "10.60.1.10" {
		t.Errorf("after a stop and a start the instance has address %q, want 10.60.1.10", ip)
	}

	alloc := s.awsText(t, "allocate-address", "--domain", "vpc", "--query", "AllocationId")
	public := s.awsText(t, "describe-addresses", "--allocation-ids", alloc, "--query", "Addresses[0].PublicIp")
	assoc := s.awsText(t, "associate-address", "--allocation-id", alloc, "--instance-id", id, "--query", "AssociationId")
	if !strings.HasPrefix(assoc, "eipassoc-") {
		t.Fatalf("associate-address answered %q", assoc)
	}
	s.expectEC2Error(t, "InvalidIPAddress.InUse", "release-address", "--allocation-id", alloc)
	// The instance shows its public address, and kubectl sees the Service that carries it.
	deadline := 60
	for i := 0; ; i++ {
		if ip := s.awsText(t, "describe-instances", "--instance-ids", id, "--query", "Reservations[0].Instances[0].PublicIpAddress"); ip == public {
			break
		} else if i == deadline {
			t.Fatalf("the instance shows public address %q, want %s", ip, public)
		}
		time.Sleep(time.Second)
	}
	// The endpoint shows the address from the association it wrote; the operator makes
	// the Service after it: ask kubectl until it is there.
	for i := 0; ; i++ {
		svcs := s.mustRun(t, "kubectl", "get", "services", "-A", "-o", "json")
		if strings.Contains(svcs, `"`+public+`"`) && strings.Contains(svcs, `"LoadBalancer"`) {
			break
		} else if i == deadline {
			t.Errorf("no LoadBalancer Service carries %s", public)
			break
		}
		time.Sleep(time.Second)
	}
	s.mustRun(t, "aws", "ec2", "disassociate-address", "--association-id", assoc)
	s.mustRun(t, "aws", "ec2", "release-address", "--allocation-id", alloc)
	s.expectEC2Error(t, "InvalidAllocationID.NotFound", "describe-addresses", "--allocation-ids", alloc)
}
