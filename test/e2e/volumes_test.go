//go:build e2e

package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// expectEC2Error runs `aws ec2 <args>` and checks that it fails with the EC2 error code.
func (s *stack) expectEC2Error(t *testing.T, code string, args ...string) {
	t.Helper()
	r := s.run(t, "", "aws", append([]string{"ec2"}, args...)...)
	if r.code != 254 && r.code != 255 {
		t.Errorf("aws ec2 %s: want exit code 254 or 255; %v", strings.Join(args, " "), r)
	}
	if !regexp.MustCompile(`An error occurred \(` + regexp.QuoteMeta(code) + `\) when calling the \w+ operation: \S`).MatchString(r.stderr) {
		t.Errorf("aws ec2 %s: want %s with a message on stderr; %v", strings.Join(args, " "), code, r)
	}
}

// wait runs an AWS CLI waiter (it polls every 15 s, as users get it).
func (s *stack) wait(t *testing.T, waiter string, args ...string) {
	t.Helper()
	began := time.Now()
	s.mustRun(t, "aws", append([]string{"ec2", "wait", waiter}, args...)...)
	t.Logf("aws ec2 wait %s %s: %v", waiter, strings.Join(args, " "), time.Since(began).Round(100*time.Millisecond))
}

// waitForAttachment polls describe-volumes every second until the volume's attachment
// is in state.
func (s *stack) waitForAttachment(t *testing.T, volume, state string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := s.awsText(t, "describe-volumes", "--volume-ids", volume, "--query", "Volumes[0].Attachments[0].State")
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the attachment of %s is %q, want %s", volume, got, state)
		}
		time.Sleep(time.Second)
	}
}

// devices lists "device volume-id" of an instance's volumes, sorted.
func (s *stack) devices(t *testing.T, instance string) []string {
	t.Helper()
	out := s.awsText(t, "describe-volumes", "--filters", "Name=attachment.instance-id,Values="+instance,
		"--query", "Volumes[].[Attachments[0].Device,VolumeId]")
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			lines = append(lines, f[0]+" "+f[1])
		}
	}
	slices.Sort(lines)
	return lines
}

func TestAWSCLIVolumesSnapshotsAndImagesWithTheirWaiters(t *testing.T) {
	requireTools(t, "aws", "kubectl")
	t.Parallel()
	s := suite.shared
	image := s.imageID(t)
	run := uniqueName("vols")
	const zone, otherZone = region + "a", region + "b"

	id := s.awsText(t, "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--placement", "AvailabilityZone="+zone,
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=run,Value="+run+"}]", "--query", "Instances[0].InstanceId")
	instances := []string{id}
	t.Cleanup(func() {
		s.run(t, "", "aws", append([]string{"ec2", "terminate-instances", "--instance-ids"}, instances...)...)
	})
	data := s.awsText(t, "create-volume", "--availability-zone", zone, "--size", "2", "--volume-type", "gp3",
		"--tag-specifications", "ResourceType=volume,Tags=[{Key=run,Value="+run+"}]", "--query", "VolumeId")
	if !regexp.MustCompile(`^vol-[0-9a-f]{17}$`).MatchString(data) {
		t.Fatalf("create-volume answered volume ID %q", data)
	}
	s.wait(t, "volume-available", "--volume-ids", data)
	s.waitForState(t, "running", id)

	// The root volume is listed, attached at the image's root device.
	devs := s.devices(t, id)
	if len(devs) != 1 || !strings.HasPrefix(devs[0], "/dev/xvda vol-") {
		t.Fatalf("describe-volumes of %s's attachments answered %v, want its root volume at /dev/xvda", id, devs)
	}
	root := strings.Fields(devs[0])[1]

	// Attach to the running instance.
	if st := s.awsText(t, "attach-volume", "--volume-id", data, "--instance-id", id, "--device", "/dev/sdf", "--query", "State"); st != "attaching" {
		t.Errorf("attach-volume answered state %q, want attaching", st)
	}
	s.wait(t, "volume-in-use", "--volume-ids", data)
	s.waitForAttachment(t, data, "attached")
	s.expectEC2Error(t, "VolumeInUse", "delete-volume", "--volume-id", data)

	// Snapshot it, restore the snapshot into a new volume and attach that too.
	snap := s.awsText(t, "create-snapshot", "--volume-id", data, "--description", run, "--query", "SnapshotId")
	s.wait(t, "snapshot-completed", "--snapshot-ids", snap)
	if size := s.awsText(t, "describe-snapshots", "--owner-ids", "self", "--filters", "Name=description,Values="+run, "--query", "Snapshots[0].VolumeSize"); size != "2" {
		t.Errorf("describe-snapshots --owner-ids self shows the snapshot's size %q, want 2", size)
	}
	restored := s.awsText(t, "create-volume", "--availability-zone", zone, "--snapshot-id", snap, "--query", "VolumeId")
	s.wait(t, "volume-available", "--volume-ids", restored)
	s.mustRun(t, "aws", "ec2", "attach-volume", "--volume-id", restored, "--instance-id", id, "--device", "/dev/sdg")
	s.wait(t, "volume-in-use", "--volume-ids", restored)
	s.waitForAttachment(t, restored, "attached")

	// What EC2 refuses, refused as EC2 does.
	elsewhere := s.awsText(t, "create-volume", "--availability-zone", otherZone, "--size", "1", "--query", "VolumeId")
	spare := s.awsText(t, "create-volume", "--availability-zone", zone, "--size", "1", "--query", "VolumeId")
	s.wait(t, "volume-available", "--volume-ids", elsewhere, spare)
	s.expectEC2Error(t, "InvalidVolume.ZoneMismatch", "attach-volume", "--volume-id", elsewhere, "--instance-id", id, "--device", "/dev/sdh")
	s.expectEC2Error(t, "VolumeInUse", "attach-volume", "--volume-id", data, "--instance-id", id, "--device", "/dev/sdh")
	s.expectEC2Error(t, "InvalidParameterValue", "attach-volume", "--volume-id", spare, "--instance-id", id, "--device", "/dev/sdf")
	s.expectEC2Error(t, "InvalidParameterValue", "create-volume", "--availability-zone", zone, "--size", "0")
	s.expectEC2Error(t, "InvalidParameterValue", "create-volume", "--availability-zone", zone, "--size", "-1")
	s.expectEC2Error(t, "InvalidParameterValue", "create-volume", "--availability-zone", zone, "--size", "100000")
	s.expectEC2Error(t, "InvalidParameterValue", "modify-volume", "--volume-id", data, "--size", "1")

	// kubectl sees the same volumes and snapshot.
	volumes := s.mustRun(t, "kubectl", "get", "volumes", "-o", "custom-columns=ID:.status.volumeId,STATE:.status.state", "--no-headers")
	for _, v := range []string{root, data, restored} {
		if !regexp.MustCompile(`(?m)^` + v + `\s+in-use$`).MatchString(volumes) {
			t.Errorf("kubectl get volumes does not show %s in use:\n%s", v, volumes)
		}
	}
	if snaps := s.mustRun(t, "kubectl", "get", "snapshots", "-o", "custom-columns=ID:.status.snapshotId,STATE:.status.state", "--no-headers"); !strings.Contains(snaps, snap+"   completed") && !regexp.MustCompile(snap+`\s+completed`).MatchString(snaps) {
		t.Errorf("kubectl get snapshots does not show %s completed:\n%s", snap, snaps)
	}

	// An image of the instance, and an instance of the image with copies of its volumes.
	img := s.awsText(t, "create-image", "--instance-id", id, "--name", run, "--query", "ImageId")
	s.wait(t, "image-available", "--image-ids", img)
	next := s.awsText(t, "run-instances", "--image-id", img, "--instance-type", "t3.micro", "--placement", "AvailabilityZone="+zone, "--query", "Instances[0].InstanceId")
	instances = append(instances, next)
	s.waitForState(t, "running", next)
	var got []string
	for _, d := range s.devices(t, next) {
		got = append(got, strings.Fields(d)[0])
	}
	if !slices.Equal(got, []string{"/dev/sdf", "/dev/sdg", "/dev/xvda"}) {
		t.Errorf("an instance of the image has volumes at %v, want /dev/sdf, /dev/sdg and /dev/xvda", got)
	}

	// The image holds its snapshots: they cannot be deleted while it is registered.
	imageSnaps := strings.Fields(s.awsText(t, "describe-images", "--image-ids", img,
		"--query", "Images[0].BlockDeviceMappings[].Ebs.SnapshotId"))
	if len(imageSnaps) != 3 {
		t.Fatalf("the image of an instance with three volumes has snapshots %v, want three", imageSnaps)
	}
	s.expectEC2Error(t, "InvalidSnapshot.InUse", "delete-snapshot", "--snapshot-id", imageSnaps[0])

	// Attach to a stopped instance: in use at once, and the instance starts with it.
	s.mustRun(t, "aws", "ec2", "stop-instances", "--instance-ids", next)
	s.waitForState(t, "stopped", next)
	s.mustRun(t, "aws", "ec2", "attach-volume", "--volume-id", spare, "--instance-id", next, "--device", "/dev/sdh")
	s.wait(t, "volume-in-use", "--volume-ids", spare)
	if st := s.awsText(t, "describe-instances", "--instance-ids", next, "--query", "Reservations[0].Instances[0].State.Name"); st != "stopped" {
		t.Errorf("attaching a volume to a stopped instance left it %s, want stopped", st)
	}
	s.mustRun(t, "aws", "ec2", "start-instances", "--instance-ids", next)
	s.waitForState(t, "running", next)
	s.waitForAttachment(t, spare, "attached")
	nextVolumes := map[string]string{}
	for _, d := range s.devices(t, next) {
		f := strings.Fields(d)
		nextVolumes[f[0]] = f[1]
	}
	if len(nextVolumes) != 4 || nextVolumes["/dev/sdh"] != spare {
		t.Errorf("the restarted instance has volumes %v, want four with %s at /dev/sdh", nextVolumes, spare)
	}

	// Detach; terminate: the root volumes (deleteOnTermination true) go, the volumes
	// attached later and the image's copies of them (deleteOnTermination false) stay.
	s.mustRun(t, "aws", "ec2", "detach-volume", "--volume-id", restored)
	s.wait(t, "volume-available", "--volume-ids", restored)
	s.mustRun(t, "aws", "ec2", "terminate-instances", "--instance-ids", id, next)
	s.waitForState(t, "terminated", id, next)
	s.wait(t, "volume-deleted", "--volume-ids", root, nextVolumes["/dev/xvda"])
	kept := []string{data, spare, nextVolumes["/dev/sdf"], nextVolumes["/dev/sdg"]}
	s.wait(t, "volume-available", append([]string{"--volume-ids"}, kept...)...)
	for _, v := range append(kept, restored, elsewhere) {
		s.mustRun(t, "aws", "ec2", "delete-volume", "--volume-id", v)
	}
	s.wait(t, "volume-deleted", "--volume-ids", data, restored)

	// Deregistered, the image lets its snapshots go.
	s.mustRun(t, "aws", "ec2", "deregister-image", "--image-id", img)
	for _, sn := range append(imageSnaps, snap) {
		s.mustRun(t, "aws", "ec2", "delete-snapshot", "--snapshot-id", sn)
	}
	if left := s.awsText(t, "describe-snapshots", "--owner-ids", "self", "--filters", "Name=snapshot-id,Values="+strings.Join(append(imageSnaps, snap), ","),
		"--query", "length(Snapshots)"); left != "0" {
		t.Errorf("describe-snapshots still shows %s of the deleted snapshots", left)
	}
}
