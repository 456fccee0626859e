//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// kubectlGet polls `kubectl get instance name -o jsonpath=path` every second until
// ok accepts its output, which it returns.
func (s *stack) kubectlGet(t *testing.T, name, path string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := s.run(t, "", "kubectl", "get", "instance", name, "-o", "jsonpath="+path)
		if r.code == 0 && ok(r.stdout) {
			return r.stdout
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl get instance %s -o jsonpath=%s never gave what the test waits for; last: %v", name, path, r)
		}
		time.Sleep(time.Second)
	}
}

func TestKubectlAppliedInstanceShowsUpInAWSDescribeInstances(t *testing.T) {
	requireTools(t, "aws", "kubectl")
	t.Parallel()
	s := suite.shared
	image := s.imageID(t)
	name := uniqueName("kube")
	manifest := fmt.Sprintf(`apiVersion: cloud.koala.dev/v1alpha1
kind: Instance
metadata:
  name: %s
spec:
  imageId: %s
  instanceType: t3.micro
`, name, image)
	if r := s.run(t, manifest, "kubectl", "apply", "-f", "-"); r.code != 0 || !strings.Contains(r.stdout, "instance.cloud.koala.dev/"+name+" created") {
		t.Fatalf("kubectl apply: %v", r)
	}
	t.Cleanup(func() { s.run(t, "", "kubectl", "delete", "instance", name, "--wait=false") })

	id := s.kubectlGet(t, name, "{.status.instanceId}", instanceIDPattern.MatchString)
	s.waitForState(t, "running", id)
	ip := s.kubectlGet(t, name, "{.status.privateIpAddress}", ipv4Pattern.MatchString)
	zone := s.kubectlGet(t, name, "{.status.availabilityZone}", func(z string) bool { return z != "" })

	var d cliDescribeInstances
	s.awsJSON(t, &d, "describe-instances", "--instance-ids", id)
	if len(d.instances()) != 1 {
		t.Fatalf("describe-instances --instance-ids %s answered %+v", id, d)
	}
	inst := d.instances()[0]
	if inst.ImageId != image || inst.InstanceType != "t3.micro" || inst.State.Name != "running" || inst.State.Code != 16 ||
		inst.PrivateIpAddress != ip || inst.Placement.AvailabilityZone != zone || d.Reservations[0].OwnerId != accountID {
		t.Errorf("describe-instances shows the Instance applied with kubectl as %+v (owner %s), want %s t3.micro running at %s in %s (owner %s)",
			inst, d.Reservations[0].OwnerId, image, ip, zone, accountID)
	}
	// And an unfiltered describe-instances lists it too.
	if all := s.awsText(t, "describe-instances", "--query", "Reservations[].Instances[].InstanceId"); !strings.Contains(all, id) {
		t.Errorf("describe-instances without filters does not list %s: %s", id, all)
	}
}

func TestAWSCLILaunchedInstanceShowsUpInKubectlGetInstances(t *testing.T) {
	requireTools(t, "aws", "kubectl")
	t.Parallel()
	s := suite.shared
	image := s.imageID(t)
	id := s.awsText(t, "run-instances", "--image-id", image, "--instance-type", "t3.small", "--query", "Instances[0].InstanceId")
	if !instanceIDPattern.MatchString(id) {
		t.Fatalf("run-instances answered instance ID %q", id)
	}
	t.Cleanup(func() { s.run(t, "", "aws", "ec2", "terminate-instances", "--instance-ids", id) })
	s.waitForState(t, "running", id)
	var d cliDescribeInstances
	s.awsJSON(t, &d, "describe-instances", "--instance-ids", id)
	inst := d.instances()[0]

	table := s.mustRun(t, "kubectl", "get", "instances")
	header := strings.Fields(strings.SplitN(table, "\n", 2)[0])
	if want := []string{"NAME", "ID", "STATE", "TYPE", "IP", "AGE"}; strings.Join(header, " ") != strings.Join(want, " ") {
		t.Errorf("kubectl get instances has columns %v, want %v", header, want)
	}
	row := kubectlRows(t, table)[id]
	if row == nil || row["STATE"] != "running" || row["TYPE"] != "t3.small" || row["IP"] != inst.PrivateIpAddress || row["AGE"] == "" {
		t.Errorf("kubectl get instances shows %s as %v, want running t3.small at %s with an age:\n%s", id, row, inst.PrivateIpAddress, table)
	}

	wide := s.mustRun(t, "kubectl", "get", "instances", "-o", "wide")
	if row := kubectlRows(t, wide)[id]; row == nil || row["ZONE"] != inst.Placement.AvailabilityZone {
		t.Errorf("kubectl get instances -o wide shows %s as %v, want zone %s:\n%s", id, row, inst.Placement.AvailabilityZone, wide)
	}
	if state := s.mustRun(t, "kubectl", "get", "instance", id, "-o", "jsonpath={.status.state}"); state != "running" {
		t.Errorf("kubectl get instance %s -o jsonpath={.status.state} printed %q, want running", id, state)
	}

	// What the AWS CLI does, kubectl sees.
	s.mustRun(t, "aws", "ec2", "stop-instances", "--instance-ids", id)
	s.kubectlGet(t, id, "{.status.state}", func(state string) bool { return state == "stopped" })
}

func TestKubectlApplyOfAnInvalidInstanceIsRejectedWithAClearMessage(t *testing.T) {
	requireTools(t, "kubectl")
	t.Parallel()
	s := suite.shared
	for name, tc := range map[string]struct {
		spec string
		want []string
	}{
		"an instance type with a space is rejected by its pattern": {
			spec: "imageId: ami-0123456789abcdef0\n  instanceType: t3 micro",
			want: []string{`spec.instanceType: Invalid value: "t3 micro"`},
		},
		"state sleeping is rejected with the supported states": {
			spec: "imageId: ami-0123456789abcdef0\n  instanceType: t3.micro\n  state: sleeping",
			want: []string{`spec.state: Unsupported value: "sleeping"`, `"running", "stopped", "terminated"`},
		},
		"an image ID that is not ami-... is rejected": {
			spec: "imageId: ubuntu\n  instanceType: t3.micro",
			want: []string{`spec.imageId: Invalid value: "ubuntu"`},
		},
		"an Instance without an instance type is rejected": {
			spec: "imageId: ami-0123456789abcdef0",
			want: []string{`spec.instanceType: Required value`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := uniqueName("bad")
			manifest := fmt.Sprintf("apiVersion: cloud.koala.dev/v1alpha1\nkind: Instance\nmetadata:\n  name: %s\nspec:\n  %s\n", obj, tc.spec)
			r := s.run(t, manifest, "kubectl", "apply", "-f", "-")
			if r.code == 0 {
				t.Fatalf("kubectl apply of\n%s\nsucceeded: %v", manifest, r)
			}
			for _, want := range append([]string{`The Instance "` + obj + `" is invalid`}, tc.want...) {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("kubectl apply's error does not say %q: %v", want, r)
				}
			}
			if g := s.run(t, "", "kubectl", "get", "instance", obj); g.code == 0 {
				t.Errorf("the rejected Instance %s exists: %v", obj, g)
			}
		})
	}
}
