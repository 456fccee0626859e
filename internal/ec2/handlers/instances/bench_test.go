package instances

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/ipam"
)

// listStore serves a fixed list of instances; the benchmarks only read.
type listStore struct {
	store.Writer
	items []koalav1.Instance
}

func (s *listStore) Instance(_ context.Context, _ store.Account, id string) (*koalav1.Instance, error) {
	for i := range s.items {
		if s.items[i].EC2ID() == id {
			return &s.items[i], nil
		}
	}
	return nil, nil
}
func (s *listStore) InstancesByTag(_ context.Context, _ store.Account, key string, values []string) ([]koalav1.Instance, error) {
	var out []koalav1.Instance
	for _, inst := range s.items {
		for _, v := range values {
			if got, ok := inst.Spec.Tags[key]; ok && got == v {
				out = append(out, inst)
				break
			}
		}
	}
	return out, nil
}
func (s *listStore) InstancesByState(_ context.Context, _ store.Account, states []string) ([]koalav1.Instance, error) {
	var out []koalav1.Instance
	for _, inst := range s.items {
		if slices.Contains(states, string(inst.DisplayState())) {
			out = append(out, inst)
		}
	}
	return out, nil
}
func (s *listStore) InstanceByName(context.Context, store.Account, string) (*koalav1.Instance, error) {
	return nil, nil
}
func (s *listStore) Instances(context.Context, store.Account) ([]koalav1.Instance, error) {
	return s.items, nil
}
func (s *listStore) Image(context.Context, store.Account, string) (*koalav1.Image, error) {
	return nil, nil
}
func (s *listStore) KeyPairByName(context.Context, store.Account, string) (*koalav1.KeyPair, error) {
	return nil, nil
}
func (s *listStore) InstanceType(context.Context, string) (*instancetypev1beta1.VirtualMachineClusterInstancetype, error) {
	return nil, nil
}
func (s *listStore) InstanceTypes(context.Context) ([]instancetypev1beta1.VirtualMachineClusterInstancetype, error) {
	return catalog.Default(), nil
}
func (s *listStore) Zones(context.Context, string) ([]string, error) {
	return []string{"koala-1a"}, nil
}
func (s *listStore) Volume(context.Context, store.Account, string) (*koalav1.Volume, error) {
	return nil, nil
}
func (s *listStore) VolumesOfInstance(context.Context, store.Account, string) ([]koalav1.Volume, error) {
	return nil, nil
}
func (s *listStore) Volumes(context.Context, store.Account) ([]koalav1.Volume, error) {
	return nil, nil
}
func (s *listStore) Snapshot(context.Context, store.Account, string) (*koalav1.Snapshot, error) {
	return nil, nil
}
func (s *listStore) NodeLabels(context.Context) ([]map[string]string, error) {
	return []map[string]string{{"topology.kubernetes.io/zone": "koala-1a"}}, nil
}

// runningInstances makes n running instances, a tenth of them tagged web.
func runningInstances(n int) []koalav1.Instance {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	out := make([]koalav1.Instance, n)
	for i := range out {
		id := ids.FromSeed(ids.Instance, fmt.Sprint(i))
		name := "db"
		if i%10 == 0 {
			name = "web"
		}
		out[i] = koalav1.Instance{
			ObjectMeta: metav1.ObjectMeta{Name: id, Namespace: "demo", CreationTimestamp: now,
				Annotations: map[string]string{koalav1.IDAnnotation: id}},
			Spec: koalav1.InstanceSpec{ImageID: "ami-0123456789abcdef0", InstanceType: "t3.micro", KeyName: "demo",
				State: koalav1.DesiredStateRunning, Tags: map[string]string{"Name": name, "team": "platform"}},
			Status: koalav1.InstanceStatus{InstanceID: id, ReservationID: ids.FromSeed(ids.Reservation, fmt.Sprint(i/10)),
				State: koalav1.InstanceStateRunning, StateCode: 16, PrivateIPAddress: fmt.Sprintf("10.244.%d.%d", i/250, i%250+2),
				NodeName: "node-1", AvailabilityZone: "koala-1a", LaunchTime: &now},
		}
	}
	return out
}

func benchDescribe(b *testing.B, n int, params map[string]string) {
	h := &Handlers{Store: &listStore{items: runningInstances(n)}, Region: "koala-1", Now: time.Now}
	var describe action.Action
	for _, a := range h.Actions() {
		if a.Name == "DescribeInstances" {
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
		out, err := protocol.Marshal("DescribeInstances", "r", body)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/response")
}

// BenchmarkDescribeInstances1000 is the whole answer to DescribeInstances of 1,000
// instances: selection, sorting, rendering and XML encoding.
func BenchmarkDescribeInstances1000(b *testing.B) { benchDescribe(b, 1000, nil) }

// BenchmarkDescribeInstancesByTag filters 1,000 instances down to 100 by tag.
func BenchmarkDescribeInstancesByTag(b *testing.B) {
	benchDescribe(b, 1000, map[string]string{"Filter.1.Name": "tag:Name", "Filter.1.Value.1": "web"})
}

// The benchmark's account has no networks: its instances are on the pod network.
func (s *listStore) VPC(context.Context, store.Account, string) (*koalav1.Network, error) {
	return nil, nil
}
func (s *listStore) DefaultVPC(context.Context, store.Account) (*koalav1.Network, error) {
	return nil, nil
}
func (s *listStore) Subnet(context.Context, store.Account, string) (*koalav1.Subnet, error) {
	return nil, nil
}
func (s *listStore) Subnets(context.Context, store.Account) ([]koalav1.Subnet, error) {
	return nil, nil
}
func (s *listStore) ClaimsOf(context.Context, string) ([]koalav1.NetworkClaim, error) {
	return nil, nil
}
func (s *listStore) SubnetsOfVPC(context.Context, store.Account, string) ([]koalav1.Subnet, error) {
	return nil, nil
}
func (s *listStore) SecurityGroup(context.Context, store.Account, string) (*koalav1.SecurityGroup, error) {
	return nil, nil
}
func (s *listStore) SecurityGroupByName(context.Context, store.Account, string, string) (*koalav1.SecurityGroup, error) {
	return nil, nil
}
func (s *listStore) SecurityGroups(context.Context, store.Account) ([]koalav1.SecurityGroup, error) {
	return nil, nil
}
func (s *listStore) Addresses(context.Context, store.Account) ([]koalav1.Address, error) {
	return nil, nil
}
func (s *listStore) Allocator() *ipam.Allocator { return nil }

// BenchmarkDescribeInstances10000Paged is DescribeInstances of 10,000 instances in
// pages of 1,000, as a paginator asks for them: every page selects and sorts all of
// them again.
func BenchmarkDescribeInstances10000Paged(b *testing.B) {
	h := &Handlers{Store: &listStore{items: runningInstances(10000)}, Region: "koala-1", Now: time.Now}
	var describe action.Action
	for _, a := range h.Actions() {
		if a.Name == "DescribeInstances" {
			describe = a
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		token, pages := "", 0
		for {
			p := map[string]string{"MaxResults": "1000"}
			if token != "" {
				p["NextToken"] = token
			}
			call := &action.Call{Params: protocol.FromValues(p), Account: store.Account{ID: "123456789012", Namespace: "demo"}, RequestID: "r"}
			body, err := describe.Handle(context.Background(), call)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := protocol.Marshal("DescribeInstances", "r", body); err != nil {
				b.Fatal(err)
			}
			pages++
			token = body.(*describeInstancesResponse).NextToken
			if token == "" {
				break
			}
		}
		if pages != 10 {
			b.Fatalf("%d pages, want 10", pages)
		}
	}
}
