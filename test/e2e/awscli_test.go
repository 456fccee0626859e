//go:build e2e

package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAWSCLIRunInstancesWithCountTagsAndKeyDescribesEveryFieldAClientReads(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	s := suite.shared
	image := s.imageID(t)
	run := uniqueName("cli")
	key := run + "-key"
	s.mustRun(t, "aws", "ec2", "create-key-pair", "--key-name", key)

	launch := []string{"run-instances", "--image-id", image, "--instance-type", "t3.micro", "--count", "2",
		"--key-name", key, "--client-token", run,
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=web},{Key=run,Value=" + run + "}]"}
	var launched cliReservation
	s.awsJSON(t, &launched, launch...)
	if !reservationIDPattern.MatchString(launched.ReservationId) || launched.OwnerId != accountID || len(launched.Instances) != 2 {
		t.Fatalf("run-instances --count 2 answered reservation %q owner %q with %d instances, want r-..., %s, 2",
			launched.ReservationId, launched.OwnerId, len(launched.Instances), accountID)
	}
	var ids []string
	for _, inst := range launched.Instances {
		ids = append(ids, inst.InstanceId)
		if inst.State.Code != 0 || inst.State.Name != "pending" {
			t.Errorf("run-instances: %s is %d/%s, want 0/pending", inst.InstanceId, inst.State.Code, inst.State.Name)
		}
	}
	t.Cleanup(func() {
		s.run(t, "", "aws", append([]string{"ec2", "terminate-instances", "--instance-ids"}, ids...)...)
	})

	// The same client token with the same parameters is the same launch.
	var again cliReservation
	s.awsJSON(t, &again, launch...)
	againIDs := cliDescribeInstances{Reservations: []cliReservation{again}}.ids()
	if again.ReservationId != launched.ReservationId || !slices.Equal(againIDs, sorted(ids)) {
		t.Errorf("run-instances repeated with client token %s answered reservation %s %v, want the first launch's %s %v",
			run, again.ReservationId, againIDs, launched.ReservationId, sorted(ids))
	}

	s.waitForState(t, "running", ids...)

	// What the instances' fields must agree with.
	var images struct {
		Images []struct{ ImageId, Architecture, RootDeviceName, RootDeviceType, VirtualizationType string }
	}
	s.awsJSON(t, &images, "describe-images", "--image-ids", image)
	var types struct {
		InstanceTypes []struct {
			VCpuInfo struct{ DefaultVCpus, DefaultCores, DefaultThreadsPerCore int }
		}
	}
	s.awsJSON(t, &types, "describe-instance-types", "--instance-types", "t3.micro")
	zones := strings.Fields(s.awsText(t, "describe-availability-zones", "--query", "AvailabilityZones[].ZoneName"))
	if len(images.Images) != 1 || len(types.InstanceTypes) != 1 || len(zones) == 0 {
		t.Fatalf("describe-images, describe-instance-types t3.micro and describe-availability-zones answered %+v %+v %v", images, types, zones)
	}
	img, vcpu := images.Images[0], types.InstanceTypes[0].VCpuInfo

	var described cliDescribeInstances
	s.awsJSON(t, &described, append([]string{"describe-instances", "--instance-ids"}, ids...)...)
	if len(described.Reservations) != 1 || described.Reservations[0].ReservationId != launched.ReservationId ||
		described.Reservations[0].OwnerId != accountID {
		t.Fatalf("describe-instances answered %d reservations, want the one reservation %s of owner %s: %+v",
			len(described.Reservations), launched.ReservationId, accountID, described.Reservations)
	}
	var launchIndexes []int
	for _, inst := range described.instances() {
		check := func(field string, got, want any) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %s is %v, want %v", inst.InstanceId, field, got, want)
			}
		}
		if !instanceIDPattern.MatchString(inst.InstanceId) || !slices.Contains(ids, inst.InstanceId) {
			t.Errorf("describe-instances answered instance %q, want one of %v", inst.InstanceId, ids)
		}
		check("ImageId", inst.ImageId, image)
		check("State.Code", inst.State.Code, 16)
		check("State.Name", inst.State.Name, "running")
		if !ipv4Pattern.MatchString(inst.PrivateIpAddress) {
			t.Errorf("%s: PrivateIpAddress is %q, want an IPv4 address", inst.InstanceId, inst.PrivateIpAddress)
		}
		check("PrivateDnsName", inst.PrivateDnsName, "ip-"+strings.ReplaceAll(inst.PrivateIpAddress, ".", "-")+"."+region+".compute.internal")
		check("InstanceType", inst.InstanceType, "t3.micro")
		if lt, err := time.Parse(time.RFC3339, inst.LaunchTime); err != nil || time.Since(lt) > 10*time.Minute || time.Until(lt) > time.Minute {
			t.Errorf("%s: LaunchTime is %q, want the time of the launch (%v)", inst.InstanceId, inst.LaunchTime, err)
		}
		if !slices.Contains(zones, inst.Placement.AvailabilityZone) {
			t.Errorf("%s: Placement.AvailabilityZone is %q, want one of describe-availability-zones' %v", inst.InstanceId, inst.Placement.AvailabilityZone, zones)
		}
		check("Placement.Tenancy", inst.Placement.Tenancy, "default")
		tags := tagMap(inst.Tags)
		if len(tags) != 2 || tags["Name"] != "web" || tags["run"] != run {
			t.Errorf("%s: Tags are %v, want Name=web and run=%s", inst.InstanceId, inst.Tags, run)
		}
		check("KeyName", inst.KeyName, key)
		if inst.AmiLaunchIndex == nil {
			t.Errorf("%s: AmiLaunchIndex is missing", inst.InstanceId)
		} else {
			launchIndexes = append(launchIndexes, *inst.AmiLaunchIndex)
		}
		check("Architecture", inst.Architecture, img.Architecture)
		check("RootDeviceName", inst.RootDeviceName, img.RootDeviceName)
		check("RootDeviceType", inst.RootDeviceType, "ebs")
		check("VirtualizationType", inst.VirtualizationType, "hvm")
		if inst.Hypervisor != "xen" && inst.Hypervisor != "nitro" {
			t.Errorf("%s: Hypervisor is %q, want xen (or nitro)", inst.InstanceId, inst.Hypervisor)
		}
		check("ClientToken", inst.ClientToken, run)
		// The stack's account has a default VPC: launched without a subnet, the
		// instance is on the default subnet of its zone, in the default group.
		var group struct{ GroupId, GroupName string }
		if inst.SecurityGroups != nil && len(*inst.SecurityGroups) == 1 {
			_ = json.Unmarshal((*inst.SecurityGroups)[0], &group)
		}
		if group.GroupName != "default" || !strings.HasPrefix(group.GroupId, "sg-") {
			t.Errorf("%s: SecurityGroups is %v, want the default group", inst.InstanceId, inst.SecurityGroups)
		}
		if !strings.HasPrefix(inst.SubnetId, "subnet-") || !strings.HasPrefix(inst.VpcId, "vpc-") || !strings.HasPrefix(inst.PrivateIpAddress, "172.31.") {
			t.Errorf("%s: SubnetId %q, VpcId %q, PrivateIpAddress %q: want the default VPC's (172.31.0.0/16)", inst.InstanceId, inst.SubnetId, inst.VpcId, inst.PrivateIpAddress)
		}
		if inst.ProductCodes == nil || len(*inst.ProductCodes) != 0 {
			t.Errorf("%s: ProductCodes is %v, want present and empty", inst.InstanceId, inst.ProductCodes)
		}
		check("Monitoring.State", inst.Monitoring.State, "disabled")
		if c := inst.CpuOptions; c == nil {
			t.Errorf("%s: CpuOptions is missing", inst.InstanceId)
		} else if c.CoreCount != vcpu.DefaultCores || c.ThreadsPerCore != vcpu.DefaultThreadsPerCore {
			t.Errorf("%s: CpuOptions is %d cores x %d threads, want t3.micro's %d x %d (%d vCPUs) as describe-instance-types says",
				inst.InstanceId, c.CoreCount, c.ThreadsPerCore, vcpu.DefaultCores, vcpu.DefaultThreadsPerCore, vcpu.DefaultVCpus)
		}
		if m := inst.MetadataOptions; m == nil {
			t.Errorf("%s: MetadataOptions is missing", inst.InstanceId)
		} else if m.State != "applied" || m.HttpEndpoint != "enabled" || (m.HttpTokens != "optional" && m.HttpTokens != "required") || m.HttpPutResponseHopLimit < 1 {
			t.Errorf("%s: MetadataOptions is %+v, want applied, endpoint enabled, tokens optional or required, hop limit >= 1", inst.InstanceId, *m)
		}
	}
	slices.Sort(launchIndexes)
	if !slices.Equal(launchIndexes, []int{0, 1}) {
		t.Errorf("AmiLaunchIndex of the two instances are %v, want 0 and 1", launchIndexes)
	}
}

func TestAWSCLIDescribeInstancesFiltersAndPaginatesWithoutLosingOrRepeatingInstances(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	s := suite.shared
	image := s.imageID(t)
	run := uniqueName("pages")
	tagFilter := "Name=tag:run,Values=" + run

	// Six launches, six reservations: more than one page of five.
	var ids []string
	var small string
	for i := 0; i < 6; i++ {
		typ := "t3.micro"
		if i == 3 {
			typ = "t3.small"
		}
		id := s.awsText(t, "run-instances", "--image-id", image, "--instance-type", typ,
			"--tag-specifications", "ResourceType=instance,Tags=[{Key=run,Value="+run+"},{Key=n,Value="+strconv.Itoa(i)+"}]",
			"--query", "Instances[0].InstanceId")
		if !instanceIDPattern.MatchString(id) {
			t.Fatalf("run-instances answered instance ID %q", id)
		}
		ids = append(ids, id)
		if typ == "t3.small" {
			small = id
		}
	}
	t.Cleanup(func() {
		s.run(t, "", "aws", append([]string{"ec2", "terminate-instances", "--instance-ids"}, ids...)...)
	})
	s.waitForState(t, "running", ids...)
	all := sorted(ids)

	describe := func(args ...string) cliDescribeInstances {
		t.Helper()
		var d cliDescribeInstances
		s.awsJSON(t, &d, append([]string{"describe-instances"}, args...)...)
		return d
	}
	expectIDs := func(what string, d cliDescribeInstances, want []string) {
		t.Helper()
		if got := d.ids(); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s: got instances %v, want %v", what, got, sorted(want))
		}
	}

	t.Run("a tag filter finds exactly the tagged instances", func(t *testing.T) {
		expectIDs("--filters "+tagFilter, describe("--filters", tagFilter), all)
	})
	t.Run("two filters AND, two values of one filter OR", func(t *testing.T) {
		expectIDs("tag and instance-type=t3.small", describe("--filters", tagFilter, "Name=instance-type,Values=t3.small"), []string{small})
		expectIDs("tag and instance-type=t3.small,t3.micro", describe("--filters", tagFilter, "Name=instance-type,Values=t3.small,t3.micro"), all)
		expectIDs("tag and instance-state-name=running", describe("--filters", tagFilter, "Name=instance-state-name,Values=running"), all)
		expectIDs("tag and instance-state-name=stopped", describe("--filters", tagFilter, "Name=instance-state-name,Values=stopped"), nil)
		expectIDs("tag and tag:n=0,5", describe("--filters", tagFilter, "Name=tag:n,Values=0,5"), []string{ids[0], ids[5]})
	})
	t.Run("wildcards match in filter values", func(t *testing.T) {
		expectIDs("tag:run with ? and *", describe("--filters", "Name=tag:run,Values="+run[:len(run)-2]+"?*"), all)
	})
	t.Run("--page-size 5 makes two requests that together return every instance once", func(t *testing.T) {
		r := s.run(t, "", "aws", "ec2", "describe-instances", "--filters", tagFilter, "--page-size", "5", "--output", "json", "--debug")
		if r.code != 0 {
			t.Fatalf("describe-instances --page-size 5 failed: %v", r)
		}
		var d cliDescribeInstances
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatal(err)
		}
		if got := d.ids(); len(got) != len(all) || !slices.Equal(got, all) {
			t.Errorf("describe-instances --page-size 5 returned %v, want each of %v once", got, all)
		}
		if n := strings.Count(r.stderr, "Making request for OperationModel(name=DescribeInstances)"); n != 2 {
			t.Errorf("describe-instances --page-size 5 over 6 instances made %d requests, want 2", n)
		}
	})
	t.Run("--max-items 4 then --starting-token returns the rest", func(t *testing.T) {
		first := describe("--filters", tagFilter, "--page-size", "5", "--max-items", "4")
		if len(first.instances()) != 4 || first.NextToken == "" {
			t.Fatalf("--max-items 4 returned %d instances and NextToken %q, want 4 and a token", len(first.instances()), first.NextToken)
		}
		rest := describe("--filters", tagFilter, "--page-size", "5", "--starting-token", first.NextToken)
		if rest.NextToken != "" {
			t.Errorf("the last page carries NextToken %q", rest.NextToken)
		}
		got := sorted(append(first.ids(), rest.ids()...))
		if !slices.Equal(got, all) {
			t.Errorf("--max-items 4 and then --starting-token returned %v, want each of %v once", got, all)
		}
	})
	t.Run("--max-results and --next-token page on the server and end without a token", func(t *testing.T) {
		first := describe("--filters", tagFilter, "--max-results", "5")
		if len(first.instances()) != 5 || first.NextToken == "" {
			t.Fatalf("--max-results 5 returned %d instances and NextToken %q, want 5 and a token", len(first.instances()), first.NextToken)
		}
		rest := describe("--filters", tagFilter, "--max-results", "5", "--next-token", first.NextToken)
		if len(rest.instances()) != 1 || rest.NextToken != "" {
			t.Errorf("the second page returned %d instances and NextToken %q, want 1 and none", len(rest.instances()), rest.NextToken)
		}
		if got := sorted(append(first.ids(), rest.ids()...)); !slices.Equal(got, all) {
			t.Errorf("the two pages returned %v, want each of %v once", got, all)
		}
	})
}

func TestAWSCLIBadCallsExitNonZeroWithTheEC2ErrorCodeOnStderr(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	s := suite.shared
	image := s.imageID(t)
	wrongSecret := slices.Clone(s.env)
	for i, kv := range wrongSecret {
		if strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			wrongSecret[i] = "AWS_SECRET_ACCESS_KEY=" + strings.Repeat("x", 40)
		}
	}

	for name, tc := range map[string]struct {
		args []string
		env  []string
		code string
	}{
		"describing an instance that does not exist answers InvalidInstanceID.NotFound": {
			args: []string{"describe-instances", "--instance-ids", "i-0123456789abcdef0"}, code: "InvalidInstanceID.NotFound",
		},
		"describing a malformed instance ID answers InvalidInstanceID.Malformed": {
			args: []string{"describe-instances", "--instance-ids", "web-1"}, code: "InvalidInstanceID.Malformed",
		},
		"terminating an instance that does not exist answers InvalidInstanceID.NotFound": {
			args: []string{"terminate-instances", "--instance-ids", "i-0123456789abcdef0"}, code: "InvalidInstanceID.NotFound",
		},
		"launching an image that does not exist answers InvalidAMIID.NotFound": {
			args: []string{"run-instances", "--image-id", "ami-0123456789abcdef0", "--instance-type", "t3.micro"}, code: "InvalidAMIID.NotFound",
		},
		"launching with a key pair that does not exist answers InvalidKeyPair.NotFound": {
			args: []string{"run-instances", "--image-id", image, "--instance-type", "t3.micro", "--key-name", uniqueName("missing")}, code: "InvalidKeyPair.NotFound",
		},
		"launching an instance type that does not exist answers InvalidParameterValue": {
			args: []string{"run-instances", "--image-id", image, "--instance-type", "t9.huge"}, code: "InvalidParameterValue",
		},
		"an unknown filter answers InvalidParameterValue": {
			args: []string{"describe-instances", "--filters", "Name=no-such-filter,Values=x"}, code: "InvalidParameterValue",
		},
		"a pagination token the server did not issue answers InvalidPaginationToken": {
			args: []string{"describe-instances", "--max-results", "5", "--next-token", "not-a-token"}, code: "InvalidPaginationToken",
		},
		"--max-results with instance IDs answers InvalidParameterCombination": {
			args: []string{"describe-instances", "--max-results", "5", "--instance-ids", "i-0123456789abcdef0"}, code: "InvalidParameterCombination",
		},
		"--dry-run of an allowed call answers DryRunOperation": {
			args: []string{"run-instances", "--image-id", image, "--instance-type", "t3.micro", "--dry-run"}, code: "DryRunOperation",
		},
		"a wrong secret key answers AuthFailure": {
			args: []string{"describe-instances"}, env: wrongSecret, code: "AuthFailure",
		},
	} {
		t.Run(name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = s.env
			}
			r := runIn(t, s.dir, env, "", "aws", append([]string{"ec2"}, tc.args...)...)
			// The AWS CLI v1 exits 255 on a service error, v2 254.
			if r.code != 254 && r.code != 255 {
				t.Errorf("aws ec2 %s: want exit code 254 or 255; %v", strings.Join(tc.args, " "), r)
			}
			if !regexp.MustCompile(`An error occurred \(` + regexp.QuoteMeta(tc.code) + `\) when calling the \w+ operation: \S`).MatchString(r.stderr) {
				t.Errorf("aws ec2 %s: want %s with a message on stderr; %v", strings.Join(tc.args, " "), tc.code, r)
			}
			if strings.TrimSpace(r.stdout) != "" {
				t.Errorf("aws ec2 %s: want nothing on stdout; %v", strings.Join(tc.args, " "), r)
			}
		})
	}
}
