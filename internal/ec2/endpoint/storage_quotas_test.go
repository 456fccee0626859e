package endpoint_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// volumeCount is how many volumes the account has, as DescribeVolumes shows them.
func (a *account) volumeCount(g Gomega) int {
	out, err := a.EC2.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return len(out.Volumes)
}

// snapshotCount is how many snapshots the account owns, as DescribeSnapshots shows them.
func (a *account) snapshotCount(g Gomega) int {
	out, err := a.EC2.DescribeSnapshots(a.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return len(out.Snapshots)
}

func TestVolumeStorageAndSnapshotQuotasAreCheckedBeforeAnythingIsCreated(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t, withQuotas(koalav1.AccountQuotas{VolumeGiB: ptr.To[int64](20), Snapshots: ptr.To[int32](2)}))

	// Volume storage: 12 + 9 GiB pass the 20 GiB limit; 12 + 8 fill it exactly.
	first := a.createVolume(g, zoneA, 12)
	_, err := a.NoRetry.CreateVolume(a.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneA), Size: aws.Int32(9)})
	e := expectError(g, err, "VolumeLimitExceeded")
	g.Expect(e.Status).To(Equal(http.StatusBadRequest))
	g.Expect(a.volumeCount(g)).To(Equal(1), "a refused CreateVolume must create nothing")
	second := a.createVolume(g, zoneA, 8)

	// A launch's root volume needs storage too: with none left, nothing is launched.
	_, err = a.NoRetry.RunInstances(a.ctx, &ec2.RunInstancesInput{ImageId: aws.String(publicImageID), InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	expectError(g, err, "VolumeLimitExceeded")
	g.Expect(a.instanceObjects(g)).To(BeZero())
	g.Expect(a.volumeCount(g)).To(Equal(2))

	// Snapshots: two fit, the third (taken or copied) does not.
	var snaps []string
	for _, vol := range []string{first, second} {
		out, err := a.EC2.CreateSnapshot(a.ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
		g.Expect(err).NotTo(HaveOccurred())
		snaps = append(snaps, aws.ToString(out.SnapshotId))
	}
	a.waitSnapshots(g, snaps...)
	_, err = a.NoRetry.CreateSnapshot(a.ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(first)})
	expectError(g, err, "SnapshotLimitExceeded")
	_, err = a.NoRetry.CopySnapshot(a.ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String(region), SourceSnapshotId: aws.String(snaps[0])})
	expectError(g, err, "SnapshotLimitExceeded")
	g.Expect(a.snapshotCount(g)).To(Equal(2))

	// Deleting frees the room at once.
	_, err = a.EC2.DeleteSnapshot(a.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snaps[1])})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.CopySnapshot(a.ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String(region), SourceSnapshotId: aws.String(snaps[0])})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.DeleteVolume(a.ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(second)})
	g.Expect(err).NotTo(HaveOccurred())
	a.createVolume(g, zoneB, 8)
}

// The endpoint's checks see only what it has in its cache; a ResourceQuota in the
// account's namespace (the platform team's own, or Koala's when two replicas raced)
// refuses a create in the API server. The client must get EC2's limit error, not an
// internal error.
func TestAResourceQuotaRefusalIsAnsweredWithTheKindsLimitError(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t) // no quotas of its own: the endpoint checks nothing
	const (
		volumes   = corev1.ResourceName("count/volumes.cloud.koala.dev")
		snapshots = corev1.ResourceName("count/snapshots.cloud.koala.dev")
	)
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, Name: "platform-limits"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{volumes: resource.MustParse("1"), snapshots: resource.MustParse("1")}}}
	g.Expect(k8s.Create(a.ctx, rq)).To(Succeed())
	// This suite runs no kube-controller-manager: its status is written here as the
	// resourcequota controller would (admission enforces only a computed status), with
	// the one snapshot allowed already in use.
	rq.Status = corev1.ResourceQuotaStatus{Hard: rq.Spec.Hard,
		Used: corev1.ResourceList{volumes: resource.MustParse("0"), snapshots: resource.MustParse("1")}}
	g.Expect(k8s.Status().Update(a.ctx, rq)).To(Succeed())
	// Admission reads quotas from its own informer: wait until it refuses a snapshot.
	g.Eventually(func() bool {
		probe := &koalav1.Snapshot{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace, GenerateName: "probe-"},
			Spec: koalav1.SnapshotSpec{VolumeID: "vol-0123456789abcdef0"}}
		err := k8s.Create(a.ctx, probe)
		if err == nil {
			_ = k8s.Delete(a.ctx, probe)
		}
		return apierrors.IsForbidden(err)
	}, timeout, poll).Should(BeTrue())

	vol := a.createVolume(g, zoneA, 1)
	_, err := a.NoRetry.CreateVolume(a.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneA), Size: aws.Int32(1)})
	e := expectError(g, err, "VolumeLimitExceeded")
	g.Expect(e.Status).To(Equal(http.StatusBadRequest))
	g.Expect(e.Message).To(ContainSubstring("exceeded quota: platform-limits"))
	_, err = a.NoRetry.CreateSnapshot(a.ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
	e = expectError(g, err, "SnapshotLimitExceeded")
	g.Expect(e.Message).To(ContainSubstring("exceeded quota: platform-limits"))
	g.Expect(a.volumeCount(g)).To(Equal(1))
	g.Expect(a.snapshotCount(g)).To(BeZero())
	var left corev1.ResourceQuota
	g.Expect(k8s.Get(a.ctx, client.ObjectKeyFromObject(rq), &left)).To(Succeed())
	g.Expect(left.Status.Used.Name(volumes, resource.DecimalSI).Value()).To(Equal(int64(1)))
}

// concurrently runs call n times at once and returns how many succeeded; every other
// call must have failed with code.
func concurrently(t *testing.T, n int, code string, call func() error) int {
	t.Helper()
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			errs <- call()
		}()
	}
	close(start)
	ok := 0
	for range n {
		err := <-errs
		if err == nil {
			ok++
			continue
		}
		if got := asAPIError(err).Code; got != code {
			t.Errorf("a concurrent call failed with %q (%v), want %s", got, plain(err), code)
		}
	}
	return ok
}

func TestConcurrentCreatesFillALimitExactlyAndNeverPassIt(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t, withQuotas(koalav1.AccountQuotas{VolumeGiB: ptr.To[int64](10), Snapshots: ptr.To[int32](2)}))

	// Eight volumes of 3 GiB at once into 10 GiB: three fit, as if one after another.
	made := concurrently(t, 8, "VolumeLimitExceeded", func() error {
		_, err := a.NoRetry.CreateVolume(a.ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zoneA), Size: aws.Int32(3)})
		return err
	})
	g.Expect(made).To(Equal(3))
	g.Expect(a.volumeCount(g)).To(Equal(3))

	// Six snapshots at once with room for two.
	out, err := a.EC2.DescribeVolumes(a.ctx, &ec2.DescribeVolumesInput{})
	g.Expect(err).NotTo(HaveOccurred())
	vol := aws.ToString(out.Volumes[0].VolumeId)
	a.waitVolumes(g, types.VolumeStateAvailable, vol)
	taken := concurrently(t, 6, "SnapshotLimitExceeded", func() error {
		_, err := a.NoRetry.CreateSnapshot(a.ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
		return err
	})
	g.Expect(taken).To(Equal(2))
	g.Expect(a.snapshotCount(g)).To(Equal(2))
}
