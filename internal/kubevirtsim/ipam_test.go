package kubevirtsim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	virtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/koala-dev/koala/internal/scheme"
)

func mustAllocator(t *testing.T, cidr string) *ipAllocator {
	t.Helper()
	a, err := newIPAllocator(netip.MustParsePrefix(cidr))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.loadOnce(func() (map[string]string, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestIPAllocatorRejectsPoolsItCannotServe(t *testing.T) {
	for name, cidr := range map[string]string{
		"an IPv6 network":            "fd00::/64",
		"a network smaller than /29": "10.0.0.0/30",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := newIPAllocator(netip.MustParsePrefix(cidr)); err == nil {
				t.Fatalf("%s accepted", cidr)
			}
		})
	}
}

func TestIPAllocatorGivesEachOwnerOneStableAddressSkippingNetworkGatewayAndBroadcast(t *testing.T) {
	a := mustAllocator(t, "10.1.2.0/29") // .2 .. .6 are handed out
	var got []string
	for i := range 5 {
		addr, err := a.Allocate(fmt.Sprintf("ns/vmi-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, addr.String())
	}
	want := []string{"10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	again, _ := a.Allocate("ns/vmi-0")
	if again.String() != "10.1.2.2" {
		t.Fatalf("a second allocation for the same owner gave %s", again)
	}
	if _, err := a.Allocate("ns/one-too-many"); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("allocation from a full pool: %v", err)
	}
}

func TestIPAllocatorHandsOutAReleasedAddressOnlyAfterTheOthers(t *testing.T) {
	a := mustAllocator(t, "10.1.2.0/29")
	for i := range 3 {
		_, _ = a.Allocate(fmt.Sprintf("o%d", i)) // .2 .3 .4
	}
	a.Release("o0")
	a.Release("o0") // twice is fine
	order := []string{}
	for i := 3; i < 6; i++ {
		addr, err := a.Allocate(fmt.Sprintf("o%d", i))
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, addr.String())
	}
	want := []string{"10.1.2.5", "10.1.2.6", "10.1.2.2"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", order, want)
	}
	if _, ok := a.Lookup("o0"); ok {
		t.Fatal("a released owner still has an address")
	}
}

func TestIPAllocatorNeverHandsOutAnAddressLoadedAsInUse(t *testing.T) {
	a, err := newIPAllocator(netip.MustParsePrefix("10.1.2.0/29"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	load := func() (map[string]string, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("cache not ready")
		}
		return map[string]string{
			"ns/a":      "10.1.2.2",
			"ns/b":      "10.1.2.4",
			"ns/dup":    "10.1.2.4",    // a duplicate is not loaded twice
			"ns/out":    "192.168.0.9", // outside the pool
			"ns/broken": "not-an-ip",
		}, nil
	}
	if err := a.loadOnce(load); err == nil {
		t.Fatal("a failed load was not reported")
	}
	if err := a.loadOnce(load); err != nil {
		t.Fatal(err)
	}
	if err := a.loadOnce(load); err != nil || calls != 2 {
		t.Fatalf("loaded %d times (err %v), want twice", calls, err)
	}
	if addr, _ := a.Lookup("ns/a"); addr.String() != "10.1.2.2" {
		t.Fatalf("ns/a has %v", addr)
	}
	got := map[string]bool{}
	for i := range 3 {
		addr, err := a.Allocate(fmt.Sprintf("new-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		got[addr.String()] = true
	}
	for _, used := range []string{"10.1.2.2", "10.1.2.4"} {
		if got[used] {
			t.Fatalf("%s was handed out again", used)
		}
	}
	if a.InUse() != 5 {
		t.Fatalf("%d addresses in use, want 5", a.InUse())
	}
}

func TestIPAllocatorGivesConcurrentOwnersDistinctAddresses(t *testing.T) {
	a := mustAllocator(t, "10.244.0.0/16")
	const n = 1000
	addrs := make([]netip.Addr, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			addr, err := a.Allocate(fmt.Sprintf("ns/vmi-%d", i))
			if err != nil {
				t.Error(err)
			}
			addrs[i] = addr
		})
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, addr := range addrs {
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
	}
}

func TestPodIPsInUseCountsLiveVMIsOnly(t *testing.T) {
	running := testVMI("ns", "running")
	running.Status = virtv1.VirtualMachineInstanceStatus{Phase: virtv1.Running, Interfaces: []virtv1.VirtualMachineInstanceNetworkInterface{{Name: "default", IP: "10.244.0.7"}}}
	stopping := testVMI("ns", "stopping")
	stopping.Status = virtv1.VirtualMachineInstanceStatus{Phase: virtv1.Running, Interfaces: []virtv1.VirtualMachineInstanceNetworkInterface{{Name: "default", IP: "10.244.0.8"}}}
	stopping.DeletionTimestamp = &metav1.Time{}
	stopping.Finalizers = []string{virtv1.VirtualMachineInstanceFinalizer}
	done := testVMI("ns", "done")
	done.Status = virtv1.VirtualMachineInstanceStatus{Phase: virtv1.Succeeded, Interfaces: []virtv1.VirtualMachineInstanceNetworkInterface{{Name: "default", IP: "10.244.0.9"}}}
	secondary := testVMI("ns", "secondary")
	secondary.Spec.Networks = []virtv1.Network{{Name: "lan", NetworkSource: virtv1.NetworkSource{Multus: &virtv1.MultusNetwork{NetworkName: "lan"}}}}
	secondary.Spec.Domain.Devices.Interfaces = []virtv1.Interface{{Name: "lan"}}
	secondary.Status = virtv1.VirtualMachineInstanceStatus{Phase: virtv1.Running, Interfaces: []virtv1.VirtualMachineInstanceNetworkInterface{{Name: "lan", IP: "192.168.1.5"}}}

	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(running, stopping, done, secondary).Build()
	s := &simulator{client: c}
	got, err := s.podIPsInUse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ns/running": "10.244.0.7", "ns/stopping": "10.244.0.8"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
