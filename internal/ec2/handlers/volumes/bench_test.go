package volumes

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ids"
)

// listStore serves a fixed list of volumes; the benchmarks only read.
type listStore struct {
	Store
	items []koalav1.Volume
}

func (s *listStore) Volumes(context.Context, store.Account) ([]koalav1.Volume, error) {
	return s.items, nil
}

func (s *listStore) Volume(_ context.Context, _ store.Account, id string) (*koalav1.Volume, error) {
	for i := range s.items {
		if s.items[i].EC2ID() == id {
			return &s.items[i], nil
		}
	}
	return nil, nil
}

// rootVolumes makes n root volumes attached to instances, as a launch of n makes.
func rootVolumes(n int) []koalav1.Volume {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	out := make([]koalav1.Volume, n)
	for i := range out {
		id, inst := ids.FromSeed(ids.Volume, fmt.Sprint(i)), ids.FromSeed(ids.Instance, fmt.Sprint(i))
		out[i] = koalav1.Volume{
			ObjectMeta: metav1.ObjectMeta{Name: inst + "-root", Namespace: "demo", CreationTimestamp: now,
				Annotations: map[string]string{koalav1.IDAnnotation: id}},
			Spec: koalav1.VolumeSpec{Size: 8, VolumeType: koalav1.VolumeTypeGP3, AvailabilityZone: "koala-1a", ImageID: "ami-0123456789abcdef0",
				Attachment: &koalav1.VolumeAttachment{InstanceID: inst, Device: "/dev/xvda", DeleteOnTermination: true}},
			Status: koalav1.VolumeStatus{VolumeID: id, State: koalav1.VolumeStateInUse, CreateTime: &now, Size: 8, VolumeType: koalav1.VolumeTypeGP3,
				Attachments: []koalav1.VolumeAttachmentStatus{{InstanceID: inst, Device: "/dev/xvda", State: koalav1.AttachmentStateAttached, AttachTime: &now, DeleteOnTermination: true}}},
		}
	}
	return out
}

func benchDescribe(b *testing.B, n int, params map[string]string) {
	h := &Handlers{Store: &listStore{items: rootVolumes(n)}, Region: "koala-1"}
	var describe action.Action
	for _, a := range h.Actions() {
		if a.Name == "DescribeVolumes" {
			describe = a
		}
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		p := map[string]string{}
		for k, v := range params {
			p[k] = v
		}
		call := &action.Call{Params: protocol.FromValues(p), Account: store.Account{ID: "123456789012", Namespace: "demo"}, RequestID: "r"}
		body, err := describe.Handle(context.Background(), call)
		if err != nil {
			b.Fatal(err)
		}
		out, err := protocol.Marshal("DescribeVolumes", "r", body)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/response")
}

// BenchmarkDescribeVolumes1000 answers the first page (500) of 1,000 volumes.
func BenchmarkDescribeVolumes1000(b *testing.B) {
	benchDescribe(b, 1000, map[string]string{"MaxResults": "500"})
}

// BenchmarkDescribeVolumes1000Filtered answers 1,000 volumes filtered by attachment.
func BenchmarkDescribeVolumes1000Filtered(b *testing.B) {
	benchDescribe(b, 1000, map[string]string{"Filter.1.Name": "attachment.status", "Filter.1.Value.1": "attached", "MaxResults": "500"})
}
